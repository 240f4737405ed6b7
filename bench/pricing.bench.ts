/**
 * `npm run bench -- --only pricing`: the one pricing function (protocol/pricing.ts) on a 7-day stay
 * with a full rate plan (weekday and Saturday bands, early bird, evening flat, an event multiplier,
 * free minutes, grace, daily maximum) across the spring DST change in Berlin. Budget: p99 < 1 ms.
 */
import { priceStay } from '../protocol/pricing.js';
import { RatePlanSchema } from '../protocol/rate-plan.js';
import { type BenchContext, type BenchRow, measure, toRow } from './harness.js';

export const FULL_PLAN = RatePlanSchema.parse({
  currency: 'EUR',
  hourlyRate: 200,
  freeMinutes: 15,
  graceMinutes: 5,
  dailyMax: 2800,
  lostTicketFee: 6000,
  rules: [
    {
      kind: 'band',
      name: 'Weekday day',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      from: '08:00',
      to: '18:00',
      hourlyRate: 400,
    },
    {
      kind: 'band',
      name: 'Weekday evening',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      from: '18:00',
      to: '22:00',
      hourlyRate: 300,
    },
    { kind: 'band', name: 'Saturday', days: ['sat'], from: '09:00', to: '14:00', hourlyRate: 450 },
    {
      kind: 'early_bird',
      name: 'Early bird',
      enterFrom: '06:00',
      enterBefore: '09:00',
      leaveAfter: '15:00',
      price: 1400,
    },
    { kind: 'evening', name: 'Evening', enterFrom: '18:00', leaveBefore: '08:00', price: 700 },
    { kind: 'event', name: 'Fair', from: '2026-03-27', to: '2026-03-28', multiplierPct: 150 },
  ],
  vehicleTypes: { motorcycle: { hourlyRate: 100, dailyMax: 800 } },
});

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const it = (n: number) => (ctx.quick ? Math.max(20, Math.floor(n / 10)) : n);
  let entry = Date.UTC(2026, 2, 26, 7, 7);
  const m = measure(
    'priceStay 7d full plan Europe/Berlin (DST)',
    () => {
      // A different minute each call, so no result is reused.
      entry += 60_000;
      if (entry > Date.UTC(2026, 2, 27)) entry = Date.UTC(2026, 2, 26, 7, 7);
      return priceStay(
        FULL_PLAN,
        { entryMs: entry, exitMs: entry + 7 * 86_400_000, vehicleType: 'car' },
        'Europe/Berlin',
      );
    },
    { iterations: it(3000), warmup: 200 },
  );
  return [toRow(m, { budget: { label: 'p99 < 1 ms', p99MaxUs: 1000 } })];
}
