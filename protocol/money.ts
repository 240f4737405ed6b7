/**
 * Money as integer minor units plus an ISO 4217 code. No floating point touches an amount.
 *
 * Pricing rule (docs/architecture.md#money-and-pricing), computed exactly:
 *  1. Every started 15-minute slot of the window costs hourlyRate / 4. Work in quarter-minor-units
 *     (slots × hourlyRate) so nothing is rounded per slot.
 *  2. Slots are grouped by the calendar day, in the lot's IANA time zone, of the slot's start
 *     (a DST day has 92 or 100 slots). Each day's subtotal is rounded ONCE, half up, to minor
 *     units: floor((quarters + 2) / 4). Then it is capped at dailyMax when one is set.
 *  3. The day subtotals are summed and the demand multiplier (integer percent) is applied once to
 *     the total, rounding half up: floor((total × pct + 50) / 100).
 * Overstay uses the same quarter-unit rounding: floor((hourlyRate × slots + 2) / 4).
 */
import { SLOT_MS, slotOf, slotStartMs } from './slots.js';

export interface Money {
  /** Safe integer, minor units (cents, pence, yen). */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
}

export interface DemandStep {
  /** The step applies from this occupancy (inclusive) up to the next step. */
  fromOccupancyPct: number;
  /** Integer percent, 100 = list price. */
  multiplierPct: number;
}

export interface RateCard {
  currency: string;
  /** Minor units per hour; a slot costs a quarter of it. */
  hourlyRate: number;
  /** Cap per local calendar day, minor units, or null for none. */
  dailyMax: number | null;
  dynamicPricing: DemandStep[] | null;
}

const CURRENCY_RE = /^[A-Z]{3}$/;
const SLOTS_PER_DAY_NOMINAL_MINUTES = 1440;

function assertCurrency(currency: string): void {
  if (typeof currency !== 'string' || !CURRENCY_RE.test(currency)) {
    throw new RangeError(`currency must be an upper-case ISO 4217 code, got ${String(currency)}`);
  }
}

function assertAmount(what: string, amount: number): void {
  if (!Number.isSafeInteger(amount))
    throw new RangeError(`${what} must be a safe integer (minor units), got ${amount}`);
}

function assertNonNegativeAmount(what: string, amount: number): void {
  assertAmount(what, amount);
  if (amount < 0) throw new RangeError(`${what} must not be negative, got ${amount}`);
}

/** Construct a Money, asserting the amount is a safe integer (negative allowed: refunds, credits). */
export function money(amount: number, currency: string): Money {
  assertAmount('amount', amount);
  assertCurrency(currency);
  return { amount, currency };
}

export function addMoney(a: Money, b: Money): Money {
  if (a.currency !== b.currency) throw new TypeError(`cannot add ${a.currency} and ${b.currency}`);
  return money(a.amount + b.amount, a.currency);
}

/**
 * Step function: the multiplier of the highest step whose threshold is <= occupancy.
 * 100 when there are no steps or occupancy is below every step. Steps need not be sorted.
 */
export function demandMultiplierPct(steps: DemandStep[] | null, occupancyPct: number): number {
  if (!Number.isFinite(occupancyPct))
    throw new RangeError(`occupancyPct must be finite, got ${occupancyPct}`);
  if (steps === null || steps.length === 0) return 100;
  let best: DemandStep | null = null;
  for (const step of steps) {
    if (
      step.fromOccupancyPct <= occupancyPct &&
      (best === null || step.fromOccupancyPct >= best.fromOccupancyPct)
    ) {
      best = step;
    }
  }
  return best === null ? 100 : best.multiplierPct;
}

function assertRateCard(rates: RateCard): void {
  assertCurrency(rates.currency);
  assertNonNegativeAmount('hourlyRate', rates.hourlyRate);
  if (rates.dailyMax !== null) assertNonNegativeAmount('dailyMax', rates.dailyMax);
  for (const step of rates.dynamicPricing ?? []) {
    if (!Number.isFinite(step.fromOccupancyPct)) throw new RangeError('fromOccupancyPct must be finite');
    assertNonNegativeAmount('multiplierPct', step.multiplierPct);
  }
}

/** Half-up rounding of a non-negative count of quarter-minor-units to minor units. */
function quartersToMinor(quarters: number): number {
  const minor = Math.floor((quarters + 2) / 4);
  assertAmount('price', minor);
  return minor;
}

interface LocalClock {
  /** 'YYYY-MM-DD' and minutes since local midnight at an instant. */
  at(epochMs: number): { day: string; minutes: number };
}

