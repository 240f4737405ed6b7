import fc from 'fast-check';
import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { migrate } from '../db/migrate.js';
import { reportBuckets } from '../reports/buckets.js';
import { occupancyBuckets, type Stay } from '../reports/occupancy.js';
import { occupancyReport, usageReport } from '../reports/reports.js';
import { openTestDatabase } from './helpers.js';

/**
 * The occupancy report as the database sweeps it (gate_sessions folded from gate events, one row per
 * bucket) agrees with the pure sweep (occupancy.ts, itself property-tested against a brute-force
 * count) on random histories with moves exactly on bucket boundaries, repeated and late events,
 * exits before entries and vehicles still inside; on PostgreSQL when DATABASE_URL is set, else PGlite.
 */

const HOUR = 3_600_000;
const MIN = 60_000;
const BASE = Date.UTC(2024, 2, 31); // the March DST change in Europe/London: a 23-hour day
const iso = (ms: number) => new Date(ms).toISOString();

interface Session {
  entered: number | null;
  /** Repeated entry reported later (a duplicate from the lot): the first one counts. */
  again: number | null;
  exited: number | null;
  pool: 'bookable' | 'driveup' | null;
}

const instant = fc.oneof(
  fc.integer({ min: -3, max: 26 }).map((h) => BASE + h * HOUR), // on a boundary
  fc.integer({ min: -180, max: 26 * 60 }).map((m) => BASE + m * MIN),
);
const session = fc.record({
  entered: fc.option(instant, { nil: null, freq: 8 }),
  again: fc.option(instant, { nil: null, freq: 1 }),
  exited: fc.option(instant, { nil: null, freq: 3 }),
  pool: fc.constantFrom('bookable' as const, 'driveup' as const, null),
});

/** What the pure sweep gets: a stay is the first entry and the first exit. */
function stays(sessions: readonly Session[]): Stay[] {
  return sessions.flatMap((s) => {
    const entries = [s.entered, s.again].filter((x): x is number => x !== null);
    if (s.entered === null) return [];
    return [{ entered: Math.min(...entries), exited: s.exited, pool: s.pool ?? 'unknown' }];
  });
}

t.test('occupancy from SQL agrees with the pure sweep (property)', async (t) => {
  const test = await openTestDatabase(silentLogger(), 2);
  t.teardown(() => test.close());
  await migrate(test.db, silentLogger());
  const q = test.db.pooled;
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(session, { maxLength: 25 }),
      fc.constantFrom('hour', 'day'),
      async (sessions, bucket) => {
        const lotId = `p${++run}`;
        const events: Array<{ kind: string; at: number; sessionId: string; pool?: string }> = [];
        sessions.forEach((s, i) => {
          const sessionId = `s${i}`;
          for (const at of [s.entered, s.again]) {
            if (at !== null)
              events.push({ kind: 'entry', at, sessionId, ...(s.pool ? { pool: s.pool } : {}) });
          }
          if (s.exited !== null) events.push({ kind: 'exit', at: s.exited, sessionId });
        });
        // One statement per event, like batches arriving over time (the trigger folds each).
        for (const [i, e] of events.entries()) {
          await q.query(
            'insert into gate_events (lot_id, event_id, kind, at, body) values ($1, $2, $3, $4, $5)',
            [lotId, i + 1, e.kind, iso(e.at), JSON.stringify({ ...e, eventId: i + 1, at: iso(e.at) })],
          );
        }
        const lot = { id: lotId, timeZone: 'Europe/London', currency: 'GBP' };
        const range = { from: '2024-03-31', to: '2024-04-01', bucket } as const;
        const report = await occupancyReport(q, lot, range);
        const { bounds } = await reportBuckets(q, lot.timeZone, range.from, range.to, bucket);
        const want = occupancyBuckets(bounds, stays(sessions));
        return (
          JSON.stringify(report.buckets.map((b) => ({ vehicles: b.vehicles, pools: b.pools }))) ===
          JSON.stringify(want)
        );
      },
    ),
    { seed: 7, numRuns: 40 },
  );
  t.pass('40 random histories agree');
});

t.test('usage counts departures and stays from the first entry and exit of each session', async (t) => {
  const test = await openTestDatabase(silentLogger(), 2);
  t.teardown(() => test.close());
  await migrate(test.db, silentLogger());
  const q = test.db.pooled;
  const ev = (id: number, kind: string, at: number, sessionId: string) =>
    q.query('insert into gate_events (lot_id, event_id, kind, at, body) values ($1, $2, $3, $4, $5)', [
      'u',
      id,
      kind,
      iso(at),
      JSON.stringify({ eventId: id, kind, at: iso(at), sessionId }),
    ]);
  await ev(1, 'entry', BASE + HOUR, 'a');
  await ev(2, 'exit', BASE + 3 * HOUR, 'a');
  await ev(3, 'exit', BASE + 4 * HOUR, 'a'); // a repeated exit: the first one stands
  await ev(4, 'exit', BASE + 2 * HOUR, 'b'); // its entry never reported: a departure, no stay
  const r = await usageReport(
    q,
    { id: 'u', timeZone: 'UTC', currency: 'GBP' },
    { from: '2024-03-31', to: '2024-04-01', bucket: 'day' },
  );
  t.match(r.buckets[0], { arrivals: 1, departures: 2, averageStayMinutes: 120 });
});
