import fc from 'fast-check';
import t from 'tap';
import {
  DEFAULT_WINDOW_POLICY,
  isSlotAligned,
  parseIsoTimestamp,
  SLOT_MINUTES,
  SLOT_MS,
  slotOf,
  slotStartMs,
  toIso,
  validateWindow,
  type WindowRefusalReason,
  windowOf,
} from '../slots.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
// 2025-01-06T09:07:00Z: mid-slot, so "current slot" and "past" differ.
const NOW = Date.UTC(2025, 0, 6, 9, 7);
const CUR = Date.UTC(2025, 0, 6, 9, 0);
const iso = (ms: number) => new Date(ms).toISOString();

t.test('constants and slot math', async (t) => {
  t.equal(SLOT_MINUTES, 15);
  t.equal(SLOT_MS, 900_000);
  t.equal(slotOf(0), 0);
  t.equal(slotOf(SLOT_MS - 1), 0);
  t.equal(slotOf(SLOT_MS), 1);
  t.equal(slotOf(-1), -1, 'floor, not truncation, before 1970');
  t.equal(slotStartMs(3), 2_700_000);
  t.ok(isSlotAligned(CUR));
  t.notOk(isSlotAligned(NOW));
  t.ok(isSlotAligned(-SLOT_MS));
  t.notOk(isSlotAligned(Number.NaN));
  t.notOk(isSlotAligned(Number.POSITIVE_INFINITY));
  t.notOk(isSlotAligned(CUR + 0.5));
});

t.test('slotOf / slotStartMs round-trip (property)', async () => {
  fc.assert(
    fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
      const s = slotOf(ms);
      return (
        slotStartMs(s) <= ms &&
        ms < slotStartMs(s + 1) &&
        isSlotAligned(slotStartMs(s)) &&
        slotOf(slotStartMs(s)) === s
      );
    }),
  );
});

t.test('accepts a valid window in several input forms', async (t) => {
  const start = CUR + HOUR;
  const end = start + 3 * HOUR;
  const expected = { startMs: start, endMs: end, startSlot: slotOf(start), endSlot: slotOf(end) };
  for (const [label, input] of [
    ['Z strings', { start: iso(start), end: iso(end) }],
    ['offset strings', { start: '2025-01-06T12:00:00+02:00', end: '2025-01-06T07:00:00-06:00' }],
    ['compact offset, no seconds', { start: '2025-01-06T10:00+0000', end: '2025-01-06T13:00+0000' }],
    ['lower-case t/z, fraction', { start: '2025-01-06t10:00:00.000z', end: '2025-01-06T13:00:00.000000Z' }],
    ['numbers', { start, end }],
    ['Dates', { start: new Date(start), end: new Date(end) }],
  ] as const) {
    t.same(validateWindow(input, DEFAULT_WINDOW_POLICY, NOW), { ok: true, value: expected }, label);
  }
  t.equal(expected.endSlot - expected.startSlot, 12);
});

t.test('refusals name the rule and the field', async (t) => {
  const P = DEFAULT_WINDOW_POLICY;
  const cases: Array<[string, { start: unknown; end: unknown }, WindowRefusalReason, 'start' | 'end']> = [
    ['no offset', { start: '2025-01-06T10:00:00', end: iso(CUR + 2 * HOUR) }, 'invalid_timestamp', 'start'],
    ['date only', { start: iso(CUR), end: '2025-01-07' }, 'invalid_timestamp', 'end'],
    ['garbage', { start: 'tomorrow', end: iso(CUR + HOUR) }, 'invalid_timestamp', 'start'],
    ['Feb 30', { start: '2025-02-30T10:00:00Z', end: '2025-03-01T10:00:00Z' }, 'invalid_timestamp', 'start'],
    ['hour 24', { start: iso(CUR), end: '2025-01-06T24:00:00Z' }, 'invalid_timestamp', 'end'],
    [
      'offset minutes 60',
      { start: '2025-01-06T10:00:00+01:60', end: iso(CUR + 2 * HOUR) },
      'invalid_timestamp',
      'start',
    ],
    ['NaN', { start: Number.NaN, end: CUR + HOUR }, 'invalid_timestamp', 'start'],
    ['Infinity', { start: CUR, end: Number.POSITIVE_INFINITY }, 'invalid_timestamp', 'end'],
    ['invalid Date', { start: new Date('x'), end: CUR + HOUR }, 'invalid_timestamp', 'start'],
    ['missing end', { start: CUR }, 'invalid_timestamp', 'end'] as never,
    ['numeric string', { start: String(CUR), end: CUR + HOUR }, 'invalid_timestamp', 'start'],
    ['unaligned start', { start: CUR + 5 * MIN, end: CUR + HOUR }, 'unaligned', 'start'],
    ['unaligned end', { start: CUR, end: CUR + HOUR + 1 }, 'unaligned', 'end'],
    [
      'sub-ms fraction',
      { start: '2025-01-06T10:00:00.0000001Z', end: iso(CUR + 2 * HOUR) },
      'unaligned',
      'start',
    ],
    ['empty', { start: CUR + HOUR, end: CUR + HOUR }, 'not_after_start', 'end'],
    ['reversed', { start: CUR + 2 * HOUR, end: CUR + HOUR }, 'not_after_start', 'end'],
    ['previous slot', { start: CUR - SLOT_MS, end: CUR + HOUR }, 'in_past', 'start'],
    ['too long', { start: CUR, end: CUR + 7 * DAY + SLOT_MS }, 'too_long', 'end'],
    ['end beyond horizon', { start: CUR + 89 * DAY, end: CUR + 90 * DAY + HOUR }, 'beyond_horizon', 'end'],
    [
      'start beyond horizon',
      { start: CUR + 91 * DAY, end: CUR + 91 * DAY + HOUR },
      'beyond_horizon',
      'start',
    ],
  ];
  for (const [label, input, reason, field] of cases) {
    const r = validateWindow(input as never, P, NOW);
    t.equal(r.ok, false, label);
    if (!r.ok) {
      t.equal(r.error.reason, reason, `${label}: reason`);
      t.equal(r.error.field, field, `${label}: field`);
      t.type(r.error.message, 'string');
      t.ok(r.error.message.length > 10, `${label}: message says something`);
    }
  }
});

