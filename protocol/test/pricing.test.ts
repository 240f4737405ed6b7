import fc from 'fast-check';
import t from 'tap';
import { type DemandStep, priceWindow, type RateCard } from '../money.js';
import { bookingPrice, priceOverstay, priceStay } from '../pricing.js';
import { planFromRates, type RatePlan, type RatePlanInput, RatePlanSchema } from '../rate-plan.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const utc = (y: number, mo: number, d: number, h = 0, mi = 0) => Date.UTC(y, mo - 1, d, h, mi);

const FULL: RatePlanInput = {
  currency: 'EUR',
  hourlyRate: 200,
  freeMinutes: 15,
  graceMinutes: 5,
  dailyMax: 3000,
  lostTicketFee: 5000,
  rules: [
    {
      kind: 'band',
      name: 'Weekday day',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      from: '08:00',
      to: '18:00',
      hourlyRate: 400,
    },
    { kind: 'band', name: 'Saturday', days: ['sat'], from: '09:00', to: '14:00', hourlyRate: 300 },
    {
      kind: 'early_bird',
      name: 'Early bird',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      enterFrom: '06:00',
      enterBefore: '09:00',
      leaveAfter: '16:00',
      price: 1200,
    },
    { kind: 'evening', name: 'Night owl', enterFrom: '18:00', leaveBefore: '08:00', price: 800 },
    { kind: 'event', name: 'Fair', from: '2026-03-03', to: '2026-03-03', multiplierPct: 150 },
    { kind: 'event', name: 'Final', from: '2026-03-07', to: '2026-03-07', price: 2500 },
  ],
};
const plan = RatePlanSchema.parse(FULL);
const BERLIN = 'Europe/Berlin';
// 2026-03-02 is a Monday; Berlin is UTC+1 until 2026-03-29.
const berlin = (d: number, h: number, mi = 0) => utc(2026, 3, d, h - 1, mi);
const car = (entryMs: number, exitMs: number) => ({ entryMs, exitMs, vehicleType: 'car' as const });

t.test('priceStay: a full plan, rule by rule', async (t) => {
  const total = (entry: number, exit: number) => priceStay(plan, car(entry, exit), BERLIN).total.amount;
  t.equal(total(berlin(2, 10), berlin(2, 12)), 800, 'two weekday-day hours');
  t.equal(total(berlin(2, 10), berlin(2, 10, 20)), 0, 'first 15 minutes free (20 minus 5 grace)');
  t.equal(total(berlin(2, 10), berlin(2, 10, 21)), 200, 'past the free minutes the whole stay is charged');
  t.equal(total(berlin(2, 7, 30), berlin(2, 17, 30)), 1200, 'early bird replaces the capped 3000');
  t.equal(total(berlin(2, 7, 30), berlin(2, 15, 30)), 3000, 'leaving before 16:00 is no early bird');
  t.equal(total(berlin(2, 19), berlin(3, 7)), 800, 'evening flat overnight');
  t.equal(
    total(berlin(2, 19), berlin(3, 9)),
    1000 + 3000,
    'leaving after 08:00 is no evening flat (Tuesday is the fair: ×150%, capped)',
  );
  t.equal(total(berlin(3, 10), berlin(3, 12)), 1200, 'event multiplier 150% on the fair day');
  t.equal(total(berlin(7, 10), berlin(7, 20)), 2500, 'event flat');
  t.equal(total(berlin(7, 10), berlin(7, 12)), 2500, 'event flat even for a short stay');
  t.equal(total(berlin(8, 10), berlin(8, 12)), 400, 'sunday: base rate');
  const lost = priceStay(plan, { ...car(berlin(2, 10), berlin(2, 11)), lostTicket: true }, BERLIN);
  t.same(
    lost.lines.map((l) => [l.label, l.amount]),
    [['Lost ticket', 5000]],
  );
  const lines = priceStay(plan, car(berlin(2, 17), berlin(2, 19, 5)), BERLIN).lines;
  t.same(
    lines.map((l) => [l.label, l.day, l.units, l.amount]),
    [
      ['Hourly rate', '2026-03-02', 4, 200],
      ['Weekday day', '2026-03-02', 4, 400],
    ],
    'itemised by band and local day',
  );
  const capped = priceStay(plan, car(berlin(4, 8), berlin(5, 8)), BERLIN).lines;
  t.ok(capped.some((l) => l.label === 'Daily maximum' && l.day === '2026-03-04' && l.amount === 3000 - 5200));
});

