import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { freePortBase } from './ports.js';

/**
 * `npm start` as a good citizen: run through npm itself (its `sh -c`, its signal forwarding) in a
 * process group of its own, as a terminal runs it. Ctrl-C reaches the whole group; a supervisor or
 * `kill` reaches npm's pid only. Either way the demo stops in order, npm exits 0 and no process of the
 * group is left. Also: a car sent through the demo control prints its line like generated traffic.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const READY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 20_000;

async function until(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** True while any process of the group is alive (signal 0 only checks). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

interface Demo {
  npm: ChildProcess;
  pid: number;
  output(): string;
  tail(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npm start` in its own process group (detached), on a fresh data folder, ready to use. */
async function startDemo(t: Test): Promise<Demo> {
  const data = await mkdtemp(join(tmpdir(), 'parkedge-signals-'));
  const base = await freePortBase(10_000, 9_000);
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  delete env.DATABASE_URL;
  delete env.MQTT_URL;
  // The npm that runs this test when there is one, on this very node; else the one on PATH.
  const npmCli = process.env.npm_execpath;
  const [command, prefix] = npmCli?.endsWith('.js') ? [process.execPath, [npmCli]] : ['npm', [] as string[]];
  const args = ['start', '--', '--data', data, '--reset', '--port-base', String(base), '--no-traffic'];
  const npm = spawn(command, [...prefix, ...args], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = npm.pid;
  if (pid === undefined) throw new Error('npm did not start');
  let out = '';
  let err = '';
  npm.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  npm.stderr!.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    npm.once('exit', (code, signal) => {
      done = true;
      r({ code, signal });
    }),
  );
  const tail = () => `\n--- stdout ---\n${out.slice(-3000)}\n--- stderr ---\n${err.slice(-3000)}`;
  t.teardown(async () => {
    if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
    await exited;
    await rm(data, { recursive: true, force: true });
  });
  await until('the "Ready." line', READY_TIMEOUT_MS, () => {
    if (done) throw new Error(`npm start exited early${tail()}`);
    return /^Ready\.$/m.test(out);
  }).catch((e: Error) => {
    throw new Error(`${e.message}${tail()}`);
  });
  return { npm, pid, output: () => out, tail, exited };
}

/** Waits for npm to exit and for every process of its group to be gone. */
async function stopped(t: Test, demo: Demo, what: string): Promise<void> {
  const timeout = new Promise<never>((_, rej) =>
    setTimeout(
      () => rej(new Error(`npm did not exit ${EXIT_TIMEOUT_MS} ms after ${what}${demo.tail()}`)),
      EXIT_TIMEOUT_MS,
    ).unref(),
  );
  const exit = await Promise.race([demo.exited, timeout]);
  t.same(exit, { code: 0, signal: null }, `npm exits 0 after ${what}`);
  await until('the process group to empty', 5_000, () => !groupAlive(demo.pid)).catch((e: Error) => {
    throw new Error(`${e.message}${demo.tail()}`);
  });
  t.pass('no process of the group is left');
  t.match(demo.output(), /stopped cleanly/, 'the demo stopped cleanly');
}

t.test('Ctrl-C to the process group: the demo stops, npm exits 0, nothing is left', async (t) => {
  const demo = await startDemo(t);

  // A car sent through the demo control prints its line, like generated traffic.
  const controlUrl = /Demo control\s+(http:\/\/\S+)/.exec(demo.output())?.[1];
  if (!controlUrl) throw new Error(`no demo control URL${demo.tail()}`);
  const plate = `SG${String(Date.now()).slice(-5)}`;
  const res = await fetch(`${controlUrl}/demo/arrive`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ lotId: 'lot-riverside', plate }),
    signal: AbortSignal.timeout(30_000),
  });
  t.equal(res.status, 200, 'the control endpoint drove the car up');
  const arrival = (await res.json()) as { admitted: boolean };
  const line = new RegExp(
    `^\\d\\d:\\d\\d:\\d\\d \\[lot-riverside\\] ${plate} \\(control\\) (entered|turned away)`,
    'm',
  );
  await until('the arrival line', 5_000, () => line.test(demo.output())).catch((e: Error) => {
    throw new Error(`${e.message}${demo.tail()}`);
  });
  t.match(demo.output(), line, `prints the arrival (admitted: ${arrival.admitted})`);

  process.kill(-demo.pid, 'SIGINT');
  await stopped(t, demo, 'SIGINT to the group');
  t.match(demo.output(), /SIGINT: stopping/, 'stopped once, on SIGINT');
  t.equal(
    demo.output().match(/: stopping traffic/g)?.length,
    1,
    'one shutdown, though npm forwards the signal too',
  );
});

t.test("SIGTERM to npm's pid only: npm forwards it, the demo stops, npm exits 0", async (t) => {
  const demo = await startDemo(t);
  process.kill(demo.pid, 'SIGTERM');
  await stopped(t, demo, 'SIGTERM to npm');
  t.match(demo.output(), /SIGTERM: stopping/, 'the demo got the SIGTERM');
});
