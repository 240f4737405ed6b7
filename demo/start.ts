import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { startControlServer } from './control.js';
import { DEMO_CLOUD_ACCOUNTS, DEMO_LOTS } from './lots.js';
import { type DemoSystem, startSystem } from './system.js';
import type { TrafficEvent } from './traffic.js';

/**
 * `npm start`: the whole parkedge system in one process tree on a bare machine — cloud (PGlite unless
 * DATABASE_URL), MQTT broker (aedes unless MQTT_URL), two demo lots on simulated hardware, seeded
 * accounts and live traffic. Component logs go to <data>/demo.log; this terminal shows progress, the
 * URLs and logins, link changes and the traffic. Keys (on a terminal): c / v cut or restore the link
 * of the first / second lot, q quits. Ctrl-C (SIGINT) or SIGTERM stops everything cleanly, exit 0.
 */

const MARKER = '.parkedge-demo';
/** What parkedge itself keeps in a data folder (cloud secrets and database, lot databases, demo log). */
const PARKEDGE_DATA =
  /^(cloud|cloud-pg|demo\.log|edge-[A-Za-z0-9_-]+\.(sqlite(-wal|-shm|-journal)?|jwt-secret))$/;
const started = Date.now();

function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
    return n;
  };
}

const program = new Command()
  .name('npm start --')
  .description(
    'Run the whole parkedge system locally: cloud, broker, two lots on simulated hardware, traffic.',
  )
  .option(
    '--port-base <port>',
    'cloud API on this port, lot UIs on the next ones, then broker and demo control',
    intOption('--port-base', 1024, 65_000),
    3000,
  )
  .option('--data <dir>', 'where the demo keeps its data', './data')
  .option('--reset', 'delete the data folder first and start clean', false)
  .option('--seed <n>', 'seed of the traffic generator', intOption('--seed', 0, 2 ** 31 - 1), 1)
  .option('--no-traffic', 'do not generate traffic (drive cars through the control endpoint instead)')
  .option('--quiet', 'do not print every vehicle', false)
  .option('--log-level <level>', 'component log level in <data>/demo.log', 'info')
  .showHelpAfterError();
program.parse();
const opts = program.opts<{
  portBase: number;
  data: string;
  reset: boolean;
  seed: number;
  traffic: boolean;
  quiet: boolean;
  logLevel: string;
}>();

const out = (line = '') => process.stdout.write(`${line}\n`);
const clock = () => new Date().toTimeString().slice(0, 8);
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;

async function prepareDataDir(dir: string, reset: boolean): Promise<void> {
  if (reset && existsSync(dir)) {
    const entries = await readdir(dir);
    // Only ever delete a folder the demo made, or one holding nothing but parkedge's own data
    // (`npm run cloud` / `npm run edge` use ./data too): --data could point anywhere.
    const ours = (name: string) => name === MARKER || PARKEDGE_DATA.test(name);
    if (!entries.includes(MARKER) && !entries.every(ours)) {
      throw new UsageError(
        `--reset refuses to delete ${dir}: it holds files the demo did not make (${entries
          .filter((e) => !ours(e))
          .slice(0, 3)
          .join(', ')})`,
      );
    }
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, MARKER), 'parkedge demo data; `npm start -- --reset` deletes this folder\n');
}

/** A problem the user can fix (ports, data folder): reported without a stack trace. */
class UsageError extends Error {}

/** The ports the demo will listen on, checked before the slow start-up so a clash fails at once. */
async function checkPorts(base: number, count: number): Promise<void> {
  const busy: number[] = [];
  for (let port = base; port < base + count; port++) {
    const free = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (!free) busy.push(port);
  }
  if (busy.length > 0) {
    throw new UsageError(
      `port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} already in use; choose other ports with --port-base`,
    );
  }
}

function trafficLine(e: TrafficEvent): string | null {
  const who = `${e.plate} (${e.kind})`;
  switch (e.what) {
    case 'admitted':
      return `${who} entered`;
    case 'left':
      return `${who} left${e.detail ? ` — "${e.detail}"` : ''}`;
    case 'refused':
      return `${who} turned away — "${e.detail ?? ''}"`;
    case 'stuck':
      return `${who} could not leave — "${e.detail ?? ''}" (attendant needed)`;
    case 'booking-failed':
      return `${who} could not book: ${e.detail ?? ''}`;
    default:
      return null;
  }
}

// ---- shutdown: SIGINT / SIGTERM / q, at any time (also while starting) ----------------------------
let system: DemoSystem | null = null;
let closeControl: (() => Promise<void>) | null = null;
let starting = true;
let stopRequested: string | null = null;
let stopping = false;
let restoreTerminal: () => void = () => {};

