import { z } from 'zod';
import type { VehicleType as DomainVehicleType } from './domain.js';

// domain.ts embeds the plan in the lot's configuration, so this file takes nothing from it at run
// time (an import cycle); the vehicle types are checked against domain.ts at compile time below.
const Currency = z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code, e.g. EUR');
const MinorUnits = z.number().int().safe();
const VEHICLE_TYPES = ['car', 'motorcycle', 'van', 'ev', 'accessible'] as const;
const VehicleType = z.enum(VEHICLE_TYPES);
type VehicleType = z.infer<typeof VehicleType>;
const sameVehicleTypes: [VehicleType, DomainVehicleType] extends [DomainVehicleType, VehicleType]
  ? true
  : false = true;
void sameVehicleTypes;

/**
 * A lot's rate plan: readable, ordered rules (docs/pricing.md). Validation refuses overlapping or
 * contradictory rules and names the rule; `protocol/pricing.ts` prices a stay with it.
 */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export const Weekday = z.enum(WEEKDAYS);
export type Weekday = z.infer<typeof Weekday>;

/** Local wall-clock time 'HH:MM'; '24:00' is the end of the day. */
export const LocalTime = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, "a local time 'HH:MM'");
/** A local calendar date 'YYYY-MM-DD'. */
export const LocalDate = z.iso.date();

const RuleName = z.string().min(1).max(60);
const Days = z
  .array(Weekday)
  .min(1)
  .max(7)
  .default([...WEEKDAYS]);

/** Minutes since local midnight of a valid 'HH:MM'. */
export function minutesOf(time: string): number {
  return Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));
}

export const BandRule = z.object({
  kind: z.literal('band'),
  name: RuleName,
  days: Days,
  /** Local time the band starts (inclusive) and ends (exclusive), same day; '24:00' = midnight. */
  from: LocalTime,
  to: LocalTime,
  /** Minor units per hour; every started 15-minute unit that starts inside the band costs a quarter. */
  hourlyRate: MinorUnits.nonnegative(),
});

export const EarlyBirdRule = z.object({
  kind: z.literal('early_bird'),
  name: RuleName,
  days: Days,
  /** Enter at or after enterFrom and before enterBefore… */
  enterFrom: LocalTime,
  enterBefore: LocalTime,
  /** …and leave the same local day at or after leaveAfter and before leaveBefore: pay `price`. */
  leaveAfter: LocalTime,
  leaveBefore: LocalTime.default('24:00'),
  price: MinorUnits.nonnegative(),
});

export const EveningRule = z.object({
  kind: z.literal('evening'),
  name: RuleName,
  /** Weekdays of the entry. */
  days: Days,
  enterFrom: LocalTime,
  enterBefore: LocalTime.default('24:00'),
  /** Leave the same evening or the next local day before this time: pay `price`. */
  leaveBefore: LocalTime,
  price: MinorUnits.nonnegative(),
});

export const EventRule = z.object({
  kind: z.literal('event'),
  name: RuleName,
  /** Local dates, both inclusive. */
  from: LocalDate,
  to: LocalDate,
  /** A stay entering on an event day pays this flat price… */
  price: MinorUnits.nonnegative().optional(),
  /** …or every unit on an event day costs this integer percent of its rate. */
  multiplierPct: z.number().int().min(10).max(1000).optional(),
});

export const RateRule = z.discriminatedUnion('kind', [BandRule, EarlyBirdRule, EveningRule, EventRule]);
export type RateRule = z.infer<typeof RateRule>;

const ruleSetShape = {
  /** Minor units per hour for any time no band covers. */
  hourlyRate: MinorUnits.nonnegative(),
  /** A stay of at most this many minutes (after grace) costs nothing. */
  freeMinutes: z.number().int().min(0).max(1440).default(0),
  /** Minutes at the end of a stay that are not charged (paying and driving out). */
  graceMinutes: z.number().int().min(0).max(120).default(0),
  /** Cap per local calendar day, or null. */
  dailyMax: MinorUnits.nonnegative().nullable().default(null),
  /** What a stay with no known entry (lost ticket) pays, or null when the lot has no such fee. */
  lostTicketFee: MinorUnits.nonnegative().nullable().default(null),
  rules: z.array(RateRule).max(50).default([]),
};

const RuleSetObject = z.object(ruleSetShape);
export const RuleSetSchema = RuleSetObject.superRefine((rs, ctx) => checkRuleSet(rs, ctx, []));
export type RuleSet = z.infer<typeof RuleSetObject>;

export const RatePlanSchema = z
  .object({
    currency: Currency,
    ...ruleSetShape,
    /** A whole rule set for a vehicle type that is priced differently (e.g. motorcycles). */
    vehicleTypes: z.partialRecord(VehicleType, RuleSetObject).default({}),
  })
  .superRefine((plan, ctx) => {
    checkRuleSet(plan, ctx, []);
    for (const [type, rs] of Object.entries(plan.vehicleTypes)) {
      if (rs !== undefined) checkRuleSet(rs, ctx, ['vehicleTypes', type]);
    }
  });
export type RatePlan = z.infer<typeof RatePlanSchema>;
export type RatePlanInput = z.input<typeof RatePlanSchema>;

type Issue = { message: string; path: (string | number)[] };
interface IssueSink {
  addIssue(issue: { code: 'custom'; message: string; path: (string | number)[] }): void;
}

