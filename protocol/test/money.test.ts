import fc from 'fast-check';
import t from 'tap';
import {
  addMoney,
  currencyMinorDigits,
  type DemandStep,
  demandMultiplierPct,
  formatMoney,
  localDayKey,
  localDayKeyer,
  money,
  overstayCharge,
  priceWindow,
  type RateCard,
  slotsByLocalDay,
} from '../money.js';
import { SLOT_MS, slotOf } from '../slots.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const utc = (y: number, mo: number, d: number, h = 0, mi = 0) => Date.UTC(y, mo - 1, d, h, mi);
const card = (
  hourlyRate: number,
  dailyMax: number | null = null,
  dynamicPricing: DemandStep[] | null = null,
): RateCard => ({
  currency: 'EUR',
  hourlyRate,
  dailyMax,
  dynamicPricing,
});
const STEPS: DemandStep[] = [
  { fromOccupancyPct: 0, multiplierPct: 100 },
  { fromOccupancyPct: 80, multiplierPct: 125 },
  { fromOccupancyPct: 95, multiplierPct: 150 },
];

t.test('priceWindow: table', async (t) => {
  const cases: Array<{
    name: string;
    rates: RateCard;
    start: number;
    end: number;
    tz: string;
    occ?: number;
    want: number;
  }> = [
    {
      name: 'plain hours',
      rates: card(200),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 13),
      tz: 'Europe/London',
      want: 600,
    },
    {
      name: 'one minute = one started slot',
      rates: card(200),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 10, 1),
      tz: 'UTC',
      want: 50,
    },
    {
      name: 'partial slots at both ends',
      rates: card(200),
      start: utc(2025, 1, 6, 10, 7),
      end: utc(2025, 1, 6, 10, 22),
      tz: 'UTC',
      want: 100,
    },
    {
      name: 'empty window',
      rates: card(200),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 10),
      tz: 'UTC',
      want: 0,
    },
    {
      name: 'odd rate, 1 slot: 62.5 → 63 (half up)',
      rates: card(250),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 10, 15),
      tz: 'UTC',
      want: 63,
    },
    {
      name: 'odd rate, 2 slots: 125',
      rates: card(250),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 10, 30),
      tz: 'UTC',
      want: 125,
    },
    {
      name: 'odd rate, 3 slots: 187.5 → 188, rounded once per day not per slot',
      rates: card(250),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 10, 45),
      tz: 'UTC',
      want: 188,
    },
    {
      name: 'rate 333, 3 slots: 249.75 → 250',
      rates: card(333),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 10, 45),
      tz: 'UTC',
      want: 250,
    },
    {
      name: 'rate 1, 1 slot: 0.25 → 0',
      rates: card(1),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 10, 15),
      tz: 'UTC',
      want: 0,
    },
    // Mon 18:00–24:00 = 2400 (under cap), Tue 00:00–08:00 = 3200 → capped at 2500.
    {
      name: 'cap hit on one day of two',
      rates: card(400, 2500),
      start: utc(2025, 1, 6, 18),
      end: utc(2025, 1, 7, 8),
      tz: 'Europe/London',
      want: 4900,
    },
    // Mon 6h = 2400, Tue capped 2500, Wed 10h capped 2500.
    {
      name: 'cap over three days',
      rates: card(400, 2500),
      start: utc(2025, 1, 6, 18),
      end: utc(2025, 1, 8, 10),
      tz: 'Europe/London',
      want: 7400,
    },
    // 22:00–02:00 Berlin (UTC+1): 2 h + 2 h local = 800 + 800. Grouping by UTC days would give 1000 + 400.
    {
      name: 'across local midnight (Berlin)',
      rates: card(400, 1000),
      start: utc(2025, 1, 6, 21),
      end: utc(2025, 1, 7, 1),
      tz: 'Europe/Berlin',
      want: 1600,
    },
    // Same instants in Tokyo (UTC+9): 06:00–10:00 local, one day, capped.
    {
      name: 'same instants, one local day (Tokyo)',
      rates: card(400, 1000),
      start: utc(2025, 1, 6, 21),
      end: utc(2025, 1, 7, 1),
      tz: 'Asia/Tokyo',
      want: 1000,
    },
    // London spring forward 2025-03-30: local day = 23 h = 92 slots.
    {
      name: 'London spring-forward day: 92 slots',
      rates: card(100),
      start: utc(2025, 3, 30, 0),
      end: utc(2025, 3, 30, 23),
      tz: 'Europe/London',
      want: 2300,
    },
    {
      name: 'London spring-forward day: cap',
      rates: card(100, 2200),
      start: utc(2025, 3, 30, 0),
      end: utc(2025, 3, 30, 23),
      tz: 'Europe/London',
      want: 2200,
    },
    // London fall back 2025-10-26: local day = 25 h = 100 slots (BST midnight = 23:00Z the day before).
    {
      name: 'London fall-back day: 100 slots',
      rates: card(100),
      start: utc(2025, 10, 25, 23),
      end: utc(2025, 10, 27, 0),
      tz: 'Europe/London',
      want: 2500,
    },
    {
      name: 'London fall-back day: cap at 2400',
      rates: card(100, 2400),
      start: utc(2025, 10, 25, 23),
      end: utc(2025, 10, 27, 0),
      tz: 'Europe/London',
      want: 2400,
    },
    // New York spring forward 2025-03-09 (EST midnight = 05:00Z; next midnight EDT = 04:00Z).
    {
      name: 'New York spring-forward day: 92 slots',
      rates: card(100),
      start: utc(2025, 3, 9, 5),
      end: utc(2025, 3, 10, 4),
      tz: 'America/New_York',
      want: 2300,
    },
    // New York fall back 2025-11-02 (EDT midnight = 04:00Z; next midnight EST = 05:00Z).
    {
      name: 'New York fall-back day: 100 slots',
      rates: card(100),
      start: utc(2025, 11, 2, 4),
      end: utc(2025, 11, 3, 5),
      tz: 'America/New_York',
      want: 2500,
    },
    // Two capped days around the NY fall-back: the 25-hour day is still one day.
    {
      name: 'New York fall-back, capped per local day',
      rates: card(400, 5000),
      start: utc(2025, 11, 2, 4),
      end: utc(2025, 11, 4, 5),
      tz: 'America/New_York',
      want: 10_000,
    },
    {
      name: 'multiplier below first raise',
      rates: card(200, null, STEPS),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 13),
      tz: 'UTC',
      occ: 79.9,
      want: 600,
    },
    {
      name: 'multiplier 125% at 80%',
      rates: card(200, null, STEPS),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 13),
      tz: 'UTC',
      occ: 80,
      want: 750,
    },
    {
      name: 'multiplier 150% at 95%',
      rates: card(200, null, STEPS),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 13),
      tz: 'UTC',
      occ: 95,
      want: 900,
    },
    {
      name: 'multiplier rounds half up once: 63 × 1.25 = 78.75 → 79',
      rates: card(250, null, STEPS),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 10, 15),
      tz: 'UTC',
      occ: 90,
      want: 79,
    },
    {
      name: 'multiplier applies after the cap',
      rates: card(400, 2500, STEPS),
      start: utc(2025, 1, 6, 0),
      end: utc(2025, 1, 7, 0),
      tz: 'UTC',
      occ: 100,
      want: 3750,
    },
    {
      name: 'occupancy defaults to 0',
      rates: card(200, null, [{ fromOccupancyPct: 0, multiplierPct: 90 }]),
      start: utc(2025, 1, 6, 10),
      end: utc(2025, 1, 6, 11),
      tz: 'UTC',
      want: 180,
    },
  ];
  for (const c of cases) {
    const got = priceWindow(c.rates, { startMs: c.start, endMs: c.end }, c.tz, c.occ);
    t.same(got, { amount: c.want, currency: 'EUR' }, c.name);
  }
});

