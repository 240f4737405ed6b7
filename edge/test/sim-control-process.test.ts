import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tempDir } from './support.js';

/**
 * The README's "try a lot without hardware", for real: `npm run edge -- --config …` (edge/main.ts
 * under tsx) on the example lot with simulated lanes, a car sent with POST /sim/arrive, request
 * logging on, then SIGTERM. The controller admits and records the car, logs each request with its
 * id, names every line's component once, and stops without a warning.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface LogLine {
  level: number;
  msg?: string;
  url?: string;
  reqId?: string;
  raw: string;
}

/** This environment without a broker (the lot runs offline-only), with request logging on. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_REQUESTS: 'true' };
  for (const key of Object.keys(env)) if (key.startsWith('MQTT_') || key.startsWith('EDGE_')) delete env[key];
  return env;
}

function startEdge(configPath: string): {
  child: ChildProcess;
  lines: LogLine[];
  url: Promise<string>;
  exited: Promise<number | null>;
} {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'edge/main.ts'), '--config', configPath],
    {
      cwd: ROOT,
      env: offlineEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: LogLine[] = [];
  let resolveUrl: (url: string) => void = () => {};
  const url = new Promise<string>((r) => {
    resolveUrl = r;
  });
  createInterface({ input: child.stdout! }).on('line', (raw) => {
    if (!raw.startsWith('{')) return; // the plain SIMULATED banner
    const line = { ...(JSON.parse(raw) as Omit<LogLine, 'raw'>), raw };
    lines.push(line);
    if (line.msg === 'attendant API listening' && line.url) resolveUrl(line.url);
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      if (code !== 0) process.stderr.write(stderr);
      r(code);
    }),
  );
  return { child, lines, url, exited };
}

t.test('npm run edge with simulated lanes: POST /sim/arrive admits and records a car', async (t) => {
  const tmp = tempDir('parkedge-simctl-');
  t.teardown(tmp.cleanup);
  const example = JSON.parse(readFileSync(join(ROOT, 'edge/lot.example.json'), 'utf8'));
  const fast = { timing: { driveupAfterMs: 300 }, sim: { armTravelMs: 200 } };
  const config = {
    ...example,
    dbPath: join(tmp.dir, 'edge.sqlite'),
    attendant: { ...example.attendant, port: 0 },
    lanes: example.lanes.map((lane: object) => ({ ...lane, ...fast })),
  };
  const configPath = join(tmp.dir, 'lot.json');
  writeFileSync(configPath, JSON.stringify(config));

  const edge = startEdge(configPath);
  t.teardown(() => {
    if (edge.child.exitCode === null) edge.child.kill('SIGKILL');
  });
  const base = await edge.url;

  const list = await fetch(`${base}/sim`);
  t.equal(list.status, 200);
  t.same(
    (await list.json()).lanes.map((l: { laneId: string }) => l.laneId),
    ['entry-1', 'exit-1'],
  );

  const arrive = await fetch(`${base}/sim/arrive`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'try-1' },
    body: JSON.stringify({ laneId: 'entry-1', plate: 'XY-99-ZZ', confidence: 0.95 }),
  });
  t.equal(arrive.status, 200);
  const body = await arrive.json();
  t.equal(arrive.headers.get('x-request-id'), 'try-1', 'the reply carries the request id');
  t.equal(body.admitted, true, 'the drive-up was admitted and drove through');
  t.match(
    body.lane,
    { loops: { presence: false, safety: false }, busy: false },
    'the car has left the loops',
  );

  const refused = await fetch(`${base}/sim/fault`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ laneId: 'entry-9', device: 'camera', fault: 'disconnect' }),
  });
  t.equal(refused.status, 404);

  const stopFrom = edge.lines.length;
  edge.child.kill('SIGTERM');
  t.equal(await edge.exited, 0, 'SIGTERM: a clean exit');

  // The passage is in the database the controller left behind.
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(config.dbPath, { readonly: true });
  t.teardown(() => db.close());
  const sessions = db.prepare('SELECT plate FROM sessions').all() as { plate: string | null }[];
  t.same(
    sessions.map((s) => s.plate),
    ['XY99ZZ'],
    'the session is recorded',
  );

  const requestLines = edge.lines.filter((l) => l.reqId === 'try-1');
  t.ok(
    requestLines.some((l) => l.msg === 'request completed'),
    'LOG_REQUESTS: the request is logged with its id',
  );
  const doubled = edge.lines.filter((l) => l.raw.split('"component":').length > 2);
  t.same(
    doubled.map((l) => l.raw),
    [],
    'every line names its component once',
  );
  const stopWarnings = edge.lines.slice(stopFrom).filter((l) => l.level >= 40);
  t.same(
    stopWarnings.map((l) => l.raw),
    [],
    'the stop logs no warning',
  );
});