function checkRuleSet(rs: RuleSet, ctx: IssueSink, base: (string | number)[]): void {
  for (const issue of ruleSetIssues(rs)) {
    ctx.addIssue({ code: 'custom', message: issue.message, path: [...base, ...issue.path] });
  }
}

/** Everything wrong with a rule set, each naming the rule (and its index in `rules`). */
export function ruleSetIssues(rs: RuleSet): Issue[] {
  const issues: Issue[] = [];
  const names = new Map<string, number>();
  rs.rules.forEach((rule, i) => {
    const at = (message: string) =>
      issues.push({ message: `rule '${rule.name}': ${message}`, path: ['rules', i] });
    const seen = names.get(rule.name);
    if (seen !== undefined) at(`the name is also used by rule ${seen}`);
    else names.set(rule.name, i);
    for (const m of ruleIssues(rule, rs.dailyMax)) at(m);
    for (let j = 0; j < i; j++) {
      const clash = overlap(rs.rules[j]!, rule);
      if (clash !== null) at(`overlaps rule '${rs.rules[j]!.name}' ${clash}`);
    }
  });
  return issues;
}

function ruleIssues(rule: RateRule, dailyMax: number | null): string[] {
  const out: string[] = [];
  const after = (a: string, b: string, what: string) => {
    if (minutesOf(a) >= minutesOf(b)) out.push(what);
  };
  const flat = (price: number) => {
    if (dailyMax !== null && price > dailyMax)
      out.push(`its price ${price} is above the daily maximum ${dailyMax}, so it could never apply`);
  };
  switch (rule.kind) {
    case 'band':
      after(rule.from, rule.to, `from ${rule.from} must be before to ${rule.to}`);
      break;
    case 'early_bird':
      after(
        rule.enterFrom,
        rule.enterBefore,
        `enterFrom ${rule.enterFrom} must be before enterBefore ${rule.enterBefore}`,
      );
      if (minutesOf(rule.enterBefore) > minutesOf(rule.leaveAfter))
        out.push(`leaveAfter ${rule.leaveAfter} must not be before enterBefore ${rule.enterBefore}`);
      after(
        rule.leaveAfter,
        rule.leaveBefore,
        `leaveAfter ${rule.leaveAfter} must be before leaveBefore ${rule.leaveBefore}`,
      );
      flat(rule.price);
      break;
    case 'evening':
      after(
        rule.enterFrom,
        rule.enterBefore,
        `enterFrom ${rule.enterFrom} must be before enterBefore ${rule.enterBefore}`,
      );
      if (rule.leaveBefore === '00:00' || rule.leaveBefore === '24:00')
        out.push('leaveBefore must be a time of the next morning, not midnight');
      else if (minutesOf(rule.leaveBefore) > minutesOf(rule.enterFrom))
        out.push(`leaveBefore ${rule.leaveBefore} (next day) must not be after enterFrom ${rule.enterFrom}`);
      flat(rule.price);
      break;
    case 'event':
      if (rule.from > rule.to) out.push(`from ${rule.from} must not be after to ${rule.to}`);
      if ((rule.price === undefined) === (rule.multiplierPct === undefined))
        out.push('give exactly one of price and multiplierPct');
      break;
  }
  return out;
}

/** Why two rules contradict each other, or null. Only rules of the same kind can clash. */
function overlap(a: RateRule, b: RateRule): string | null {
  if (a.kind === 'band' && b.kind === 'band') {
    const day = a.days.find((d) => b.days.includes(d));
    if (day === undefined) return null;
    const lo = Math.max(minutesOf(a.from), minutesOf(b.from));
    const hi = Math.min(minutesOf(a.to), minutesOf(b.to));
    return lo < hi ? `on ${day} from ${hhmm(lo)} to ${hhmm(hi)}` : null;
  }
  if (a.kind === 'event' && b.kind === 'event') {
    const lo = a.from > b.from ? a.from : b.from;
    const hi = a.to < b.to ? a.to : b.to;
    return lo <= hi ? `from ${lo} to ${hi}` : null;
  }
  if (
    (a.kind === 'early_bird' && b.kind === 'early_bird') ||
    (a.kind === 'evening' && b.kind === 'evening')
  ) {
    const day = a.days.find((d) => b.days.includes(d));
    if (day === undefined) return null;
    const lo = Math.max(minutesOf(a.enterFrom), minutesOf(b.enterFrom));
    const hi = Math.min(minutesOf(a.enterBefore), minutesOf(b.enterBefore));
    return lo < hi ? `on ${day}: both apply to an entry at ${hhmm(lo)}` : null;
  }
  return null;
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** The rule set that prices a vehicle type: its own when the plan has one, else the plan's. */
export function ruleSetFor(plan: RatePlan, vehicleType: VehicleType): RuleSet {
  return plan.vehicleTypes[vehicleType] ?? plan;
}

/** Today's flat card (hourly rate per started 15 minutes, daily cap) as a plan that prices identically. */
export function planFromRates(rates: {
  currency: string;
  hourlyRate: number;
  dailyMax: number | null;
}): RatePlan {
  return {
    currency: rates.currency,
    hourlyRate: rates.hourlyRate,
    freeMinutes: 0,
    graceMinutes: 0,
    dailyMax: rates.dailyMax,
    lostTicketFee: null,
    rules: [],
    vehicleTypes: {},
  };
}