t.test('slotsByLocalDay: DST days and zones with odd offsets', async (t) => {
  t.same(slotsByLocalDay(utc(2025, 3, 29), utc(2025, 4, 1), 'Europe/London'), [
    { day: '2025-03-29', slots: 96 },
    { day: '2025-03-30', slots: 92 },
    { day: '2025-03-31', slots: 96 },
    { day: '2025-04-01', slots: 4 },
  ]);
  t.same(slotsByLocalDay(utc(2025, 10, 25, 23), utc(2025, 10, 27, 23), 'Europe/London'), [
    { day: '2025-10-26', slots: 100 },
    { day: '2025-10-27', slots: 92 },
  ]);
  // Lord Howe shifts by 30 minutes: on 2025-04-06 it falls back from +11 to +10:30, a 24.5 h day.
  const lh = slotsByLocalDay(utc(2025, 4, 5, 13), utc(2025, 4, 6, 13, 30), 'Australia/Lord_Howe');
  t.same(lh, [{ day: '2025-04-06', slots: 98 }], 'Lord Howe fall-back day is 24.5 h');
  t.same(
    slotsByLocalDay(utc(2025, 1, 6, 18, 15), utc(2025, 1, 6, 18, 45), 'Asia/Kathmandu'),
    [{ day: '2025-01-07', slots: 2 }],
    '+05:45: 18:15Z is 00:00 next day',
  );
  t.same(slotsByLocalDay(utc(2025, 1, 6, 18, 0), utc(2025, 1, 6, 18, 30), 'Asia/Kathmandu'), [
    { day: '2025-01-06', slots: 1 },
    { day: '2025-01-07', slots: 1 },
  ]);
  t.throws(() => slotsByLocalDay(2, 1, 'UTC'), RangeError);
  t.throws(() => slotsByLocalDay(0, 1, 'Not/AZone'), RangeError);
});

