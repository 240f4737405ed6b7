import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { startSystem } from '../../demo/system.js';
import type { Logger } from '../../protocol/logger.js';

/**
 * Logs an operator can read, on the whole system (cloud with its sync engine and embedded broker,
 * two lots on simulated lanes, both online): every line names its component once, and a clean stop
 * says nothing alarming (no "broker connection lost", no warning at all).
 */

interface Line {
  raw: string;
  level: number;
  msg?: string;
}

function capture(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const raw of chunk.toString('utf8').split('\n')) {
        if (raw.trim() === '') continue;
        const parsed = JSON.parse(raw) as { level: number; msg?: string };
        lines.push({ raw, level: parsed.level, ...(parsed.msg === undefined ? {} : { msg: parsed.msg }) });
      }
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink) as unknown as Logger, lines };
}

const count = (text: string, key: string) => text.split(`"${key}":`).length - 1;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('a whole system: one component per line, and a clean stop logs no warning', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'parkedge-logs-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const { logger, lines } = capture();
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.MQTT_URL;
  const system = await startSystem({ dataDir, portBase: 0, traffic: false, logger, env });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await system.stop();
  });
  await waitFor('every lot online', () =>
    [...system.lots.values()].every((lot) => lot.edge.connectivity.state === 'online'),
  );

  const stopFrom = lines.length;
  await system.stop();
  stopped = true;

  t.ok(lines.length > 20, `the system logged (${lines.length} lines)`);
  const doubled = lines.filter((l) => count(l.raw, 'component') > 1 || count(l.raw, 'lotId') > 1);
  t.same(
    doubled.map((l) => l.raw),
    [],
    'no line carries component (or lotId) twice',
  );
  t.ok(
    lines.some((l) => count(l.raw, 'component') === 1 && l.raw.includes('"component":"edge-sync"')),
    'the edge sync client names its component',
  );
  const stopping = lines.slice(stopFrom);
  t.ok(stopping.length > 0, 'the stop is logged');
  t.same(
    stopping.filter((l) => l.level >= 40).map((l) => l.raw),
    [],
    'a clean stop logs no warning or error (no "broker connection lost")',
  );
});