t.test('priceStay: per vehicle type, demand, DST', async (t) => {
  const moto = RatePlanSchema.parse({ ...FULL, vehicleTypes: { motorcycle: { hourlyRate: 100 } } });
  t.equal(
    priceStay(moto, { ...car(berlin(2, 10), berlin(2, 12)), vehicleType: 'motorcycle' }, BERLIN).total.amount,
    200,
  );
  t.equal(priceStay(moto, car(berlin(2, 10), berlin(2, 12)), BERLIN).total.amount, 800);
  const demand = priceStay(plan, car(berlin(2, 10), berlin(2, 12)), BERLIN, 125);
  t.equal(demand.total.amount, 1000);
  t.same(demand.lines.at(-1), { label: 'Demand 125%', rule: null, day: null, units: 0, amount: 200 });
  // 2026-03-29 01:00 → 05:00 local in Berlin is three real hours (02:00–03:00 does not exist).
  const flat = planFromRates({ currency: 'EUR', hourlyRate: 400, dailyMax: null });
  t.equal(priceStay(flat, car(utc(2026, 3, 29, 0), utc(2026, 3, 29, 3)), BERLIN).total.amount, 1200);
  // 2026-10-25 has 25 hours: a capped day is still one day.
  const capped = planFromRates({ currency: 'EUR', hourlyRate: 400, dailyMax: 5000 });
  t.equal(priceStay(capped, car(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)), BERLIN).total.amount, 5000);
});

t.test('priceOverstay: time rules only, grace is a threshold', async (t) => {
  const o = (end: number, exit: number, grace = 10) =>
    priceOverstay(plan, { endMs: end, exitMs: exit, vehicleType: 'car' }, grace, BERLIN).total.amount;
  t.equal(o(berlin(2, 12), berlin(2, 12, 10)), 0, 'within grace');
  t.equal(o(berlin(2, 12), berlin(2, 12, 11)), 100, 'past grace: every started unit of the overstay');
  t.equal(o(berlin(2, 12), berlin(2, 11)), 0, 'left early');
  t.equal(o(berlin(2, 17, 30), berlin(2, 18, 30), 0), 300, 'bands apply to the extra time');
});