t.test('slotsByLocalDay equals naive per-slot grouping (property)', async () => {
  const zones = [
    'UTC',
    'Europe/London',
    'America/New_York',
    'Australia/Lord_Howe',
    'Asia/Kathmandu',
    'Pacific/Chatham',
    'America/Santiago',
    'America/Sao_Paulo',
    'Pacific/Apia',
    'America/St_Johns',
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...zones),
      fc.integer({ min: utc(2010, 1, 1), max: utc(2030, 1, 1) }),
      fc.integer({ min: 0, max: 96 * 10 }),
      fc.boolean(),
      (tz, startRaw, slots, nearDst) => {
        // Half the runs start near a March/October/April/September change, where bugs live.
        const start = nearDst
          ? utc(2011 + (startRaw % 19), [3, 4, 9, 10, 11][startRaw % 5]!, 1 + (startRaw % 28))
          : startRaw;
        const end = start + slots * SLOT_MS - (startRaw % 7) * MIN;
        if (end < start) return true;
        const key = localDayKeyer(tz);
        const naive: { day: string; slots: number }[] = [];
        for (let s = slotOf(start); s < Math.ceil(end / SLOT_MS); s++) {
          const day = key(s * SLOT_MS);
          const last = naive[naive.length - 1];
          if (last && last.day === day) last.slots++;
          else naive.push({ day, slots: 1 });
        }
        return JSON.stringify(slotsByLocalDay(start, end, tz)) === JSON.stringify(naive);
      },
    ),
    { numRuns: 400 },
  );
});

t.test('pricing invariants (property)', async () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 100_000 }),
      fc.option(fc.integer({ min: 0, max: 500_000 }), { nil: null }),
      fc.integer({ min: utc(2024, 1, 1), max: utc(2027, 1, 1) }),
      fc.integer({ min: 0, max: 8 * 24 * 60 }),
      (rate, cap, start, minutes) => {
        const w = { startMs: start, endMs: start + minutes * MIN };
        const capped = priceWindow(card(rate, cap), w, 'Europe/London').amount;
        const uncapped = priceWindow(card(rate), w, 'Europe/London').amount;
        const longer = priceWindow(
          card(rate, cap),
          { startMs: w.startMs, endMs: w.endMs + SLOT_MS },
          'Europe/London',
        ).amount;
        return Number.isSafeInteger(capped) && capped <= uncapped && capped >= 0 && longer >= capped;
      },
    ),
    { numRuns: 300 },
  );
});

t.test('demandMultiplierPct', async (t) => {
  t.equal(demandMultiplierPct(null, 99), 100);
  t.equal(demandMultiplierPct([], 99), 100);
  t.equal(demandMultiplierPct(STEPS, 0), 100);
  t.equal(demandMultiplierPct(STEPS, 80), 125);
  t.equal(demandMultiplierPct(STEPS, 94.99), 125);
  t.equal(demandMultiplierPct(STEPS, 95), 150);
  t.equal(demandMultiplierPct(STEPS, 100), 150);
  t.equal(demandMultiplierPct([...STEPS].reverse(), 85), 125, 'order of steps does not matter');
  t.equal(demandMultiplierPct([{ fromOccupancyPct: 50, multiplierPct: 120 }], 10), 100, 'below every step');
  t.throws(() => demandMultiplierPct(STEPS, Number.NaN), RangeError);
});

