import type {
  NoShowsReport,
  OccupancyReport,
  ReportBucket,
  RevenueFigures,
  RevenueReport,
  UsageReport,
} from '../../protocol/reports.js';
import type { Queryable } from '../db/database.js';
import { type Boundary, bucketBase, reportBuckets } from './buckets.js';
import { type BucketSteps, occupancyFromSteps } from './occupancy.js';

/**
 * The four reports, computed from the facts: the gate events the lot reported (entries, exits) and
 * what their effects recorded (`lot_cash_payments`, `lot_gate_charges`, `lot_debts`), the
 * reservations and the payments — never from counters. Every statement is scoped to one lot and a
 * range of whole buckets, and runs on indexes: gate_events (lot_id, kind, at), gate_sessions
 * (lot_id, exited_at) and its open stays (lot_id, entered_at), reservations (lot_id, status,
 * start_at), payments (reservation_id, kind), the sync tables' (lot_id, event_id) keys.
 */

export interface ReportLot {
  id: string;
  timeZone: string;
  /** The lot's own currency: always listed, first, even when nothing was paid. */
  currency: string;
}

export interface ReportRange {
  from: string;
  to: string;
  bucket: ReportBucket;
}

interface Frame {
  lotId: string;
  timeZone: string;
  bucket: ReportBucket;
  from: string;
  to: string;
  bounds: Boundary[];
}

async function frame(q: Queryable, lot: ReportLot, range: ReportRange): Promise<Frame> {
  const { bounds } = await reportBuckets(q, lot.timeZone, range.from, range.to, range.bucket);
  return {
    lotId: lot.id,
    timeZone: lot.timeZone,
    bucket: range.bucket,
    from: bounds[0]!.label,
    to: bounds[bounds.length - 1]!.label,
    bounds,
  };
}

/** $1 lot, $2 the boundaries, $3 first, $4 last: the parameters every report statement takes. */
function params(f: Frame): unknown[] {
  const b = f.bounds.map((x) => new Date(x.ms).toISOString());
  return [f.lotId, b, b[0], b[b.length - 1]];
}

const header = (f: Frame) => ({
  lotId: f.lotId,
  timeZone: f.timeZone,
  bucket: f.bucket,
  from: f.from,
  to: f.to,
});

const count = (f: Frame) => f.bounds.length - 1;

// -- occupancy ----------------------------------------------------------------------------------

/**
 * Stays that overlap the range, from `gate_sessions` (each session's first entry and first exit,
 * folded from the gate events; migration 009): gone after the range starts and entered before it
 * ends, through the exit index, plus those still inside, through the open-stay index. An exit at or
 * after the end is dropped, so such a vehicle counts as inside to the end.
 */
const STAYS_SQL = `
  select entered_at as en, case when exited_at < $4::timestamptz then exited_at end as ex, pool
    from gate_sessions
   where lot_id = $1 and exited_at > $3::timestamptz and entered_at < $4::timestamptz
     and exited_at > entered_at
  union all
  select entered_at, null, pool
    from gate_sessions
   where lot_id = $1 and exited_at is null and entered_at < $4::timestamptz`;

/**
 * Per bucket, what `occupancyFromSteps` (occupancy.ts) folds into occupancy, so one row per bucket
 * leaves the database. Moves: +1 at entry (clamped to the range start), −1 at exit. A window over
 * the moves in time order gives, per series (pool 0–2, 3 = all), the count once every move of that
 * instant has happened (RANGE frame: peers included); per bucket, its maximum, the sum of the
 * moves, the sum of move × ms since the range start (Node turns it into move × ms to the bucket's
 * end) and the first move's ms since the range start.
 */
const series = (k: number) => `
    max(c${k}) as max${k}, sum(d${k})::int as net${k}, sum(d${k} * rel)::float8 as s${k}`;
