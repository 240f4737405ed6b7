import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Logger } from '../protocol/logger.js';
import { type ControlArrival, startControlServer } from './control.js';
import { DEMO_CLOUD_ACCOUNTS, DEMO_LOTS } from './lots.js';
import { type DemoLotRuntime, type DemoSystem, startSystem } from './system.js';
import type { TrafficEvent } from './traffic.js';

/**
 * `npm start`: the whole parkedge system in one process tree on a bare machine — cloud (PGlite unless
 * DATABASE_URL), MQTT broker (aedes unless MQTT_URL), two demo lots on simulated hardware, seeded
 * accounts and live traffic. Component logs go to <data>/demo.log; this terminal shows progress, the
 * URLs and logins, link changes and the traffic. Keys (on a terminal): c / v cut or restore the link
 * of the first / second lot, q quits. SIGINT (Ctrl-C), SIGTERM or SIGHUP stops everything cleanly,
 * exit 0. `npm start` runs `exec node --import tsx demo/start.ts`: npm's `sh -c` is replaced by this
 * process, so a Ctrl-C to the whole process group reaches only npm (which forwards it) and us, and npm
 * exits with our code instead of dying with the shell.
 */

const MARKER = '.parkedge-demo';
/** What parkedge itself keeps in a data folder (cloud secrets and database, lot databases, demo log). */
const PARKEDGE_DATA =
  /^(cloud|cloud-pg|demo\.log|edge-[A-Za-z0-9_-]+\.(sqlite(-wal|-shm|-journal)?|jwt-secret))$/;
/** A stop that hangs (a stuck socket) must not keep the terminal forever. */
const FORCE_EXIT_MS = 20_000;
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

interface DemoOptions {
  portBase: number;
  data: string;
  reset: boolean;
  seed: number;
  traffic: boolean;
  quiet: boolean;
  logLevel: string;
}

/** A problem the user can fix (ports, data folder): reported without a stack trace. */
class UsageError extends Error {}

function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
    return n;
  };
}

function parseOptions(argv: readonly string[]): DemoOptions {
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
  program.parse([...argv]);
  return program.opts<DemoOptions>();
}

// ---- the terminal ---------------------------------------------------------------------------------

/** What the user sees: plain lines, lines stamped with the time of day, progress with the seconds since start. */
interface Terminal {
  /** Where to report that the terminal went away (the component log, once the system runs). */
  useLogger(logger: Logger): void;
  line(text?: string): void;
  stamped(text: string): void;
  progress(text: string): void;
  elapsed(): string;
}

