/**
 * The one pricing function (docs/pricing.md). Pure, integer minor units, no floating point on money.
 *
 * A stay [entry, exit) is priced in this order:
 *  1. Lost ticket (no known entry) → the lost-ticket fee, nothing else.
 *  2. Grace: the last graceMinutes of the stay are not charged.
 *  3. Free minutes: a charged stay of at most freeMinutes costs nothing (a threshold, not a deduction).
 *  4. Event flat: a stay entering on a local date of a flat event pays that price.
 *  5. Time: every started 15-minute unit counted from entry costs hourlyRate / 4 of the band covering
 *     the unit's local start (weekday + time of day; the base hourlyRate where no band does), times
 *     the event multiplier of that local date. Per local day and band the quarters are rounded once,
 *     half up; each day's sum is capped at dailyMax.
 *  6. Flats: the first early-bird / evening rule (in the plan's order) the entry and exit qualify for
 *     replaces the time price when it is cheaper.
 *  7. Demand (online bookings only): the integer percent applies once to the total, half up.
 */
import type { VehicleType } from './domain.js';
import { type DemandStep, demandMultiplierPct, type Money, money } from './money.js';
import { minutesOf, planFromRates, type RatePlan, type RuleSet, ruleSetFor, WEEKDAYS } from './rate-plan.js';

const MIN = 60_000;
const DAY = 86_400_000;
/** The charging unit: the booking slot. */
export const UNIT_MS = 15 * MIN;

export interface PriceLine {
  label: string;
  /** The rule that produced the line, or null (base rate, daily maximum, demand, …). */
  rule: string | null;
  /** Local date the line belongs to, or null for whole-stay lines. */
  day: string | null;
  /** 15-minute units in the line (0 for flats and adjustments). */
  units: number;
  /** Minor units; negative for a reduction (daily maximum). */
  amount: number;
}

export interface StayPrice {
  total: Money;
  lines: PriceLine[];
}

export interface Stay {
  entryMs: number;
  exitMs: number;
  vehicleType: VehicleType;
  /** The entry is unknown: the lost-ticket fee applies when the plan has one. */
  lostTicket?: boolean;
}

/** Price a stay with a plan in the lot's time zone; `demandPct` (100 = list price) for online bookings. */
export function priceStay(plan: RatePlan, stay: Stay, timeZone: string, demandPct = 100): StayPrice {
  const { entryMs, exitMs } = stay;
  if (!Number.isFinite(entryMs) || !Number.isFinite(exitMs))
    throw new RangeError('stay bounds must be finite');
  if (exitMs < entryMs) throw new RangeError('stay exit is before its entry');
  const rs = ruleSetFor(plan, stay.vehicleType);
  const done = (lines: PriceLine[]) => finish(plan.currency, lines, demandPct);
  if (stay.lostTicket === true && rs.lostTicketFee !== null)
    return done([{ label: 'Lost ticket', rule: null, day: null, units: 0, amount: rs.lostTicketFee }]);
  const chargedMs = Math.max(0, exitMs - entryMs - rs.graceMinutes * MIN);
  if (rs.freeMinutes > 0 && chargedMs <= rs.freeMinutes * MIN) {
    return done([
      { label: `First ${rs.freeMinutes} minutes free`, rule: null, day: null, units: 0, amount: 0 },
    ]);
  }
  const units = Math.max(1, Math.ceil(chargedMs / UNIT_MS));
  const local = localizer(timeZone, entryMs, Math.max(exitMs, entryMs + units * UNIT_MS));
  const c = compile(rs);
  const entryDay = Math.floor(local(entryMs) / DAY);
  const event = c.events.find((e) => e.fromDay <= entryDay && entryDay <= e.toDay && e.price !== undefined);
  if (event !== undefined) {
    const line = { label: `Event rate: ${event.name}`, rule: event.name, day: dayKey(entryDay), units: 0 };
    return done([{ ...line, amount: event.price! }]);
  }
  const lines = timeLines(c, rs, entryMs, units, local);
  const timeTotal = sum(lines);
  const flat = flatFor(rs, local(entryMs), local(exitMs));
  if (flat !== null && flat.price < timeTotal) {
    const label = `${flat.kind === 'early_bird' ? 'Early bird' : 'Evening'}: ${flat.name}`;
    return done([{ label, rule: flat.name, day: dayKey(entryDay), units: 0, amount: flat.price }]);
  }
  return done(lines);
}