t.test('overstayCharge', async (t) => {
  const r = card(200);
  t.same(overstayCharge(r, 0, 0), { amount: 0, currency: 'EUR' }, 'none');
  t.equal(overstayCharge(r, -5 * MIN, 0).amount, 0, 'left early');
  t.equal(overstayCharge(r, 10 * MIN, 10).amount, 0, 'exactly at the end of grace');
  t.equal(overstayCharge(r, 10 * MIN + 1, 10).amount, 50, 'just after grace: one started slot');
  t.equal(overstayCharge(r, 16 * MIN, 10).amount, 100, 'grace is a threshold, whole overstay charged');
  t.equal(overstayCharge(r, 1, 0).amount, 50, 'one millisecond, no grace');
  t.equal(overstayCharge(r, 15 * MIN, 0).amount, 50);
  t.equal(overstayCharge(r, 15 * MIN + 1, 0).amount, 100);
  t.equal(overstayCharge(r, 3 * HOUR, 0).amount, 600);
  t.equal(overstayCharge(card(250), 15 * MIN, 0).amount, 63, 'odd rate rounds half up');
  t.equal(overstayCharge(card(250), 45 * MIN, 0).amount, 188);
  t.equal(overstayCharge(card(333), 15 * MIN, 0).amount, 83);
  t.throws(() => overstayCharge(r, Number.NaN, 0), RangeError);
});

t.test('money, addMoney, validation', async (t) => {
  t.same(money(1250, 'EUR'), { amount: 1250, currency: 'EUR' });
  t.same(money(-5, 'GBP'), { amount: -5, currency: 'GBP' }, 'negative allowed (refunds)');
  t.throws(() => money(12.5, 'EUR'), RangeError);
  t.throws(() => money(Number.NaN, 'EUR'), RangeError);
  t.throws(() => money(Number.MAX_SAFE_INTEGER + 1, 'EUR'), RangeError);
  t.throws(() => money(1, 'eur'), RangeError);
  t.throws(() => money(1, 'EURO'), RangeError);
  t.same(addMoney(money(1, 'EUR'), money(2, 'EUR')), money(3, 'EUR'));
  t.throws(() => addMoney(money(1, 'EUR'), money(2, 'GBP')), TypeError);
  t.throws(
    () => addMoney(money(Number.MAX_SAFE_INTEGER, 'EUR'), money(1, 'EUR')),
    RangeError,
    'overflow is loud',
  );
  t.throws(() => priceWindow(card(2.5), { startMs: 0, endMs: HOUR }, 'UTC'), RangeError, 'fractional rate');
  t.throws(() => priceWindow(card(-1), { startMs: 0, endMs: HOUR }, 'UTC'), RangeError, 'negative rate');
  t.throws(
    () => priceWindow(card(100, 1.5), { startMs: 0, endMs: HOUR }, 'UTC'),
    RangeError,
    'fractional cap',
  );
  t.throws(
    () => priceWindow({ ...card(100), currency: 'x' }, { startMs: 0, endMs: HOUR }, 'UTC'),
    RangeError,
  );
  t.throws(() => priceWindow(card(100), { startMs: HOUR, endMs: 0 }, 'UTC'), RangeError, 'reversed window');
});

t.test('formatMoney and currencies', async (t) => {
  t.equal(formatMoney(money(1250, 'EUR')), '€12.50');
  t.equal(formatMoney(money(5, 'EUR')), '€0.05');
  t.equal(formatMoney(money(-1250, 'GBP')), '-£12.50');
  t.equal(formatMoney(money(1250, 'USD'), 'en-US'), '$12.50');
  t.equal(formatMoney(money(1250, 'EUR'), 'de-DE'), '12,50\u00a0€');
  t.equal(currencyMinorDigits('JPY'), 0);
  t.equal(currencyMinorDigits('BHD'), 3);
  t.match(formatMoney(money(500, 'JPY'), 'ja-JP'), /500/);
  t.equal(
    formatMoney(money(Number.MAX_SAFE_INTEGER, 'USD'), 'en-US'),
    '$90,071,992,547,409.91',
    'exact, no float division',
  );
});

t.test('localDayKey', async (t) => {
  t.equal(localDayKey(utc(2025, 1, 1, 23, 30), 'Europe/Berlin'), '2025-01-02');
  t.equal(localDayKey(utc(2025, 1, 1, 23, 30), 'UTC'), '2025-01-01');
  t.equal(localDayKey(utc(2025, 1, 1, 3), 'America/New_York'), '2024-12-31');
  t.equal(localDayKey(utc(2025, 1, 1, 15), 'Asia/Tokyo'), '2025-01-02');
  t.equal(localDayKey(utc(2025, 3, 30, 0), 'Europe/London'), '2025-03-30');
  t.throws(() => localDayKey(0, 'Mars/Olympus'), RangeError);
});