function createTerminal(startedAt: number): Terminal {
  let open = true;
  let logger: Logger | null = null;
  // After a hang-up the terminal is gone: stop printing, but keep shutting down cleanly.
  process.stdout.on('error', (err) => {
    open = false;
    logger?.warn({ err }, 'the terminal went away; printing stops');
  });
  const line = (text = '') => {
    if (open) process.stdout.write(`${text}\n`);
  };
  const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)}s`;
  return {
    useLogger: (l) => {
      logger = l;
    },
    line,
    elapsed,
    stamped: (text) => line(`${timeOfDay(Date.now())} ${text}`),
    progress: (text) => line(`[${elapsed()}] ${text}`),
  };
}

function timeOfDay(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

/** A vehicle's line, the same for generated traffic and cars sent through the demo control. */
function vehicleLine(e: Pick<TrafficEvent, 'plate' | 'what' | 'detail'> & { kind: string }): string | null {
  const who = `${e.plate} (${e.kind})`;
  switch (e.what) {
    case 'admitted':
      return `${who} entered`;
    case 'left':
      return `${who} left${e.detail ? ` — "${e.detail}"` : ''}`;
    case 'refused':
      return `${who} turned away — "${e.detail ?? ''}"`;
    case 'paid':
      return `${who} paid ${e.detail ?? ''} at the exit`;
    case 'stuck':
      return `${who} could not leave — "${e.detail ?? ''}" (attendant needed)`;
    case 'validated':
      return `${who} validated — ${e.detail ?? ''}`;
    case 'booking-failed':
      return `${who} could not book: ${e.detail ?? ''}`;
    default:
      return null;
  }
}

function arrivalLine(a: ControlArrival): string | null {
  const what = a.lane === 'entry' ? (a.admitted ? 'admitted' : 'refused') : a.admitted ? 'left' : 'stuck';
  return vehicleLine({ plate: a.plate, kind: 'control', what, detail: a.display.join(' / ') });
}

// ---- start-up checks ------------------------------------------------------------------------------

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

// ---- shutdown: a signal or q, at any time (also while starting) -------------------------------------

interface Shutdown {
  /** Stop now, or as soon as start-up reaches a safe point. Only the first request counts. */
  request(why: string): void;
  /** Start-up is done; `stop` stops everything in order. Carries out a request made meanwhile. */
  ready(stop: () => Promise<void>): void;
  /** Runs first when stopping (gives the terminal back). */
  beforeStop(fn: () => void): void;
  readonly requested: boolean;
  readonly stopping: boolean;
}

function createShutdown(o: { terminal: Terminal; exit: (code: number) => never }): Shutdown {
  const { terminal } = o;
  let reason: string | null = null;
  let stopAll: (() => Promise<void>) | null = null;
  let stopping = false;
  const hooks: Array<() => void> = [];

  const run = async (why: string, stop: () => Promise<void>): Promise<void> => {
    stopping = true;
    terminal.line();
    terminal.stamped(`${why}: stopping traffic, lanes (arms down), lots, sync, broker, cloud…`);
    const force = setTimeout(() => {
      terminal.line(`shutdown took longer than ${FORCE_EXIT_MS / 1000} s; exiting`);
      o.exit(1);
    }, FORCE_EXIT_MS);
    force.unref();
    for (const hook of hooks) hook();
    try {
      await stop();
      terminal.stamped('stopped cleanly');
      o.exit(0);
    } catch (err) {
      terminal.stamped(`stop failed: ${(err as Error).message}`);
      o.exit(1);
    }
  };

  return {
    get requested() {
      return reason !== null;
    },
    get stopping() {
      return stopping;
    },
    beforeStop: (fn) => hooks.push(fn),
    request(why) {
      // npm forwards the Ctrl-C it got to us as well: the same stop, not a second one.
      if (reason !== null) return;
      reason = why;
      if (stopAll) void run(why, stopAll);
      else terminal.stamped(`${why}: will stop once start-up reaches a safe point…`);
    },
    ready(stop) {
      stopAll = stop;
      if (reason !== null) void run(reason, stop);
    },
  };
}

// ---- running ----------------------------------------------------------------------------------------

/** Give the lots a moment to connect so the summary shows the real link state (never a guess). */
async function waitForLinks(system: DemoSystem, shutdown: Shutdown): Promise<void> {
  if (!system.cloudSync) return;
  const deadline = Date.now() + 8_000;
  const lots = [...system.lots.values()];
  while (
    Date.now() < deadline &&
    !shutdown.stopping &&
    lots.some((l) => l.edge.connectivity.state !== 'online')
  ) {
    await new Promise((r) => setTimeout(r, 100));
  }
}

function printSummary(
  terminal: Terminal,
  s: { system: DemoSystem; opts: DemoOptions; dataDir: string; controlUrl: string; keys: boolean },
): void {
  const { system, opts } = s;
  const out = terminal.line;
  const lots = [...system.lots.values()];
  const nameWidth = Math.max(...lots.map((l) => l.def.name.length));
  const { admin, operator, driver } = DEMO_CLOUD_ACCOUNTS;
  out();
  out(`parkedge demo is running (started in ${terminal.elapsed().trim()})`);
  out();
  out(`  Cloud API        ${system.cloudUrl}`);
  out(`  API docs         ${system.docsUrl}`);
  out(`  Operator console ${system.cloudUrl}/console/   (log in as the admin or the operator below)`);
  out(`  Sent email       ${system.mailUrl}`);
  for (const [i, l] of lots.entries()) {
    out(
      `  ${i === 0 ? 'Attendant UIs' : ''.padEnd(13)}    ${l.def.id.padEnd(14)} ${l.def.name.padEnd(nameWidth)}  ${l.uiUrl}  login: ${l.def.attendant.username} / ${l.def.attendant.password}  [link ${l.edge.connectivity.state}]`,
    );
  }
  out(
    `  Pay pages        ${lots.map((l) => `${system.cloudUrl}/pay/${l.def.id}`).join(' · ')}   (exit fees by plate)`,
  );
  out(`  Cloud logins     admin     ${admin.email} / ${admin.password}`);
  out(`                   operator  ${operator.email} / ${operator.password}`);
  out(`                   driver    ${driver.email} / ${driver.password}`);
  out(
    `  Database         ${system.database === 'pglite' ? `PGlite in ${join(s.dataDir, 'cloud-pg')}` : 'PostgreSQL (DATABASE_URL)'}`,
  );
  out(
    `  Broker           ${system.broker.url} (${system.broker.kind === 'embedded' ? 'embedded aedes' : 'MQTT_URL'})`,
  );
  out(
    `  Demo control     ${s.controlUrl}   GET /demo/status · POST /demo/link/:lotId {"up":false} · POST /demo/arrive {"lotId","plate"}`,
  );
  out(`  Logs             ${system.logFile ?? '(given logger)'}`);
  if (!system.cloudSync)
    out('  WARNING          the cloud sync engine is not running: the lots work offline only');
  if (s.keys) {
    out(
      `  Keys             c: cut/restore ${lots[0]?.def.name ?? 'lot 1'}'s link · v: ${lots[1]?.def.name ?? 'lot 2'}'s · q or Ctrl-C: quit`,
    );
  } else {
    out('  Stop             Ctrl-C (SIGINT); cut a link with POST /demo/link/:lotId');
  }
  out(`  Traffic          ${opts.traffic ? `on (seed ${opts.seed})` : 'off (--no-traffic)'}`);
  out();
  out('Ready.');
}

/** c / v cut or restore a lot's link, q (or Ctrl-C in raw mode) quits. */
function listenForKeys(o: {
  lots: readonly DemoLotRuntime[];
  terminal: Terminal;
  shutdown: Shutdown;
  logger: Logger;
}): void {
  const toggle = (index: number) => {
    const lot = o.lots[index];
    if (!lot) return;
    const up = lot.link.toggle();
    o.terminal.stamped(
      `[${lot.def.id}] link ${up ? 'RESTORED' : 'CUT'} by key — the lot's controller will report what it sees`,
    );
  };
  o.shutdown.beforeStop(() => {
    try {
      process.stdin.setRawMode(false);
      process.stdin.pause();
    } catch (err) {
      // After a hang-up there is no terminal left to restore.
      o.logger.warn({ err }, 'could not restore the terminal');
    }
  });
  process.stdin.setRawMode(true);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (key: string) => {
    if (key === '\u0003' || key === 'q') o.shutdown.request('Ctrl-C');
    else if (key === 'c' || key === '1') toggle(0);
    else if (key === 'v' || key === '2') toggle(1);
  });
  process.stdin.resume();
}