/**
 * A booked car leaving after its window ends: free within `graceMinutes` (a threshold); past it the
 * whole overstay is priced by the plan's time rules (bands, event multipliers, daily maximum) — no
 * free minutes, flats or demand, which belong to a stay, not to its extension.
 */
export function priceOverstay(
  plan: RatePlan,
  o: { endMs: number; exitMs: number; vehicleType: VehicleType },
  graceMinutes: number,
  timeZone: string,
): StayPrice {
  if (!Number.isFinite(o.endMs) || !Number.isFinite(o.exitMs))
    throw new RangeError('overstay bounds must be finite');
  const overMs = o.exitMs - o.endMs;
  if (overMs <= 0 || overMs <= graceMinutes * MIN) return finish(plan.currency, [], 100);
  const rs = ruleSetFor(plan, o.vehicleType);
  const units = Math.ceil(overMs / UNIT_MS);
  const local = localizer(timeZone, o.endMs, o.endMs + units * UNIT_MS);
  return finish(plan.currency, timeLines(compile(rs), rs, o.endMs, units, local), 100);
}

/** What a lot's configuration prices with: its plan, or the plan derived from its flat card. */
export interface PricedLot {
  timeZone: string;
  rates: {
    currency: string;
    hourlyRate: number;
    dailyMax: number | null;
    dynamicPricing: DemandStep[] | null;
  };
  ratePlan?: RatePlan | null;
}

const derived = new WeakMap<object, RatePlan>();

/** The plan a lot prices with (its own, or today's hourly card + daily cap mapped onto a plan). */
export function effectivePlan(lot: PricedLot): RatePlan {
  if (lot.ratePlan != null) return lot.ratePlan;
  let plan = derived.get(lot.rates);
  if (plan === undefined) {
    plan = planFromRates(lot.rates);
    derived.set(lot.rates, plan);
  }
  return plan;
}

/** An online booking's price: the plan for the window, times the lot's demand step at `occupancyPct`. */
export function bookingPrice(
  lot: PricedLot,
  vehicleType: VehicleType,
  w: { startMs: number; endMs: number },
  occupancyPct = 0,
): StayPrice {
  const pct = demandMultiplierPct(lot.rates.dynamicPricing, occupancyPct);
  return priceStay(
    effectivePlan(lot),
    { entryMs: w.startMs, exitMs: w.endMs, vehicleType },
    lot.timeZone,
    pct,
  );
}

function finish(currency: string, lines: PriceLine[], demandPct: number): StayPrice {
  let total = sum(lines);
  if (demandPct !== 100) {
    const adjusted = Math.floor((total * demandPct + 50) / 100);
    lines.push({ label: `Demand ${demandPct}%`, rule: null, day: null, units: 0, amount: adjusted - total });
    total = adjusted;
  }
  return { total: money(total, currency), lines };
}