t.test('boundaries', async (t) => {
  const P = DEFAULT_WINDOW_POLICY;
  t.ok(validateWindow({ start: CUR, end: CUR + SLOT_MS }, P, NOW).ok, 'may start in the current slot');
  t.ok(validateWindow({ start: CUR, end: CUR + 7 * DAY }, P, NOW).ok, 'exactly the max duration');
  // Horizon: end <= now + 90 d. NOW is mid-slot, so the last aligned end is the slot start before it.
  const lastEnd = slotStartMs(slotOf(NOW + 90 * DAY));
  t.ok(validateWindow({ start: lastEnd - HOUR, end: lastEnd }, P, NOW).ok, 'end at the horizon');
  t.notOk(validateWindow({ start: lastEnd - HOUR, end: lastEnd + SLOT_MS }, P, NOW).ok, 'one slot past it');
  t.ok(
    validateWindow(
      { start: CUR, end: CUR + 30 * MIN },
      { maxDurationMinutes: 30, bookingHorizonDays: 1 },
      NOW,
    ).ok,
  );
  t.notOk(
    validateWindow(
      { start: CUR, end: CUR + 45 * MIN },
      { maxDurationMinutes: 30, bookingHorizonDays: 1 },
      NOW,
    ).ok,
  );
  t.equal(
    parseIsoTimestamp('0001-01-01T00:00:00Z'),
    Date.UTC(2000, 0, 1) - 730_119 * DAY,
    'years < 100 are not 19xx',
  );
  t.equal(parseIsoTimestamp('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29), 'leap day');
  t.equal(parseIsoTimestamp('2023-02-29T00:00:00Z'), null, 'not a leap year');
  t.equal(parseIsoTimestamp('2100-02-29T00:00:00Z'), null, 'century rule');
});

t.test('never throws, whatever the input (property)', async () => {
  const policy = DEFAULT_WINDOW_POLICY;
  fc.assert(
    fc.property(fc.anything(), fc.anything(), fc.anything(), (input, start, end) => {
      for (const candidate of [input, { start, end }]) {
        const r = validateWindow(candidate as never, policy, NOW);
        if (r.ok !== true && r.ok !== false) return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string(), fc.string(), (start, end) => {
      validateWindow({ start, end }, policy, NOW);
    }),
  );
});

t.test(
  'accepted windows obey every rule; aligned windows inside the policy are accepted (property)',
  async () => {
    const policy = DEFAULT_WINDOW_POLICY;
    const slotNow = slotOf(NOW);
    fc.assert(
      fc.property(
        fc.integer({ min: slotNow - 200, max: slotNow + 96 * 95 }),
        fc.integer({ min: -5, max: 800 }),
        fc.boolean(),
        (startSlot, len, asString) => {
          const start = slotStartMs(startSlot);
          const end = slotStartMs(startSlot + len);
          const r = validateWindow(
            asString ? { start: iso(start), end: iso(end) } : { start, end },
            policy,
            NOW,
          );
          const valid =
            len > 0 && startSlot >= slotNow && len * 15 <= policy.maxDurationMinutes && end <= NOW + 90 * DAY;
          if (r.ok !== valid) return false;
          if (r.ok) {
            return (
              r.value.startSlot === startSlot &&
              r.value.endSlot === startSlot + len &&
              r.value.startMs === start
            );
          }
          return true;
        },
      ),
      { numRuns: 3000 },
    );
  },
);

t.test('ISO parsing round-trips toIso and respects offsets (property)', async () => {
  fc.assert(
    fc.property(
      fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2200, 0, 1) }),
      fc.integer({ min: -14 * 60, max: 14 * 60 }),
      (ms, offsetMin) => {
        if (parseIsoTimestamp(toIso(ms)) !== ms) return false;
        const local = new Date(ms + offsetMin * MIN).toISOString().slice(0, 23);
        const abs = Math.abs(offsetMin);
        const off = `${offsetMin < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        return parseIsoTimestamp(local + off) === ms;
      },
    ),
  );
});

t.test('windowOf and toIso', async (t) => {
  t.same(windowOf(CUR, CUR + HOUR), {
    startMs: CUR,
    endMs: CUR + HOUR,
    startSlot: slotOf(CUR),
    endSlot: slotOf(CUR) + 4,
  });
  t.equal(windowOf(CUR, CUR + HOUR + 1).endSlot, slotOf(CUR) + 5, 'a started end slot is covered');
  t.equal(toIso(CUR), '2025-01-06T09:00:00.000Z');
  t.throws(() => toIso(Number.NaN), RangeError);
});
