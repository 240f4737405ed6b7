import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/** `npm run edge` on a port something else holds: one clear line on stderr, exit 1, no stack. */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

t.test('a port already in use is one line and exit 1, before any lane starts', async (t) => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => holder.close(() => r())));
  const { port } = holder.address() as AddressInfo;
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-port-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'edge/main.ts',
      '--config',
      'edge/lot.example.json',
      '--db',
      join(dir, 'edge.db'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'error', MQTT_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.equal(code, 1, 'exit code 1');
  const lines = stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line on stderr: ${stderr}`);
  t.match(lines[0], new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
  t.notMatch(stderr, /\n\s+at /, 'no stack trace');
  t.notMatch(stdout, /running/, 'the edge never reported running');
});
