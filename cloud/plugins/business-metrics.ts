import { Gauge } from 'prom-client';
import type { Database } from '../db/database.js';
import { definePlugin } from '../plugin.js';

/**
 * Business gauges, computed when Prometheus scrapes (`collect()`), from two cheap statements shared
 * by every gauge of one scrape:
 *  - per lot, from `lot_presence` (one row per lot, what the lot last reported): online, seconds
 *    since last seen, edge outbox depth, occupancy and spots per pool;
 *  - per lot, the live bookings by status (TENTATIVE, CONFIRMED, CHECKED_IN), counted on the
 *    reservations (lot_id, status, start_at) index, one index range per lot and status.
 * A failed snapshot (database down) leaves the gauges empty for that scrape and is logged.
 */

const LIVE_STATUSES = ['TENTATIVE', 'CONFIRMED', 'CHECKED_IN'] as const;

const PRESENCE_SQL = `
  select lot_id, state, extract(epoch from last_seen)::float8 * 1000 as last_seen_ms, outbox_depth, occupancy
    from lot_presence`;

const BOOKINGS_SQL = `
  select l.id as lot_id, s.status,
         (select count(*) from reservations r where r.lot_id = l.id and r.status = s.status)::int as n
    from lots l cross join unnest($1::text[]) as s(status)`;

interface Snapshot {
  presence: Array<{
    lot_id: string;
    state: string;
    last_seen_ms: number;
    outbox_depth: number | null;
    occupancy: Record<string, { held: number; total: number }> | null;
  }>;
  bookings: Array<{ lot_id: string; status: string; n: number }>;
}

/**
 * One snapshot per scrape: the registry starts every metric's collect() at once, so the gauges all
 * join the statement in flight; the next scrape reads afresh.
 */
function snapshots(db: Database): () => Promise<Snapshot> {
  let inflight: Promise<Snapshot> | null = null;
  const load = async (): Promise<Snapshot> => ({
    presence: await db.rows<Snapshot['presence'][number]>(PRESENCE_SQL),
    bookings: await db.rows<Snapshot['bookings'][number]>(BOOKINGS_SQL, [LIVE_STATUSES]),
  });
  return () => {
    inflight ??= load().finally(() => {
      inflight = null;
    });
    return inflight;
  };
}

export const businessMetricsPlugin = definePlugin(
  async (app) => {
    const registers = [app.metrics.registry];
    const log = app.log.child({ component: 'business-metrics' });
    const snapshot = snapshots(app.db);
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      fill: (g: Gauge<L>, s: Snapshot) => void,
    ) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          try {
            fill(this, await snapshot());
          } catch (err) {
            log.warn({ err, metric: name }, 'business metric snapshot failed');
          }
        },
      });

    gauge('parkedge_cloud_lot_online', '1 while the lot reports itself online', ['lot'], (g, s) => {
      for (const p of s.presence) g.set({ lot: p.lot_id }, p.state === 'online' ? 1 : 0);
    });
    gauge(
      'parkedge_cloud_lot_last_seen_seconds',
      'Seconds since the lot was last heard from (heartbeat, status, events)',
      ['lot'],
      (g, s) => {
        const now = app.clock.now();
        for (const p of s.presence)
          g.set({ lot: p.lot_id }, Math.max(0, (now - Number(p.last_seen_ms)) / 1000));
      },
    );
    gauge(
      'parkedge_cloud_lot_outbox_depth',
      'Gate events queued at the lot, not yet acknowledged by the cloud (as last reported)',
      ['lot'],
      (g, s) => {
        for (const p of s.presence) if (p.outbox_depth !== null) g.set({ lot: p.lot_id }, p.outbox_depth);
      },
    );
    gauge(
      'parkedge_cloud_lot_occupancy',
      'Spots in use per lot and pool as the lot last reported (bookable: held now; driveup: vehicles inside)',
      ['lot', 'pool'],
      (g, s) => {
        for (const p of s.presence)
          for (const [pool, o] of Object.entries(p.occupancy ?? {})) g.set({ lot: p.lot_id, pool }, o.held);
      },
    );
    gauge(
      'parkedge_cloud_lot_spots',
      'Spots per lot and pool as the lot last reported',
      ['lot', 'pool'],
      (g, s) => {
        for (const p of s.presence)
          for (const [pool, o] of Object.entries(p.occupancy ?? {})) g.set({ lot: p.lot_id, pool }, o.total);
      },
    );
    gauge(
      'parkedge_cloud_bookings',
      'Live bookings per lot and status (TENTATIVE, CONFIRMED, CHECKED_IN)',
      ['lot', 'status'],
      (g, s) => {
        for (const b of s.bookings) g.set({ lot: b.lot_id, status: b.status }, b.n);
      },
    );
  },
  { name: 'business-metrics', dependencies: ['core', 'db', 'metrics'] },
);
