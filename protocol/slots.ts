/**
 * Slot math: a slot is 15 minutes of UTC time, index = floor(epochMs / 900000).
 * A window [start, end) covers slots slotOf(start) … slotOf(end) - 1.
 */
import { err, ok, type Result } from './result.js';

export const SLOT_MINUTES = 15;
export const SLOT_MS = 900_000;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export function slotOf(epochMs: number): number {
  return Math.floor(epochMs / SLOT_MS);
}

export function slotStartMs(slot: number): number {
  return slot * SLOT_MS;
}

export function isSlotAligned(epochMs: number): boolean {
  return Number.isFinite(epochMs) && epochMs % SLOT_MS === 0;
}

export interface WindowPolicy {
  /** Longest bookable window, default 10080 (7 days). */
  maxDurationMinutes: number;
  /** How far ahead a window may end, default 90 days. */
  bookingHorizonDays: number;
}

export const DEFAULT_WINDOW_POLICY: WindowPolicy = Object.freeze({
  maxDurationMinutes: 10_080,
  bookingHorizonDays: 90,
});

export interface SlotWindow {
  startMs: number;
  endMs: number;
  startSlot: number;
  /** Exclusive. */
  endSlot: number;
}

export type WindowRefusalReason =
  | 'invalid_timestamp'
  | 'unaligned'
  | 'not_after_start'
  | 'too_long'
  | 'beyond_horizon'
  | 'in_past';

export interface WindowRefusal {
  reason: WindowRefusalReason;
  field: 'start' | 'end';
  /** Human-readable, safe to show to an API client. */
  message: string;
}

// RFC 3339 / ISO-8601 extended date-time; the offset (Z or ±hh:mm) is mandatory because a
// local time without an offset is ambiguous across lots in different zones.
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

// Largest |epoch ms| a JS Date can represent.
const MAX_DATE_MS = 8.64e15;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

interface ParsedInstant {
  /** Whole epoch ms (sub-millisecond digits truncated). */
  ms: number;
  /** True when the text carried non-zero digits below the millisecond: never slot-aligned. */
  subMillisecond: boolean;
}

function parseIso(s: string): ParsedInstant | null {
  if (s.length > 40) return null;
  const m = ISO_RE.exec(s);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const fraction = m[7] ?? '';
  const millis = Number(fraction.slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const offH = Number(m[10]);
    const offM = Number(m[11]);
    if (offH > 23 || offM > 59) return null;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offH * 60 + offM);
  }
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0..99 to 1900..1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, millis);
  const ms = d.getTime() - offsetMinutes * MINUTE_MS;
  if (!Number.isFinite(ms)) return null;
  return { ms, subMillisecond: /[1-9]/.test(fraction.slice(3)) };
}

/**
 * Parse an ISO-8601 timestamp with a mandatory offset into epoch ms, or null.
 * Validated field by field rather than via Date.parse, which silently accepts offset-less
 * strings (as local time) and other engine-specific shapes. Sub-millisecond digits are truncated.
 */
export function parseIsoTimestamp(s: string): number | null {
  return typeof s === 'string' ? (parseIso(s)?.ms ?? null) : null;
}

/** Any accepted wire/internal form → epoch ms, or null. Never throws. */
export function toEpochMs(value: unknown): number | null {
  return toInstant(value)?.ms ?? null;
}

function toInstant(value: unknown): ParsedInstant | null {
  if (typeof value === 'number') {
    return Number.isFinite(value) && Math.abs(value) <= MAX_DATE_MS
      ? { ms: value, subMillisecond: false }
      : null;
  }
  if (typeof value === 'string') return parseIso(value);
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isFinite(ms) ? { ms, subMillisecond: false } : null;
  }
  return null;
}

function describe(ms: number): string {
  return Number.isInteger(ms) && Math.abs(ms) <= MAX_DATE_MS ? toIso(ms) : String(ms);
}

function refuse(
  reason: WindowRefusalReason,
  field: 'start' | 'end',
  message: string,
): Result<SlotWindow, WindowRefusal> {
  return err({ reason, field, message });
}

function readField(input: unknown, field: 'start' | 'end'): unknown {
  if (typeof input !== 'object' || input === null) return undefined;
  try {
    return (input as Record<string, unknown>)[field];
  } catch {
    // A hostile getter or proxy is just another invalid timestamp.
    return undefined;
  }
}

/**
 * Validate a requested booking window. Checks run in a fixed order so a client always sees the
 * most basic problem first: parse, alignment, order, past, length, horizon.
 * Never throws, whatever `input` is.
 */
export function validateWindow(
  input: { start: string | number | Date; end: string | number | Date },
  policy: WindowPolicy,
  nowMs: number,
): Result<SlotWindow, WindowRefusal> {
  const start = toInstant(readField(input, 'start'));
  if (start === null) {
    return refuse(
      'invalid_timestamp',
      'start',
      'start must be an ISO-8601 timestamp with an offset, e.g. 2025-03-30T10:00:00Z',
    );
  }
  const end = toInstant(readField(input, 'end'));
  if (end === null) {
    return refuse(
      'invalid_timestamp',
      'end',
      'end must be an ISO-8601 timestamp with an offset, e.g. 2025-03-30T12:00:00Z',
    );
  }
  const startMs = start.ms;
  const endMs = end.ms;
  if (start.subMillisecond || !isSlotAligned(startMs)) {
    return refuse(
      'unaligned',
      'start',
      `start must be on a ${SLOT_MINUTES}-minute boundary (:00, :15, :30, :45), got ${describe(startMs)}`,
    );
  }
  if (end.subMillisecond || !isSlotAligned(endMs)) {
    return refuse(
      'unaligned',
      'end',
      `end must be on a ${SLOT_MINUTES}-minute boundary (:00, :15, :30, :45), got ${describe(endMs)}`,
    );
  }
  if (endMs <= startMs) {
    return refuse(
      'not_after_start',
      'end',
      `end (${describe(endMs)}) must be after start (${describe(startMs)})`,
    );
  }
  // The current slot is still bookable: someone arriving at 10:07 may book from 10:00.
  const earliest = slotStartMs(slotOf(nowMs));
  if (startMs < earliest) {
    return refuse(
      'in_past',
      'start',
      `start must not be before the current slot (${describe(earliest)}), got ${describe(startMs)}`,
    );
  }
  const maxMs = policy.maxDurationMinutes * MINUTE_MS;
  if (endMs - startMs > maxMs) {
    return refuse(
      'too_long',
      'end',
      `window is longer than the maximum of ${policy.maxDurationMinutes} minutes`,
    );
  }
  const horizonMs = nowMs + policy.bookingHorizonDays * DAY_MS;
  if (endMs > horizonMs) {
    // If even the start lies at or past the horizon, no window could start there: blame start.
    const field = startMs >= horizonMs ? 'start' : 'end';
    return refuse(
      'beyond_horizon',
      field,
      `${field} is beyond the booking horizon of ${policy.bookingHorizonDays} days (${describe(horizonMs)})`,
    );
  }
  return ok(windowOf(startMs, endMs));
}

/**
 * Window for trusted data (rows already validated). An unaligned end still covers its started
 * slot, so the window never under-covers the time it describes.
 */
export function windowOf(startMs: number, endMs: number): SlotWindow {
  return { startMs, endMs, startSlot: slotOf(startMs), endSlot: Math.ceil(endMs / SLOT_MS) };
}

/** UTC ISO string, e.g. 2025-03-30T10:00:00.000Z. Throws RangeError for non-finite input. */
export function toIso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
