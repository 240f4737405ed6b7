import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildEdge } from '../build.js';
import { EDGE_ASSETS } from '../paths.js';
import { tempDir } from './support.js';

/**
 * The production bundle (edge/build.ts) runs on plain node from a folder that has nothing of the
 * repository but `node_modules` — the container image's layout — with the default (example) lot,
 * simulated lanes and a temp database: it serves /health and the UI, and stops cleanly on SIGTERM.
 */

const NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));

interface LogLine {
  msg?: string;
  url?: string;
  config?: string;
  level?: number;
}

function startBundle(file: string, cwd: string, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, EDGE_LOG_LEVEL: 'info' };
  for (const name of Object.keys(env))
    if (/^(EDGE_|MQTT_)/.test(name) && name !== 'EDGE_LOG_LEVEL') delete env[name];
  const child = spawn(process.execPath, ['--enable-source-maps', file, ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let stderr = '';
  let pending = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        lines.push({ msg: part });
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const logged = (msg: string, timeoutMs = 30_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const line = lines.find((l) => l.msg === msg);
        if (line) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(line);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no "${msg}" within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      waiters.add(check);
      void exited.then(() => {
        if (!waiters.has(check)) return;
        waiters.delete(check);
        clearTimeout(timer);
        reject(new Error(`exited before "${msg}"; stderr: ${stderr}`));
      });
      check();
    });
  return { child, lines, logged, exited, stderr: () => stderr };
}

t.test('the bundle runs on node: example lot, sim lanes, /health, UI, SIGTERM → 0', async (t) => {
  const tmp = tempDir('parkedge-build-');
  let child: ChildProcess | null = null;
  t.teardown(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    tmp.cleanup();
  });
  // The image's layout: the bundle in dist/, packages in node_modules beside it, no sources.
  symlinkSync(NODE_MODULES, join(tmp.dir, 'node_modules'), 'dir');
  const built = await buildEdge({ outDir: join(tmp.dir, 'dist') });
  t.equal(built.file, join(tmp.dir, 'dist', 'edge.mjs'));
  t.ok(existsSync(built.sourceMap), 'source map');
  for (const asset of EDGE_ASSETS) t.ok(existsSync(join(built.outDir, asset)), `${asset} copied`);
  t.ok(existsSync(join(built.outDir, 'store/migrations/001_init.sql')));
  t.ok(built.chunks.length > 0, 'dynamic imports stay lazy, in chunks');
  for (const file of [built.file, ...built.chunks.map((c) => join(built.outDir, c))]) {
    const code = readFileSync(file, 'utf8');
    t.notMatch(code, /from ["']tsx|import\(["']tsx/, `${file}: tsx is not on the runtime path`);
    for (const m of code.matchAll(/(?:from|import\()\s*["'](\.[^"']+)["']/g)) {
      t.match(m[1], /^\.\/chunk-[A-Z0-9]{8}\.mjs$/, `${file}: relative imports are chunks only`);
      t.ok(existsSync(join(built.outDir, m[1]!)), `${m[1]} exists`);
    }
  }

  const run = startBundle(built.file, tmp.dir, [
    '--db',
    join(tmp.dir, 'data', 'edge.sqlite'),
    '--host',
    '127.0.0.1',
    '--port',
    '0',
  ]);
  child = run.child;
  const starting = await run.logged('starting edge');
  t.equal(
    starting.config,
    join(built.outDir, 'lot.example.json'),
    'the default lot is found beside the bundle',
  );
  const { url } = await run.logged('attendant API listening');
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.ok(
    run.lines.some((l) => /^WARNING: lanes entry-1, exit-1 of lot lot-demo are SIMULATED/.test(l.msg ?? '')),
    'simulated lanes announced on stdout (the example lot is all sim)',
  );

  const health = await fetch(`${url}/health`);
  t.equal(health.status, 200);
  t.match(await health.json(), {
    status: 'ok',
    lotId: 'lot-demo',
    lanes: [
      { id: 'entry-1', state: 'IDLE' },
      { id: 'exit-1', state: 'IDLE' },
    ],
  });
  const page = await fetch(`${url}/`);
  t.equal(page.status, 200, 'the attendant UI is served from the copied assets');
  t.match(await page.text(), /id="lot-name"/);
  t.equal((await fetch(`${url}/app.js`)).status, 200);
  const login = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'attendant', password: 'parkedge-demo' }),
  });
  t.equal(login.status, 200, 'argon2 (a native package) loads from node_modules');
  t.match(await login.json(), { lotId: 'lot-demo', lotName: 'Demo Car Park' });

  child.kill('SIGTERM');
  const exit = await run.exited;
  t.same(exit, { code: 0, signal: null }, 'SIGTERM → exit 0');
  t.ok(
    run.lines.some((l) => l.msg === 'edge stopped'),
    'stopped through the orderly shutdown',
  );
  t.notOk(
    run.lines.some((l) => (l.level ?? 0) >= 50),
    'nothing logged at error level',
  );
  t.equal(run.stderr(), '');
});

t.test('a rebuild replaces what the build writes and leaves nothing stale', async (t) => {
  const tmp = tempDir('parkedge-build-');
  t.teardown(tmp.cleanup);
  const outDir = join(tmp.dir, 'dist');
  const first = await buildEdge({ outDir });
  const stale = ['chunk-AAAAAAAA.mjs', 'chunk-AAAAAAAA.mjs.map', 'store/migrations/999_gone.sql'];
  for (const f of stale) writeFileSync(join(outDir, f), '');
  writeFileSync(join(outDir, 'notes.txt'), 'not ours');
  const second = await buildEdge({ outDir });
  for (const f of stale) t.notOk(existsSync(join(outDir, f)), `${f} removed`);
  t.ok(existsSync(join(outDir, 'notes.txt')), 'other files are left alone');
  t.same(second.chunks.sort(), first.chunks.sort(), 'same content, same chunk names');
});

t.test('the build refuses a module that locates files from its own URL', async (t) => {
  const tmp = tempDir('parkedge-build-');
  t.teardown(tmp.cleanup);
  const entry = join(tmp.dir, 'entry.ts');
  writeFileSync(entry, "export const here = new URL('./data.json', import.meta.url);\n");
  await t.rejects(
    buildEdge({ entry, outDir: join(tmp.dir, 'dist'), logLevel: 'silent' }),
    /entry\.ts: locates files from its own module URL.*edge\/paths\.ts/,
  );
  t.notOk(existsSync(join(tmp.dir, 'dist', 'edge.mjs')), 'no bundle left behind');
});
