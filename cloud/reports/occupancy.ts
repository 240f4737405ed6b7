import { OCCUPANCY_POOLS, type OccupancyFigures, type OccupancyPool } from '../../protocol/reports.js';
import type { Boundary } from './buckets.js';

/** One vehicle's stay as the lot reported it: inside from `entered` up to, not including, `exited`. */
export interface Stay {
  entered: number;
  /** Null while the vehicle is still inside (no exit reported). */
  exited: number | null;
  pool: OccupancyPool;
}

export interface OccupancyBucket {
  vehicles: OccupancyFigures;
  pools: Record<OccupancyPool, OccupancyFigures>;
}

const POOL_INDEX: Record<OccupancyPool, number> = { bookable: 0, driveup: 1, unknown: 2 };
const TOTAL = OCCUPANCY_POOLS.length;

/**
 * Occupancy per bucket by one sweep over the entries and exits (pure; O(stays · log + buckets)).
 * At an instant every event of that instant has happened: a vehicle leaving at t is no longer
 * inside at t, one arriving at t is. `max` is the most inside at any instant of the bucket,
 * `average` the time-weighted mean, `atEnd` the count just before the bucket ends. The reference
 * the report's SQL sweep (reports.ts + `occupancyFromSteps`) is property-tested against.
 */
export function occupancyBuckets(bounds: readonly Boundary[], stays: readonly Stay[]): OccupancyBucket[] {
  const n = bounds.length - 1;
  if (n < 1) return [];
  const first = bounds[0]!.ms;
  const last = bounds[n]!.ms;
  const events = sweepEvents(stays, first, last);
  const counts = new Array<number>(TOTAL + 1).fill(0);
  const out: OccupancyBucket[] = [];
  let e = 0;
  for (let i = 0; i < n; i++) {
    const start = bounds[i]!.ms;
    const end = bounds[i + 1]!.ms;
    // Everything up to and including the bucket's first instant.
    while (e < events.length && events[e]!.at <= start) apply(counts, events[e++]!);
    const max = [...counts];
    const area = new Array<number>(TOTAL + 1).fill(0);
    let t = start;
    while (e < events.length && events[e]!.at < end) {
      const ev = events[e++]!;
      for (let k = 0; k <= TOTAL; k++) area[k]! += counts[k]! * (ev.at - t);
      t = ev.at;
      apply(counts, ev);
      for (let k = 0; k <= TOTAL; k++) if (counts[k]! > max[k]!) max[k] = counts[k]!;
    }
    for (let k = 0; k <= TOTAL; k++) area[k]! += counts[k]! * (end - t);
    const fig = (k: number): OccupancyFigures => ({
      max: max[k]!,
      average: Math.round((area[k]! / (end - start)) * 100) / 100,
      atEnd: counts[k]!,
    });
    out.push({
      vehicles: fig(TOTAL),
      pools: { bookable: fig(0), driveup: fig(1), unknown: fig(2) },
    });
  }
  return out;
}

interface SweepEvent {
  at: number;
  delta: 1 | -1;
  pool: number;
}

/** +1 at entry (clamped to the range start), −1 at exit inside the range; exits first at a tie. */
function sweepEvents(stays: readonly Stay[], first: number, last: number): SweepEvent[] {
  const events: SweepEvent[] = [];
  for (const s of stays) {
    if (s.entered >= last) continue;
    if (s.exited !== null && (s.exited <= first || s.exited <= s.entered)) continue;
    const pool = POOL_INDEX[s.pool];
    events.push({ at: Math.max(s.entered, first), delta: 1, pool });
    if (s.exited !== null && s.exited < last) events.push({ at: s.exited, delta: -1, pool });
  }
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  return events;
}

function apply(counts: number[], ev: SweepEvent): void {
  counts[ev.pool]! += ev.delta;
  counts[TOTAL]! += ev.delta;
}

/**
 * What the database sums per bucket for one series (a pool, or all vehicles): the moves of the
 * bucket's instants (+1 entry, −1 exit), folded by `occupancyFromSteps` with the count carried in.
 */
export interface SeriesStep {
  /** Highest count after an instant of the bucket (all events of that instant applied). */
  max: number;
  /** Sum of the moves. */
  net: number;
  /** Sum of move × ms from its instant to the bucket's end: the area the moves add or remove. */
  weighted: number;
}

export interface BucketSteps {
  i: number;
  /** Some move happens exactly at the bucket's start (so the count carried in is not a state of it). */
  atStart: boolean;
  /** Indexed like OCCUPANCY_POOLS, then all vehicles. */
  series: readonly SeriesStep[];
}

/**
 * Occupancy per bucket from per-bucket sums (pure): the count carried into a bucket is the one at
 * the previous bucket's end; `atEnd` = carried + net; area = carried × length + weighted; `max`
 * includes the carried count unless a move happens at the bucket's very start.
 */
export function occupancyFromSteps(
  bounds: readonly Boundary[],
  steps: readonly BucketSteps[],
): OccupancyBucket[] {
  const n = bounds.length - 1;
  const byIndex = new Map(steps.map((s) => [s.i, s]));
  const carried = new Array<number>(TOTAL + 1).fill(0);
  const out: OccupancyBucket[] = [];
  for (let i = 0; i < Math.max(n, 0); i++) {
    const span = bounds[i + 1]!.ms - bounds[i]!.ms;
    const s = byIndex.get(i);
    const fig = (k: number): OccupancyFigures => {
      const st = s?.series[k];
      const inherited = carried[k]!;
      const max = st === undefined ? inherited : s!.atStart ? st.max : Math.max(st.max, inherited);
      const area = inherited * span + (st?.weighted ?? 0);
      return { max, average: Math.round((area / span) * 100) / 100, atEnd: inherited + (st?.net ?? 0) };
    };
    const figs = Array.from({ length: TOTAL + 1 }, (_, k) => fig(k));
    for (let k = 0; k <= TOTAL; k++) carried[k] = figs[k]!.atEnd;
    out.push({ vehicles: figs[TOTAL]!, pools: { bookable: figs[0]!, driveup: figs[1]!, unknown: figs[2]! } });
  }
  return out;
}
