import type { ReportBucket } from '../../protocol/reports.js';
import type { Queryable } from '../db/database.js';

/**
 * Report buckets: calendar hours, days or months in the lot's time zone. The time-zone arithmetic
 * is PostgreSQL's (its tz database, the same one that stores every timestamp): days and months step
 * in local wall-clock time and are converted back to instants, so a day on a DST change is 23 or 25
 * hours; hours step in absolute time from a local hour start, so the repeated hour in autumn is two
 * buckets.
 */
export interface Boundary {
  /** Instant, epoch ms. */
  ms: number;
  /** Local wall-clock time with its offset, e.g. `2024-10-27T00:00:00+02:00`. */
  label: string;
}

export interface Buckets {
  /** n + 1 boundaries for n buckets; bucket i is [bounds[i], bounds[i + 1]). */
  bounds: Boundary[];
}

/** A date-only `from`/`to` means local midnight; PostgreSQL reads it so in the lot's zone. */
const instantSql = (param: string) =>
  `(case when length(${param}) = 10 then (${param}::date::timestamp at time zone $3) else ${param}::timestamptz end)`;

const WALL_SQL = `
  with r as (select ${instantSql('$1')} as f, ${instantSql('$2')} as t),
  g as (
    select (w at time zone $3) as b
      from r, generate_series(date_trunc($4, r.f at time zone $3),
                              date_trunc($4, r.t at time zone $3) + $5::interval,
                              $5::interval) as w
  )
  select b from g, r where b < r.t
  union all
  (select b from g, r where b >= r.t order by b limit 1)`;

const HOUR_SQL = `
  with r as (select ${instantSql('$1')} as f, ${instantSql('$2')} as t),
  g as (
    select w as b
      from r, generate_series(date_trunc('hour', r.f, $3), r.t + interval '1 hour', interval '1 hour') as w
  )
  select b from g, r where b < r.t
  union all
  (select b from g, r where b >= r.t order by b limit 1)`;

/** Boundaries with their local labels, one statement. */
export async function reportBuckets(
  q: Queryable,
  timeZone: string,
  from: string,
  to: string,
  bucket: ReportBucket,
): Promise<Buckets> {
  const inner = bucket === 'hour' ? HOUR_SQL : WALL_SQL;
  const values: unknown[] =
    bucket === 'hour' ? [from, to, timeZone] : [from, to, timeZone, bucket, `1 ${bucket}`];
  const { rows } = await q.query<{ ms: number; wall: string; offset_s: number }>(
    `select extract(epoch from b)::float8 * 1000 as ms,
            to_char(b at time zone $3, 'YYYY-MM-DD"T"HH24:MI:SS') as wall,
            extract(epoch from (b at time zone $3) - (b at time zone 'UTC'))::int as offset_s
       from (${inner}) x order by b`,
    values,
  );
  return {
    bounds: rows.map((r) => ({ ms: Number(r.ms), label: `${r.wall}${offsetText(Number(r.offset_s))}` })),
  };
}

/** `+02:00`, `-05:00`, `+05:45`; UTC as `+00:00`. */
export function offsetText(seconds: number): string {
  const sign = seconds < 0 ? '-' : '+';
  const abs = Math.abs(seconds);
  const h = Math.floor(abs / 3600);
  const m = Math.floor((abs % 3600) / 60);
  return `${sign}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

/** The bucket index of an instant: i with bounds[i] <= ms < bounds[i + 1], or -1 outside. */
export function bucketIndex(bounds: readonly Boundary[], ms: number): number {
  let lo = 0;
  let hi = bounds.length - 1;
  if (hi < 1 || ms < bounds[0]!.ms || ms >= bounds[hi]!.ms) return -1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid]!.ms <= ms) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The fields every bucket carries. */
export function bucketBase(
  bounds: readonly Boundary[],
  i: number,
): { start: string; end: string; hours: number } {
  const a = bounds[i]!;
  const b = bounds[i + 1]!;
  return { start: a.label, end: b.label, hours: Math.round(((b.ms - a.ms) / 3_600_000) * 100) / 100 };
}