t.test('validation refuses overlapping and contradictory rules, naming the rule', async (t) => {
  const bad = (rules: unknown[], extra: object = {}) => {
    const r = RatePlanSchema.safeParse({ ...FULL, ...extra, rules });
    t.notOk(r.success);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  const band = (name: string, days: string[], from: string, to: string) => ({
    kind: 'band',
    name,
    days,
    from,
    to,
    hourlyRate: 1,
  });
  t.match(bad([band('A', ['mon', 'tue'], '08:00', '12:00'), band('B', ['tue'], '11:00', '13:00')]), [
    "rules.1: rule 'B': overlaps rule 'A' on tue from 11:00 to 12:00",
  ]);
  t.match(bad([band('A', ['mon'], '12:00', '08:00')]), [
    "rules.0: rule 'A': from 12:00 must be before to 08:00",
  ]);
  t.match(bad([band('A', ['mon'], '08:00', '09:00'), band('A', ['tue'], '08:00', '09:00')]), [
    /rules\.1: rule 'A': the name is also used/,
  ]);
  t.match(
    bad([
      {
        kind: 'early_bird',
        name: 'EB',
        enterFrom: '06:00',
        enterBefore: '10:00',
        leaveAfter: '09:00',
        price: 100,
      },
    ]),
    ["rules.0: rule 'EB': leaveAfter 09:00 must not be before enterBefore 10:00"],
  );
  t.match(bad([{ kind: 'evening', name: 'N', enterFrom: '18:00', leaveBefore: '08:00', price: 9999 }]), [
    /rule 'N': its price 9999 is above the daily maximum 3000/,
  ]);
  t.match(
    bad([{ kind: 'event', name: 'E', from: '2026-03-03', to: '2026-03-01', price: 1, multiplierPct: 120 }]),
    [
      /rule 'E': from 2026-03-03 must not be after to 2026-03-01/,
      /rule 'E': give exactly one of price and multiplierPct/,
    ],
  );
  t.match(
    bad(
      [
        { kind: 'event', name: 'E1', from: '2026-03-01', to: '2026-03-05', price: 1 },
        { kind: 'event', name: 'E2', from: '2026-03-05', to: '2026-03-06', multiplierPct: 200 },
      ],
      {},
    ),
    ["rules.1: rule 'E2': overlaps rule 'E1' from 2026-03-05 to 2026-03-05"],
  );
  t.match(
    bad([], { vehicleTypes: { van: { hourlyRate: 1, rules: [band('V', ['mon'], '10:00', '09:00')] } } }),
    ["vehicleTypes.van.rules.0: rule 'V': from 10:00 must be before to 09:00"],
  );
});

// ---------------------------------------------------------------------------------------------
// Today's card maps onto a plan that prices every window exactly as before.

t.test('a plan derived from the hourly card prices like priceWindow (bookings, demand, DST)', async (t) => {
  const STEPS: DemandStep[] = [
    { fromOccupancyPct: 50, multiplierPct: 120 },
    { fromOccupancyPct: 90, multiplierPct: 175 },
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(
        'Europe/London',
        'Europe/Berlin',
        'America/New_York',
        'Australia/Sydney',
        'Asia/Kolkata',
      ),
      fc.integer({ min: 0, max: 2_000 }),
      fc.option(fc.integer({ min: 0, max: 20_000 })),
      fc.integer({ min: utc(2026, 1, 1) / (15 * MIN), max: utc(2027, 1, 1) / (15 * MIN) }),
      fc.integer({ min: 1, max: 7 * 96 }),
      fc.integer({ min: 0, max: 100 }),
      (tz, hourlyRate, dailyMax, startSlot, slots, occ) => {
        const rates: RateCard = { currency: 'EUR', hourlyRate, dailyMax, dynamicPricing: STEPS };
        const w = { startMs: startSlot * 15 * MIN, endMs: (startSlot + slots) * 15 * MIN };
        const want = priceWindow(rates, w, tz, occ);
        const got = bookingPrice({ timeZone: tz, rates, ratePlan: null }, 'car', w, occ).total;
        t.same(got, want);
        return got.amount === want.amount;
      },
    ),
    { numRuns: 300, seed: 11 },
  );
});

// ---------------------------------------------------------------------------------------------
// The naive model: walk the stay minute by minute, local time read for every minute on its own.

interface Local {
  date: string;
  weekday: string;
  minute: number;
}

const naiveFormatters = new Map<string, Intl.DateTimeFormat>();
function naiveLocal(tz: string, ms: number): Local {
  let f = naiveFormatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: tz,
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    naiveFormatters.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  return {
    date: `${p.year}-${p.month}-${p.day}`,
    weekday: String(p.weekday).toLowerCase().slice(0, 3),
    minute: Number(p.hour) * 60 + Number(p.minute),
  };
}