async function shutdown(why: string): Promise<void> {
  if (starting) {
    // startSystem is mid-way; stop as soon as it returns (or fails, which unwinds by itself).
    if (!stopRequested) out(`${clock()} ${why}: will stop once start-up reaches a safe point…`);
    stopRequested = why;
    return;
  }
  if (stopping) return;
  stopping = true;
  out();
  out(`${clock()} ${why}: stopping traffic, lanes (arms down), lots, sync, broker, cloud…`);
  const force = setTimeout(() => {
    out('shutdown took longer than 20 s; exiting');
    process.exit(1);
  }, 20_000);
  force.unref();
  restoreTerminal();
  try {
    await closeControl?.();
    await system?.stop();
    out(`${clock()} stopped cleanly`);
    process.exit(0);
  } catch (err) {
    out(`${clock()} stop failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

async function main(): Promise<void> {
  const dataDir = resolve(opts.data);
  out('parkedge demo — starting');
  // cloud, one UI per lot, broker (unless MQTT_URL), demo control
  await checkPorts(opts.portBase, DEMO_LOTS.length + 3);
  await prepareDataDir(dataDir, opts.reset);
  out(`[${elapsed()}] data folder ${dataDir}${opts.reset ? ' (reset)' : ''}`);
  if (opts.reset && process.env.DATABASE_URL)
    out(`[${elapsed()}] note: --reset does not clear the DATABASE_URL database`);

  let ready = false;
  system = await startSystem({
    dataDir,
    portBase: opts.portBase,
    lots: DEMO_LOTS,
    traffic: opts.traffic,
    seed: opts.seed,
    logLevel: opts.logLevel,
    onProgress: (m) => out(`[${elapsed()}] ${m}`),
    onConnectivity: (lotId, state, since) => {
      if (ready && !stopping)
        out(`${clock()} [${lotId}] link ${state} (since ${new Date(since).toTimeString().slice(0, 8)})`);
    },
    onTraffic: (e) => {
      if (!ready || opts.quiet) return;
      const line = trafficLine(e);
      if (line) out(`${clock()} [${e.lotId}] ${line}`);
    },
  });

  const controlPort = opts.portBase + DEMO_LOTS.length + 2;
  const control = await startControlServer(system, controlPort);
  closeControl = () => control.server.close();
  starting = false;
  if (stopRequested) return shutdown(stopRequested);

  // Give the lots a moment to connect so the summary shows the real link state (never a guess).
  if (system.cloudSync) {
    const deadline = Date.now() + 8_000;
    const lotsNow = [...system.lots.values()];
    while (
      Date.now() < deadline &&
      !stopping &&
      lotsNow.some((l) => l.edge.connectivity.state !== 'online')
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const lots = [...system.lots.values()];
  const pad = (s: string, n: number) => s.padEnd(n);
  const nameWidth = Math.max(...lots.map((l) => l.def.name.length));
  out();
  out(`parkedge demo is running (started in ${elapsed().trim()})`);
  out();
  out(`  Cloud API        ${system.cloudUrl}`);
  out(`  API docs         ${system.docsUrl}`);
  for (const [i, l] of lots.entries()) {
    const link = l.edge.connectivity.state;
    out(
      `  ${i === 0 ? 'Attendant UIs' : ''.padEnd(13)}    ${pad(l.def.id, 14)} ${pad(l.def.name, nameWidth)}  ${l.uiUrl}  login: ${l.def.attendant.username} / ${l.def.attendant.password}  [link ${link}]`,
    );
  }
  out(
    `  Cloud logins     admin     ${DEMO_CLOUD_ACCOUNTS.admin.email} / ${DEMO_CLOUD_ACCOUNTS.admin.password}`,
  );
  out(
    `                   operator  ${DEMO_CLOUD_ACCOUNTS.operator.email} / ${DEMO_CLOUD_ACCOUNTS.operator.password}`,
  );
  out(
    `                   driver    ${DEMO_CLOUD_ACCOUNTS.driver.email} / ${DEMO_CLOUD_ACCOUNTS.driver.password}`,
  );
  out(
    `  Database         ${system.database === 'pglite' ? `PGlite in ${join(dataDir, 'cloud-pg')}` : 'PostgreSQL (DATABASE_URL)'}`,
  );
  out(
    `  Broker           ${system.broker.url} (${system.broker.kind === 'embedded' ? 'embedded aedes' : 'MQTT_URL'})`,
  );
  out(
    `  Demo control     ${control.url}   GET /demo/status · POST /demo/link/:lotId {"up":false} · POST /demo/arrive {"lotId","plate"}`,
  );
  out(`  Logs             ${system.logFile ?? '(given logger)'}`);
  if (!system.cloudSync)
    out('  WARNING          the cloud sync engine is not running: the lots work offline only');
  const keys = process.stdin.isTTY;
  if (keys) {
    out(
      `  Keys             c: cut/restore ${lots[0]?.def.name ?? 'lot 1'}'s link · v: ${lots[1]?.def.name ?? 'lot 2'}'s · q or Ctrl-C: quit`,
    );
  } else {
    out('  Stop             Ctrl-C (SIGINT); cut a link with POST /demo/link/:lotId');
  }
  out(`  Traffic          ${opts.traffic ? `on (seed ${opts.seed})` : 'off (--no-traffic)'}`);
  out();
  out('Ready.');
  ready = true;

  // ---- keys ---------------------------------------------------------------------------------
  const toggle = (index: number) => {
    const lot = lots[index];
    if (!lot) return;
    const up = lot.link.toggle();
    out(
      `${clock()} [${lot.def.id}] link ${up ? 'RESTORED' : 'CUT'} by key — the lot's controller will report what it sees`,
    );
  };
  if (keys) {
    restoreTerminal = () => {
      process.stdin.setRawMode(false);
      process.stdin.pause();
    };
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (key: string) => {
      if (key === '\u0003' || key === 'q') void shutdown('Ctrl-C');
      else if (key === 'c' || key === '1') toggle(0);
      else if (key === 'v' || key === '2') toggle(1);
    });
    process.stdin.resume();
  }
}

main().catch((err: unknown) => {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof UsageError) {
    process.stderr.write(`\nnpm start: ${err.message}\n`);
  } else if (e?.code === 'EADDRINUSE') {
    process.stderr.write(
      `\nnpm start failed: ${e.message}. Another program uses that port; try --port-base <other>.\n`,
    );
  } else {
    process.stderr.write(`\nnpm start failed: ${e?.stack ?? String(err)}\n`);
  }
  // A stop requested during start-up ends here too: startSystem unwound what it had started.
  process.exit(stopRequested ? 0 : 1);
});