async function run(opts: DemoOptions, terminal: Terminal, shutdown: Shutdown): Promise<void> {
  const dataDir = resolve(opts.data);
  terminal.line('parkedge demo — starting');
  // cloud, one UI per lot, broker (unless MQTT_URL), demo control
  await checkPorts(opts.portBase, DEMO_LOTS.length + 3);
  await prepareDataDir(dataDir, opts.reset);
  terminal.progress(`data folder ${dataDir}${opts.reset ? ' (reset)' : ''}`);
  if (opts.reset && process.env.DATABASE_URL)
    terminal.progress('note: --reset does not clear the DATABASE_URL database');

  let ready = false;
  const printVehicle = (lotId: string, line: string | null) => {
    if (ready && !opts.quiet && !shutdown.stopping && line) terminal.stamped(`[${lotId}] ${line}`);
  };
  const system = await startSystem({
    dataDir,
    portBase: opts.portBase,
    lots: DEMO_LOTS,
    traffic: opts.traffic,
    seed: opts.seed,
    logLevel: opts.logLevel,
    onProgress: (m) => terminal.progress(m),
    onConnectivity: (lotId, state, since) => {
      if (ready && !shutdown.stopping)
        terminal.stamped(`[${lotId}] link ${state} (since ${timeOfDay(Date.parse(since))})`);
    },
    onTraffic: (e) => printVehicle(e.lotId, vehicleLine(e)),
  });
  terminal.useLogger(system.logger);

  const control = await startControlServer({
    system,
    port: opts.portBase + DEMO_LOTS.length + 2,
    onArrival: (a) => printVehicle(a.lotId, arrivalLine(a)),
  }).catch(async (err: unknown) => {
    await system.stop();
    throw err;
  });
  shutdown.ready(async () => {
    await control.server.close();
    await system.stop();
  });
  if (shutdown.requested) return;

  await waitForLinks(system, shutdown);
  const keys = process.stdin.isTTY === true;
  printSummary(terminal, { system, opts, dataDir, controlUrl: control.url, keys });
  ready = true;
  if (keys) listenForKeys({ lots: [...system.lots.values()], terminal, shutdown, logger: system.logger });
}

function reportFailure(err: unknown): void {
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
}

/** The composition root: options, terminal, shutdown and signals, then the system. */
async function main(): Promise<void> {
  const opts = parseOptions(process.argv);
  const terminal = createTerminal(Date.now());
  const shutdown = createShutdown({ terminal, exit: (code) => process.exit(code) });
  for (const signal of STOP_SIGNALS) process.on(signal, () => shutdown.request(signal));
  try {
    await run(opts, terminal, shutdown);
  } catch (err) {
    reportFailure(err);
    // A stop requested during start-up ends here too: startSystem unwound what it had started.
    process.exit(shutdown.requested ? 0 : 1);
  }
}

void main();
