import { z } from 'zod';

/**
 * Time-of-week rules in a lot's time zone, shared by permits (access hours, docs/permits.md) and
 * lots (operating hours and closures, docs/permits.md#changing-a-lot): schemas and pure checks.
 */

const HHMM = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'a time of day "HH:MM" (00:00 to 24:00)')
  .meta({ description: 'local time of day, "HH:MM"; "24:00" is the end of the day' });

/** Minutes since local midnight of an "HH:MM" string already validated by HHMM. */
export function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** ISO weekday numbers: 1 = Monday … 7 = Sunday. */
export const AccessBandSchema = z
  .object({
    days: z.array(z.number().int().min(1).max(7)).min(1).max(7),
    from: HHMM,
    to: HHMM,
  })
  .refine((b) => minutesOf(b.from) < minutesOf(b.to), {
    message: 'a band ends after it starts ("from" before "to"; use 24:00 for midnight)',
    path: ['to'],
  });
export type AccessBand = z.infer<typeof AccessBandSchema>;

export interface LocalTime {
  /** 'YYYY-MM-DD' local date. */
  date: string;
  /** ISO weekday, 1 = Monday. */
  weekday: number;
  /** Minutes since local midnight. */
  minutes: number;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** One formatter per zone (building one costs more than a gate decision); bounded, immutable. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Weekday and time of day of an instant in an IANA zone. Throws RangeError for an unknown zone. */
export function localTimeOf(epochMs: number, timeZone: string): LocalTime {
  let fmt = formatters.get(timeZone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    if (formatters.size >= 1000) formatters.clear();
    formatters.set(timeZone, fmt);
  }
  let weekday = 0;
  let h = 0;
  let m = 0;
  let y = '';
  let mo = '';
  let d = '';
  for (const p of fmt.formatToParts(epochMs)) {
    if (p.type === 'weekday') weekday = WEEKDAYS[p.value] ?? 0;
    else if (p.type === 'year') y = p.value.padStart(4, '0');
    else if (p.type === 'month') mo = p.value;
    else if (p.type === 'day') d = p.value;
    else if (p.type === 'hour') h = Number(p.value) % 24;
    else if (p.type === 'minute') m = Number(p.value);
  }
  return { date: `${y}-${mo}-${d}`, weekday, minutes: h * 60 + m };
}

/** Whether a local time falls in one of the bands (no bands: always). */
export function inAccessHours(bands: readonly AccessBand[], t: LocalTime): boolean {
  if (bands.length === 0) return true;
  for (const b of bands) {
    if (b.days.includes(t.weekday) && t.minutes >= minutesOf(b.from) && t.minutes < minutesOf(b.to))
      return true;
  }
  return false;
}

const ISO_DATE = z.iso.date();

/** A day range the lot is closed (local dates, both inclusive), with the reason shown to drivers. */
export const ClosureSchema = z
  .object({
    id: z.string().min(1).max(64),
    from: ISO_DATE,
    to: ISO_DATE,
    reason: z.string().trim().min(1).max(200),
  })
  .refine((c) => c.from <= c.to, { message: '"to" is on or after "from"', path: ['to'] });
export type Closure = z.infer<typeof ClosureSchema>;

export type OpeningRefusal =
  | { rule: 'lot_closed'; closure: Closure; atMs: number }
  | { rule: 'outside_operating_hours'; atMs: number };

const SLOT_MS = 900_000;

/**
 * Is the lot open for the whole window [startMs, endMs)? Each 15-minute slot start is checked
 * against the closures (local date) and the operating hours (no hours = always open). Costs nothing
 * when the lot has neither.
 */
export function openingRefusal(
  rules: { operatingHours?: readonly AccessBand[] | undefined; closures?: readonly Closure[] | undefined },
  timeZone: string,
  startMs: number,
  endMs: number,
): OpeningRefusal | null {
  const hours = rules.operatingHours ?? [];
  const closures = rules.closures ?? [];
  if (hours.length === 0 && closures.length === 0) return null;
  for (let at = startMs; at < endMs; at += SLOT_MS) {
    const t = localTimeOf(at, timeZone);
    const closure = closures.find((c) => t.date >= c.from && t.date <= c.to);
    if (closure) return { rule: 'lot_closed', closure, atMs: at };
    if (!inAccessHours(hours, t)) return { rule: 'outside_operating_hours', atMs: at };
  }
  return null;
}
