import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startSystem } from '../../demo/system.js';
import type { TrafficEvent } from '../../demo/traffic.js';
import { silentLogger } from '../../protocol/logger.js';

/**
 * The demo's permit holders (demo/permits.ts, docs/permits.md): seeded through the API, synced to the
 * lots, and driven in and out by the traffic generator — at Riverside with its link cut, so the
 * permit holder is admitted offline and leaves with nothing to pay.
 */

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('a permit holder enters Riverside while its link is cut, and leaves free', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'parkedge-demo-permits-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.MQTT_URL;
  const events: TrafficEvent[] = [];
  const system = await startSystem({
    dataDir,
    portBase: 0,
    traffic: false,
    logger: silentLogger(),
    env,
    trafficPace: { stayMs: [1_000, 1_500] },
    onTraffic: (e) => events.push(e),
  });
  t.teardown(() => system.stop());
  const riverside = system.lots.get('lot-riverside')!;
  await waitFor(
    'Riverside has its permits',
    () => riverside.edge.store.mirror.permitsForPlate('RVPM01').length > 0,
  );
  t.equal(riverside.edge.store.mirror.lotIndex().permitCount, 4, 'the permit pool came with the config');

  riverside.link.set(false);
  await waitFor('Riverside offline', () => riverside.edge.connectivity.state === 'offline');
  await system.traffic.visit('lot-riverside', 'permit-holder');
  const mine = events.filter((e) => e.kind === 'permit-holder');
  t.match(
    mine.map((e) => e.what),
    ['arrived', 'admitted', 'left'],
    JSON.stringify(mine),
  );
  t.match(mine.at(-1)?.detail ?? '', /Goodbye/, 'nothing to pay at the exit');
  t.match(mine[0]!.plate, /^RV-PM-0\d$/);
  const sessions = riverside.edge.store.db
    .prepare<[], { kind: string; pool: string }>("SELECT kind, pool FROM sessions WHERE kind = 'permit'")
    .all();
  t.same(sessions, [{ kind: 'permit', pool: 'permit' }], 'recorded as a permit session in the permit pool');
});