function sum(lines: PriceLine[]): number {
  let s = 0;
  for (const l of lines) s += l.amount;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Time-based price

interface Compiled {
  /** Band index by weekday × minute of day (-1: base rate), or null when the set has no bands. */
  table: Int16Array | null;
  bands: { name: string; hourlyRate: number }[];
  events: { name: string; fromDay: number; toDay: number; price?: number; pct?: number }[];
}

const compiledSets = new WeakMap<RuleSet, Compiled>();

function compile(rs: RuleSet): Compiled {
  const hit = compiledSets.get(rs);
  if (hit !== undefined) return hit;
  const bands: Compiled['bands'] = [];
  let table: Int16Array | null = null;
  const events: Compiled['events'] = [];
  for (const rule of rs.rules) {
    if (rule.kind === 'band') {
      table ??= new Int16Array(7 * 1440).fill(-1);
      const idx = bands.push({ name: rule.name, hourlyRate: rule.hourlyRate }) - 1;
      for (const d of rule.days) {
        const base = WEEKDAYS.indexOf(d) * 1440;
        table.fill(idx, base + minutesOf(rule.from), base + minutesOf(rule.to));
      }
    } else if (rule.kind === 'event') {
      const fromDay = Date.parse(`${rule.from}T00:00:00Z`) / DAY;
      const toDay = Date.parse(`${rule.to}T00:00:00Z`) / DAY;
      events.push({ name: rule.name, fromDay, toDay, price: rule.price, pct: rule.multiplierPct });
    }
  }
  const c = { table, bands, events };
  compiledSets.set(rs, c);
  return c;
}

function timeLines(
  c: Compiled,
  rs: RuleSet,
  fromMs: number,
  units: number,
  local: (t: number) => number,
): PriceLine[] {
  const lines: PriceLine[] = [];
  const quarters = new Array<number>(c.bands.length + 1).fill(0);
  const counts = new Array<number>(c.bands.length + 1).fill(0);
  let day = Number.NaN;
  const flush = () => {
    if (Number.isNaN(day)) return;
    const ev = c.events.find((e) => e.fromDay <= day && day <= e.toDay && e.pct !== undefined);
    const pct = ev?.pct ?? 100;
    const key = dayKey(day);
    let dayTotal = 0;
    for (let b = 0; b < quarters.length; b++) {
      if (counts[b] === 0) continue;
      const amount = Math.floor((quarters[b]! * pct + 200) / 400);
      const name = b === 0 ? null : c.bands[b - 1]!.name;
      const label = `${name ?? 'Hourly rate'}${ev === undefined ? '' : ` × ${pct}% (${ev.name})`}`;
      lines.push({ label, rule: name, day: key, units: counts[b]!, amount });
      dayTotal += amount;
      quarters[b] = 0;
      counts[b] = 0;
    }
    if (rs.dailyMax !== null && dayTotal > rs.dailyMax) {
      lines.push({ label: 'Daily maximum', rule: null, day: key, units: 0, amount: rs.dailyMax - dayTotal });
    }
  };
  for (let k = 0; k < units; k++) {
    const l = local(fromMs + k * UNIT_MS);
    const d = Math.floor(l / DAY);
    if (d !== day) {
      flush();
      day = d;
    }
    let b = 0;
    if (c.table !== null) {
      const weekday = (((d + 4) % 7) + 7) % 7;
      b = c.table[weekday * 1440 + Math.floor((l - d * DAY) / MIN)]! + 1;
    }
    quarters[b]! += b === 0 ? rs.hourlyRate : c.bands[b - 1]!.hourlyRate;
    counts[b]!++;
  }
  flush();
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Flats

type FlatRule = Extract<RuleSet['rules'][number], { kind: 'early_bird' | 'evening' }>;

function flatFor(rs: RuleSet, entryL: number, exitL: number): FlatRule | null {
  const eDay = Math.floor(entryL / DAY);
  const eMin = Math.floor((entryL - eDay * DAY) / MIN);
  const xDay = Math.floor(exitL / DAY);
  const xMin = Math.floor((exitL - xDay * DAY) / MIN);
  const weekday = WEEKDAYS[(((eDay + 4) % 7) + 7) % 7]!;
  for (const r of rs.rules) {
    if (r.kind !== 'early_bird' && r.kind !== 'evening') continue;
    if (!r.days.includes(weekday)) continue;
    if (eMin < minutesOf(r.enterFrom) || eMin >= minutesOf(r.enterBefore)) continue;
    if (r.kind === 'early_bird') {
      if (xDay === eDay && xMin >= minutesOf(r.leaveAfter) && xMin < minutesOf(r.leaveBefore)) return r;
    } else if (xDay === eDay || (xDay === eDay + 1 && xMin < minutesOf(r.leaveBefore))) {
      return r;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Local time: UTC offset segments found with a few formatter calls, not one per unit

interface ZoneCache {
  fmt: Intl.DateTimeFormat;
  /** UTC offset (ms) at probe-grid instants. */
  offsets: Map<number, number>;
  /** First instant with the new offset, by the grid instant before it. */
  changes: Map<number, number>;
}

/**
 * Per zone: the formatter (building one costs more than a whole price) and the offsets found at
 * grid instants, which never change. Bounded: zone names are few, each map is cleared when large.
 */
const zones = new Map<string, ZoneCache>();
const ZONE_CACHE_MAX = 100_000;

function zoneCache(timeZone: string): ZoneCache {
  let z = zones.get(timeZone);
  if (z === undefined) {
    const fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      hourCycle: 'h23',
    });
    z = { fmt, offsets: new Map(), changes: new Map() };
    if (zones.size >= 1000) zones.clear();
    zones.set(timeZone, z);
  }
  return z;
}

function offsetAt(fmt: Intl.DateTimeFormat, t: number): number {
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  for (const p of fmt.formatToParts(t)) {
    if (p.type === 'year') y = Number(p.value);
    else if (p.type === 'month') mo = Number(p.value);
    else if (p.type === 'day') d = Number(p.value);
    else if (p.type === 'hour') h = Number(p.value) % 24;
    else if (p.type === 'minute') mi = Number(p.value);
  }
  const utcMinute = t - (((t % MIN) + MIN) % MIN);
  return Date.UTC(y, mo - 1, d, h, mi) - utcMinute;
}

function gridOffset(z: ZoneCache, t: number): number {
  let off = z.offsets.get(t);
  if (off === undefined) {
    off = offsetAt(z.fmt, t);
    if (z.offsets.size >= ZONE_CACHE_MAX) z.offsets.clear();
    z.offsets.set(t, off);
  }
  return off;
}

/** The minute in (lo, hi] where the offset becomes `off` (real zones change on a minute boundary). */
function changeBetween(z: ZoneCache, lo: number, hi: number, off: number): number {
  const known = z.changes.get(lo);
  if (known !== undefined) return known;
  let a = lo;
  let b = hi;
  while (b - a > MIN) {
    const mid = a + Math.floor((b - a) / 2 / MIN) * MIN;
    if (offsetAt(z.fmt, mid) === off) b = mid;
    else a = mid;
  }
  const at = a - (((a % MIN) + MIN) % MIN) + MIN;
  if (z.changes.size >= ZONE_CACHE_MAX) z.changes.clear();
  z.changes.set(lo, at);
  return at;
}

/** Probe grid step (UTC-aligned): real zones never change offset twice within it. */
const PROBE_MS = 12 * 3_600_000;

/** t → local wall-clock time as epoch-like ms, for t in [fromMs, toMs]. */
function localizer(timeZone: string, fromMs: number, toMs: number): (t: number) => number {
  const z = zoneCache(timeZone);
  let prev = Math.floor(fromMs / PROBE_MS) * PROBE_MS;
  const starts: number[] = [Number.NEGATIVE_INFINITY];
  const offsets: number[] = [gridOffset(z, prev)];
  while (prev < toMs) {
    const next = prev + PROBE_MS;
    const off = gridOffset(z, next);
    if (off !== offsets[offsets.length - 1]) {
      starts.push(changeBetween(z, prev, next, off));
      offsets.push(off);
    }
    prev = next;
  }
  if (starts.length === 1) {
    const off = offsets[0]!;
    return (t) => t + off;
  }
  return (t) => {
    let i = starts.length - 1;
    while (t < starts[i]!) i--;
    return t + offsets[i]!;
  };
}

function dayKey(day: number): string {
  return new Date(day * DAY).toISOString().slice(0, 10);
}