/**
 * Formatters by zone. Building an Intl.DateTimeFormat costs tens of microseconds, more than a
 * whole price; a formatter is immutable, so one per zone is shared (bounded: zone names are few).
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function localClock(timeZone: string): LocalClock {
  let fmt = formatters.get(timeZone);
  if (fmt === undefined) {
    fmt = newFormatter(timeZone);
    if (formatters.size >= 1000) formatters.clear();
    formatters.set(timeZone, fmt);
  }
  return clockOf(fmt);
}

function newFormatter(timeZone: string): Intl.DateTimeFormat {
  // Parts, not a formatted string, so the result does not depend on the locale's layout.
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
}

function clockOf(fmt: Intl.DateTimeFormat): LocalClock {
  return {
    at(epochMs: number) {
      let y = '';
      let mo = '';
      let d = '';
      let h = 0;
      let mi = 0;
      for (const p of fmt.formatToParts(epochMs)) {
        if (p.type === 'year') y = p.value.padStart(4, '0');
        else if (p.type === 'month') mo = p.value;
        else if (p.type === 'day') d = p.value;
        else if (p.type === 'hour') h = Number(p.value) % 24;
        else if (p.type === 'minute') mi = Number(p.value);
      }
      return { day: `${y}-${mo}-${d}`, minutes: h * 60 + mi };
    },
  };
}

/** 'YYYY-MM-DD' of an instant in an IANA time zone. Throws RangeError for an unknown zone. */
export function localDayKey(epochMs: number, timeZone: string): string {
  return localClock(timeZone).at(epochMs).day;
}

/** Reusable day-key function for one zone (building an Intl formatter is the expensive part). */
export function localDayKeyer(timeZone: string): (epochMs: number) => string {
  const clock = localClock(timeZone);
  return (epochMs) => clock.at(epochMs).day;
}

export interface DaySlots {
  day: string;
  slots: number;
}

/**
 * The started slots of [startMs, endMs) grouped by local calendar day of each slot's start.
 * Uses a few formatter calls per day, not one per slot: guess the next local midnight from the
 * local time of day, then step to the exact boundary (DST days are a few slots off the guess).
 * Relies on local dates never going backwards, which holds for real zone transitions.
 */
export function slotsByLocalDay(startMs: number, endMs: number, timeZone: string): DaySlots[] {
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs))
    throw new RangeError('window bounds must be finite');
  if (endMs < startMs) throw new RangeError('window end is before its start');
  const clock = localClock(timeZone);
  const dayOfSlot = (slot: number) => clock.at(slotStartMs(slot)).day;
  const out: DaySlots[] = [];
  const endSlot = Math.ceil(endMs / SLOT_MS);
  let s = slotOf(startMs);
  while (s < endSlot) {
    const { day, minutes } = clock.at(slotStartMs(s));
    let next = Math.min(s + Math.max(1, Math.ceil((SLOTS_PER_DAY_NOMINAL_MINUTES - minutes) / 15)), endSlot);
    while (next - 1 > s && dayOfSlot(next - 1) !== day) next--;
    while (next < endSlot && dayOfSlot(next) === day) next++;
    out.push({ day, slots: next - s });
    s = next;
  }
  return out;
}

/** Price of a window; see the module comment for the exact rule. occupancyPct defaults to 0. */
export function priceWindow(
  rates: RateCard,
  window: { startMs: number; endMs: number },
  timeZone: string,
  occupancyPct = 0,
): Money {
  assertRateCard(rates);
  let total = 0;
  for (const { slots } of slotsByLocalDay(window.startMs, window.endMs, timeZone)) {
    const day = quartersToMinor(slots * rates.hourlyRate);
    total += rates.dailyMax === null ? day : Math.min(day, rates.dailyMax);
  }
  const pct = demandMultiplierPct(rates.dynamicPricing, occupancyPct);
  if (pct !== 100) total = Math.floor((total * pct + 50) / 100);
  return money(total, rates.currency);
}

/**
 * Overstay fee. The grace is a threshold, not a deduction: leaving within it costs nothing; past
 * it, every started 15 minutes of the whole overstay is charged at hourlyRate / 4 (no daily cap).
 */
export function overstayCharge(rates: RateCard, overstayMs: number, graceMinutes: number): Money {
  assertRateCard(rates);
  if (!Number.isFinite(overstayMs)) throw new RangeError(`overstayMs must be finite, got ${overstayMs}`);
  if (overstayMs <= 0 || overstayMs <= graceMinutes * 60_000) return money(0, rates.currency);
  const slots = Math.ceil(overstayMs / SLOT_MS);
  return money(quartersToMinor(slots * rates.hourlyRate), rates.currency);
}

/** ISO 4217 minor-unit digits as Intl knows them (EUR 2, JPY 0, BHD 3). */
export function currencyMinorDigits(currency: string): number {
  assertCurrency(currency);
  return (
    new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
  );
}

/**
 * Display string, e.g. "€12.50". The decimal is built from the integer digits and handed to Intl
 * as a string, so no float division is involved even for huge amounts.
 */
export function formatMoney(m: Money, locale = 'en-GB'): string {
  assertAmount('amount', m.amount);
  const nf = new Intl.NumberFormat(locale, { style: 'currency', currency: m.currency });
  const digits = nf.resolvedOptions().maximumFractionDigits ?? 2;
  const abs = String(Math.abs(m.amount)).padStart(digits + 1, '0');
  const whole = digits === 0 ? abs : `${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
  return nf.format(`${m.amount < 0 ? '-' : ''}${whole}` as Intl.StringNumericLiteral);
}