const OCCUPANCY_SQL = `
  with stays as (
    select en, ex, case pool when 'bookable' then 0 when 'driveup' then 1 else 2 end as p from (${STAYS_SQL}) s
  ),
  moves as (
    select greatest(en, $3::timestamptz) as at, p, 1 as d from stays
    union all
    select ex, p, -1 from stays where ex is not null
  ),
  counts as (
    select width_bucket(at, $2::timestamptz[]) as b,
           (date_part('epoch', at - $3::timestamptz) * 1000)::bigint as rel,
           case p when 0 then d else 0 end as d0, case p when 1 then d else 0 end as d1,
           case p when 2 then d else 0 end as d2, d as d3,
           sum(d) filter (where p = 0) over w as c0, sum(d) filter (where p = 1) over w as c1,
           sum(d) filter (where p = 2) over w as c2, sum(d) over w as c3
      from moves window w as (order by at)
  )
  select b - 1 as i, min(rel)::float8 as first_rel, ${[0, 1, 2, 3].map(series).join(',')}
    from counts group by b`;

export async function occupancyReport(
  q: Queryable,
  lot: ReportLot,
  range: ReportRange,
): Promise<OccupancyReport> {
  const f = await frame(q, lot, range);
  const { rows } = await q.query<Record<string, number> & { i: number }>(OCCUPANCY_SQL, params(f));
  const first = f.bounds[0]!.ms;
  const steps: BucketSteps[] = rows.map((r) => {
    const toEnd = f.bounds[r.i + 1]!.ms - first;
    return {
      i: r.i,
      atStart: first + Number(r.first_rel) === f.bounds[r.i]!.ms,
      series: [0, 1, 2, 3].map((k) => {
        const net = Number(r[`net${k}`]);
        return { max: Number(r[`max${k}`] ?? 0), net, weighted: net * toEnd - Number(r[`s${k}`]) };
      }),
    };
  });
  const figures = occupancyFromSteps(f.bounds, steps);
  return {
    ...header(f),
    report: 'occupancy',
    buckets: figures.map((b, i) => ({ ...bucketBase(f.bounds, i), ...b })),
  };
}

// -- usage --------------------------------------------------------------------------------------

const ARRIVALS_SQL = `
  select width_bucket(at, $2::timestamptz[]) - 1 as i, count(*)::int as n
    from gate_events
   where lot_id = $1 and kind = 'entry' and at >= $3::timestamptz and at < $4::timestamptz
   group by 1`;

/** Exits in the range, with the stay of those whose entry the lot reported. */
const DEPARTURES_SQL = `
  select width_bucket(exited_at, $2::timestamptz[]) - 1 as i, count(*)::int as n,
         count(*) filter (where entered_at <= exited_at)::int as known,
         coalesce(sum(extract(epoch from exited_at - entered_at)) filter (where entered_at <= exited_at), 0)::float8
           as stay_s
    from gate_sessions
   where lot_id = $1 and exited_at >= $3::timestamptz and exited_at < $4::timestamptz
   group by 1`;

export async function usageReport(q: Queryable, lot: ReportLot, range: ReportRange): Promise<UsageReport> {
  const f = await frame(q, lot, range);
  const p = params(f);
  const arrivals = await q.query<{ i: number; n: number }>(ARRIVALS_SQL, p);
  const departures = await q.query<{ i: number; n: number; known: number; stay_s: number }>(
    DEPARTURES_SQL,
    p,
  );
  const buckets = Array.from({ length: count(f) }, (_, i) => ({
    ...bucketBase(f.bounds, i),
    arrivals: 0,
    departures: 0,
    averageStayMinutes: null as number | null,
  }));
  for (const r of arrivals.rows) buckets[r.i]!.arrivals = r.n;
  for (const r of departures.rows) {
    const b = buckets[r.i]!;
    b.departures = r.n;
    b.averageStayMinutes = r.known > 0 ? Math.round((Number(r.stay_s) / 60 / r.known) * 100) / 100 : null;
  }
  return { ...header(f), report: 'usage', buckets };
}

// -- revenue ------------------------------------------------------------------------------------

type MoneyLine = Exclude<keyof RevenueFigures, 'currency' | 'net'>;