const hm = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
const nextDate = (date: string) =>
  new Date(Date.parse(`${date}T12:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

function naivePrice(p: RatePlan, entry: number, exit: number, tz: string, demand: number): number {
  const withDemand = (x: number) => Math.floor((x * demand + 50) / 100);
  const charged = Math.max(0, exit - entry - p.graceMinutes * MIN);
  if (p.freeMinutes > 0 && charged <= p.freeMinutes * MIN) return withDemand(0);
  const minutes = Math.max(1, Math.ceil(charged / (15 * MIN))) * 15;
  const start = naiveLocal(tz, entry);
  for (const r of p.rules) {
    if (r.kind === 'event' && r.price !== undefined && r.from <= start.date && start.date <= r.to)
      return withDemand(r.price);
  }
  // Σ over minutes of the hourly rate of the minute's unit, per local day and band.
  const perDay = new Map<string, Map<string, number>>();
  let unit: { date: string; band: string; rate: number } | null = null;
  for (let m = 0; m < minutes; m++) {
    const here = naiveLocal(tz, entry + m * MIN);
    if (m % 15 === 0) {
      const band = p.rules.find(
        (r) =>
          r.kind === 'band' &&
          r.days.includes(here.weekday as never) &&
          hm(r.from) <= here.minute &&
          here.minute < hm(r.to),
      );
      unit = {
        date: here.date,
        band: band?.name ?? '',
        rate: band?.kind === 'band' ? band.hourlyRate : p.hourlyRate,
      };
    }
    const day = perDay.get(unit!.date) ?? new Map<string, number>();
    day.set(unit!.band, (day.get(unit!.band) ?? 0) + unit!.rate);
    perDay.set(unit!.date, day);
  }
  let time = 0;
  for (const [date, bands] of perDay) {
    const ev = p.rules.find(
      (r) => r.kind === 'event' && r.multiplierPct !== undefined && r.from <= date && date <= r.to,
    );
    const pct = ev?.kind === 'event' ? ev.multiplierPct! : 100;
    let dayTotal = 0;
    for (const minuteRates of bands.values()) dayTotal += Math.floor((minuteRates * pct + 3000) / 6000);
    time += p.dailyMax === null ? dayTotal : Math.min(dayTotal, p.dailyMax);
  }
  const end = naiveLocal(tz, exit);
  for (const r of p.rules) {
    if (r.kind !== 'early_bird' && r.kind !== 'evening') continue;
    if (
      !r.days.includes(start.weekday as never) ||
      start.minute < hm(r.enterFrom) ||
      start.minute >= hm(r.enterBefore)
    )
      continue;
    const ok =
      r.kind === 'early_bird'
        ? end.date === start.date && end.minute >= hm(r.leaveAfter) && end.minute < hm(r.leaveBefore)
        : end.date === start.date || (end.date === nextDate(start.date) && end.minute < hm(r.leaveBefore));
    if (ok) return withDemand(Math.min(time, r.price));
  }
  return withDemand(time);
}

const TRANSITIONS: Record<string, number[]> = {
  'Europe/Berlin': [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)],
  'America/New_York': [utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)],
  'Australia/Sydney': [utc(2026, 4, 4, 16), utc(2026, 10, 3, 16)],
  'Asia/Kolkata': [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)],
};

const time = (lo: number, hi: number) =>
  fc
    .integer({ min: lo, max: hi })
    .map((m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`);

const planArb = fc
  .record({
    hourlyRate: fc.integer({ min: 0, max: 999 }),
    freeMinutes: fc.constantFrom(0, 0, 10, 30),
    graceMinutes: fc.constantFrom(0, 0, 5, 20),
    dailyMax: fc.option(fc.integer({ min: 1500, max: 6000 })),
    cuts: fc.uniqueArray(
      fc.integer({ min: 0, max: 288 }).map((x) => x * 5),
      { maxLength: 6 },
    ),
    bandDays: fc.array(
      fc.subarray(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const, { minLength: 1 }),
      {
        minLength: 3,
        maxLength: 3,
      },
    ),
    bandRates: fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 3, maxLength: 3 }),
    early: fc.option(
      fc.record({
        from: time(300, 420),
        before: time(421, 600),
        after: time(600, 1000),
        price: fc.integer({ min: 0, max: 1500 }),
      }),
    ),
    evening: fc.option(
      fc.record({ from: time(960, 1200), leave: time(1, 600), price: fc.integer({ min: 0, max: 1500 }) }),
    ),
    event: fc.option(
      fc.record({
        offsetDays: fc.integer({ min: -2, max: 2 }),
        len: fc.integer({ min: 0, max: 2 }),
        flat: fc.boolean(),
        value: fc.integer({ min: 50, max: 300 }),
      }),
    ),
  })
  .map((g) => (anchor: number): RatePlan => {
    const cuts = [...g.cuts].sort((a, b) => a - b);
    const rules: RatePlanInput['rules'] = [];
    const hhmm = (m: number) =>
      `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    for (let i = 0; i + 1 < cuts.length; i += 2) {
      const k = i / 2;
      rules.push({
        kind: 'band',
        name: `band${k}`,
        days: [...g.bandDays[k]!],
        from: hhmm(cuts[i]!),
        to: hhmm(cuts[i + 1]!),
        hourlyRate: g.bandRates[k]!,
      });
    }
    if (g.early)
      rules.push({
        kind: 'early_bird',
        name: 'eb',
        enterFrom: g.early.from,
        enterBefore: g.early.before,
        leaveAfter: g.early.after,
        price: g.early.price,
      });
    if (g.evening)
      rules.push({
        kind: 'evening',
        name: 'ev',
        enterFrom: g.evening.from,
        leaveBefore: g.evening.leave,
        price: g.evening.price,
      });
    if (g.event) {
      const from = new Date(anchor + g.event.offsetDays * 86_400_000).toISOString().slice(0, 10);
      const to = new Date(anchor + (g.event.offsetDays + g.event.len) * 86_400_000)
        .toISOString()
        .slice(0, 10);
      rules.push({
        kind: 'event',
        name: 'event',
        from,
        to,
        ...(g.event.flat ? { price: g.event.value * 10 } : { multiplierPct: g.event.value }),
      });
    }
    return RatePlanSchema.parse({
      currency: 'EUR',
      hourlyRate: g.hourlyRate,
      freeMinutes: g.freeMinutes,
      graceMinutes: g.graceMinutes,
      dailyMax: g.dailyMax,
      rules,
    });
  });

for (const [tz, transitions] of Object.entries(TRANSITIONS)) {
  t.test(`priceStay agrees with the naive minute-by-minute model across DST days (${tz})`, async (t) => {
    let runs = 0;
    fc.assert(
      fc.property(
        planArb,
        fc.constantFrom(...transitions),
        fc.integer({ min: -36 * 60, max: 24 * 60 }),
        fc.integer({ min: 0, max: 59_999 }),
        fc.integer({ min: 0, max: 40 * 60 }),
        fc.constantFrom(100, 100, 130),
        (makePlan, transition, entryMin, entryMs, stayMin, demand) => {
          const p = makePlan(transition);
          const entry = transition + entryMin * MIN + entryMs;
          const exit = entry + stayMin * MIN + (stayMin > 0 ? entryMs % 7_000 : 0);
          const got = priceStay(p, { entryMs: entry, exitMs: exit, vehicleType: 'car' }, tz, demand).total
            .amount;
          const want = naivePrice(p, entry, exit, tz, demand);
          runs++;
          if (got !== want)
            t.fail(
              `${tz} ${new Date(entry).toISOString()} → ${new Date(exit).toISOString()}: ${got} ≠ ${want} ${JSON.stringify(p)}`,
            );
          return got === want;
        },
      ),
      { numRuns: 120, seed: 7 },
    );
    t.equal(runs >= 120, true, 'ran the property');
  });
}

t.test('overstay of a derived plan matches the card for stays within a day', async (t) => {
  const rates: RateCard = { currency: 'EUR', hourlyRate: 400, dailyMax: null, dynamicPricing: null };
  const p = planFromRates(rates);
  const end = utc(2026, 3, 2, 10);
  for (const over of [0, 5 * MIN, 10 * MIN + 1, 16 * MIN, 3 * HOUR]) {
    const got = priceOverstay(p, { endMs: end, exitMs: end + over, vehicleType: 'car' }, 10, 'UTC').total
      .amount;
    t.equal(
      got,
      over <= 10 * MIN ? 0 : Math.ceil(over / (15 * MIN)) * 100,
      `overstay of ${over / MIN} minutes`,
    );
  }
});
