/**
 * Reports bench (budget in the README, "Benchmarks"): "reports over a year of one busy lot by day
 * answer in under a second". Seeds 365 days × 500 sessions/day of facts (gate events, bookings,
 * payments, cash, charges, debts; cloud/test/report-seed.ts) into one lot, then times each report
 * through the HTTP API (JSON, day buckets, the whole year) against a raw `count(*)` over the same
 * lot's gate events in the same run.
 *
 * Database: PostgreSQL when DATABASE_URL is set (an isolated schema), PGlite otherwise.
 */
import { TestClock } from '../protocol/clock.js';
import { silentLogger } from '../protocol/logger.js';
import { seededRandom } from '../protocol/random.js';
import { buildTestCloud, lotBody, type TestCloud } from '../cloud/test/helpers.js';
import { seedLotHistory } from '../cloud/test/report-seed.js';
import {
  type BenchContext,
  type BenchRow,
  type Measurement,
  skippedRow,
  toRow,
  valueRow,
  summariseMs,
} from './harness.js';

const YEAR_START = Date.UTC(2025, 0, 1);

async function time(name: string, n: number, fn: () => Promise<unknown>): Promise<Measurement> {
  await fn(); // warm: plans, caches
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return summariseMs(name, samples);
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  let cloud: TestCloud | null = null;
  try {
    cloud = await buildTestCloud({
      clock: new TestClock(YEAR_START + 400 * 86_400_000),
      logger: silentLogger(),
    });
    const where = cloud.kind === 'postgres' ? 'PostgreSQL' : 'PGlite';
    const admin = await cloud.userWithToken('admin');
    const lot = lotBody({ id: 'busy', timeZone: 'Europe/London' }, 4);
    lot.spots.push({ id: 'd1', label: 'D-1', level: '0', type: 'car', pool: 'driveup' });
    const created = await cloud.call('POST', '/v1/lots', { token: admin.token, body: lot });
    if (created.status !== 201) throw new Error(`lot: ${created.status}`);
    const perDay = ctx.quick ? 100 : 500;
    const days = 365;
    ctx.log(`reports: seeding ${days} days × ${perDay} sessions (${where})`);
    const s0 = performance.now();
    const seed = await seedLotHistory(cloud.db.pooled, {
      lotId: 'busy',
      currency: 'EUR',
      bookableSpot: 's1',
      startMs: YEAR_START,
      days,
      sessionsPerDay: perDay,
      random: seededRandom(2025),
    });
    await cloud.db.rows('analyze');
    const seedS = (performance.now() - s0) / 1000;
    const [facts] = await cloud.db.rows<{ n: number }>(
      'select count(*)::int as n from gate_events where lot_id = $1',
      ['busy'],
    );
    const iterations = ctx.quick ? 3 : 10;
    const baseline = await time('raw count(*) of the lot’s gate events', iterations, () =>
      cloud!.db.rows('select count(*) from gate_events where lot_id = $1', ['busy']),
    );
    const rows: BenchRow[] = [
      valueRow(`reports: seeded a year (${perDay} sessions/day)`, Number(seedS.toFixed(1)), 's', {
        notes: `${where}; ${facts!.n.toLocaleString('en')} gate events, ${seed.entries.toLocaleString('en')} stays`,
      }),
      toRow(baseline, { notes: where }),
    ];
    const range = 'from=2025-01-01&to=2026-01-01&bucket=day';
    for (const kind of ['occupancy', 'revenue', 'usage', 'no-shows']) {
      const url = `/v1/lots/busy/reports/${kind}?${range}`;
      const m = await time(`report ${kind}: a year by day`, iterations, async () => {
        const r = await cloud!.call('GET', url, { token: admin.token });
        if (r.status !== 200 || r.body.buckets.length !== 365) throw new Error(`${kind}: ${r.status}`);
      });
      rows.push(toRow(m, { baseline, budget: { label: 'p99 < 1 s', p99MaxUs: 1_000_000 }, notes: where }));
    }
    return rows;
  } catch (error) {
    ctx.log(`reports bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    return [skippedRow('reports', error instanceof Error ? error.message : String(error))];
  } finally {
    await cloud?.close().catch(() => {});
  }
}