/** Every money fact of the lot in the range, by bucket, currency and line. */
const REVENUE_SQL = `
  select i - 1 as i, currency, line, sum(amount)::bigint as amount from (
    select width_bucket(p.created_at, $2::timestamptz[]) as i, p.currency::text as currency,
           case p.kind when 'capture' then 'bookings' when 'overstay' then 'overstay' else 'refunds' end as line,
           p.amount
      from payments p join reservations r on r.id = p.reservation_id
     where r.lot_id = $1 and p.status = 'succeeded'
       and p.created_at >= $3::timestamptz and p.created_at < $4::timestamptz
    union all
    select width_bucket(c.at, $2::timestamptz[]), c.currency::text, 'cash', c.amount_minor
      from lot_cash_payments c where c.lot_id = $1 and c.at >= $3::timestamptz and c.at < $4::timestamptz
    union all
    select width_bucket(g.at, $2::timestamptz[]), g.currency::text, 'gateCharges', g.amount_minor
      from lot_gate_charges g where g.lot_id = $1 and g.at >= $3::timestamptz and g.at < $4::timestamptz
    union all
    select width_bucket(d.at, $2::timestamptz[]), d.currency::text, 'owed', d.amount_minor
      from lot_debts d where d.lot_id = $1 and d.at >= $3::timestamptz and d.at < $4::timestamptz
  ) facts group by 1, 2, 3`;

const zeroRevenue = (currency: string): RevenueFigures => ({
  currency,
  bookings: 0,
  overstay: 0,
  cash: 0,
  refunds: 0,
  net: 0,
  gateCharges: 0,
  owed: 0,
});

/** The lot's currency first, then any other seen, alphabetically. */
function currencyOrder(lotCurrency: string, seen: Iterable<string>): string[] {
  const others = [...new Set(seen)].filter((c) => c !== lotCurrency).sort();
  return [lotCurrency, ...others];
}

export async function revenueReport(
  q: Queryable,
  lot: ReportLot,
  range: ReportRange,
): Promise<RevenueReport> {
  const f = await frame(q, lot, range);
  const { rows } = await q.query<{ i: number; currency: string; line: MoneyLine; amount: number }>(
    REVENUE_SQL,
    params(f),
  );
  const currencies = currencyOrder(
    lot.currency,
    rows.map((r) => r.currency),
  );
  const buckets = Array.from({ length: count(f) }, (_, i) => ({
    ...bucketBase(f.bounds, i),
    currencies: currencies.map(zeroRevenue),
  }));
  const totals = currencies.map(zeroRevenue);
  for (const r of rows) {
    const k = currencies.indexOf(r.currency);
    buckets[r.i]!.currencies[k]![r.line] += Number(r.amount);
    totals[k]![r.line] += Number(r.amount);
  }
  for (const fig of [...totals, ...buckets.flatMap((b) => b.currencies)]) {
    fig.net = fig.bookings + fig.overstay + fig.cash - fig.refunds;
  }
  return { ...header(f), report: 'revenue', totals, buckets };
}

// -- no-shows -----------------------------------------------------------------------------------

/** NO_SHOW bookings by booked start, with what was kept of their payment (captured − refunded). */
const NO_SHOWS_SQL = `
  select width_bucket(r.start_at, $2::timestamptz[]) - 1 as i, r.currency, count(*)::int as n,
         (coalesce(sum(cap.amount), 0) - coalesce(sum(ref.amount), 0))::bigint as forfeited
    from reservations r
    left join payments cap on cap.reservation_id = r.id and cap.kind = 'capture' and cap.status = 'succeeded'
    left join payments ref on ref.reservation_id = r.id and ref.kind = 'refund' and ref.status = 'succeeded'
   where r.lot_id = $1 and r.status = 'NO_SHOW'
     and r.start_at >= $3::timestamptz and r.start_at < $4::timestamptz
   group by 1, 2`;

export async function noShowsReport(
  q: Queryable,
  lot: ReportLot,
  range: ReportRange,
): Promise<NoShowsReport> {
  const f = await frame(q, lot, range);
  const { rows } = await q.query<{ i: number; currency: string; n: number; forfeited: number }>(
    NO_SHOWS_SQL,
    params(f),
  );
  const currencies = currencyOrder(
    lot.currency,
    rows.map((r) => r.currency),
  );
  const buckets = Array.from({ length: count(f) }, (_, i) => ({
    ...bucketBase(f.bounds, i),
    noShows: 0,
    currencies: currencies.map((currency) => ({ currency, noShows: 0, forfeited: 0 })),
  }));
  for (const r of rows) {
    const b = buckets[r.i]!;
    const c = b.currencies[currencies.indexOf(r.currency)]!;
    b.noShows += r.n;
    c.noShows += r.n;
    c.forfeited += Number(r.forfeited);
  }
  return { ...header(f), report: 'no-shows', buckets };
}
