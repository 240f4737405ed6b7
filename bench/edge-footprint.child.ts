/**
 * Spawned by bench/edge.bench.ts: `node --expose-gc --import tsx bench/edge-footprint.child.ts <db> [bare]`.
 * Builds a whole edge (store with the bench lot, two simulated lanes, attendant server) on the
 * prepared database, warms it with decisions, and prints its resident memory after a GC.
 * With `bare`, prints the RSS of the same runtime (node + tsx) doing nothing, as the baseline.
 */
import { systemClock } from '../protocol/clock.js';
import { silentLogger } from '../protocol/logger.js';
import { seededRandom } from '../protocol/random.js';

const [dbPath, mode] = process.argv.slice(2) as [string, string | undefined];
const gc = (globalThis as { gc?: () => void }).gc;
const rssMb = () => {
  gc?.();
  gc?.();
  return Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10;
};

if (mode === 'bare') {
  process.stdout.write(`${JSON.stringify({ rssMb: rssMb() })}\n`);
} else {
  const { createEdge } = await import('../edge/app.js');
  const { simulatedLibraryDrivers } = await import('../edge/devices/factory.js');
  const { simLaneFactory } = await import('../hardware-sim/lot.js');
  const { parseEdgeConfig } = await import('../edge/config.js');
  const { benchLot, BENCH_LOT_ID, openNowIndices, plateOf } = await import('./edge-lot.js');
  const { decide } = await import('../edge/lane/decision.js');
  const { NOW } = await import('./edge-lot.js');
  // The lot's own time (its history ends just before NOW), moving with the host clock.
  const startedAt = systemClock.now();
  const clock = { now: () => NOW + (systemClock.now() - startedAt) };
  const config = parseEdgeConfig({
    lotId: BENCH_LOT_ID,
    dbPath,
    lot: benchLot(),
    lanes: [
      { id: 'in-1', direction: 'entry', devices: 'sim' },
      { id: 'out-1', direction: 'exit', devices: 'sim' },
    ],
    attendant: { port: 0 },
  });
  const edge = await createEdge(config, {
    clock,
    random: seededRandom(1),
    logger: silentLogger(),
    simulator: simLaneFactory({ drivers: simulatedLibraryDrivers }),
    ui: false,
    startSync: false,
  });
  await edge.start({ listen: true });
  const ctx = edge.decisionContext('in-1');
  const open = openNowIndices();
  for (let i = 0; i < 5000; i++) {
    decide(
      ctx,
      edge.store.gateView,
      { kind: 'plate', plate: plateOf(open[i % open.length]!), confidence: 0.9 },
      clock.now(),
    );
  }
  const occupancy = edge.store.attendants.occupancy();
  process.stdout.write(
    `${JSON.stringify({ rssMb: rssMb(), spots: occupancy.pools.bookable.total + occupancy.pools.driveup.total })}\n`,
  );
  await edge.stop();
}
