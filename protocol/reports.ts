import { z } from 'zod';
import { Currency, IsoTimestamp, LotId, MinorUnits } from './domain.js';

/**
 * The reports API (docs/reports.md): `GET /v1/lots/{lotId}/reports/{kind}` with a range and a
 * bucket size, as JSON or CSV. Buckets are calendar hours, days or months in the lot's time zone
 * (a day on a DST change is 23 or 25 hours long) and are labelled by their local start with its
 * UTC offset. Every figure is computed from the facts the lot reported (gate events and what they
 * recorded), the reservations and the payments; money is integer minor units, per currency.
 */

export const REPORT_KINDS = ['occupancy', 'revenue', 'usage', 'no-shows'] as const;
export const ReportKind = z.enum(REPORT_KINDS);
export type ReportKind = z.infer<typeof ReportKind>;

export const ReportBucket = z.enum(['hour', 'day', 'month']);
export type ReportBucket = z.infer<typeof ReportBucket>;

/** The longest range a report covers. */
export const REPORT_MAX_DAYS = 400;

const LocalDate = z.iso.date();
/** An instant with its offset, or a calendar date meaning local midnight in the lot's time zone. */
export const ReportInstant = z.union([IsoTimestamp, LocalDate]);

/** Milliseconds of a ReportInstant, a plain date read as UTC midnight (only for the range checks). */
const roughMs = (v: string): number => Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v);

export const ReportQuery = z
  .object({
    /** Start of the range: rounded down to the start of its bucket in the lot's time zone. */
    from: ReportInstant,
    /** End of the range (exclusive): rounded up to the end of its bucket. */
    to: ReportInstant,
    bucket: ReportBucket.default('day'),
    format: z.enum(['json', 'csv']).default('json'),
  })
  .superRefine((q, ctx) => {
    const from = roughMs(q.from);
    const to = roughMs(q.to);
    if (!(from < to)) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: 'to must be after from',
        params: { rule: 'range_reversed' },
      });
    } else if (to - from > REPORT_MAX_DAYS * 86_400_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `a report covers at most ${REPORT_MAX_DAYS} days`,
        params: { rule: 'range_too_long' },
      });
    }
  });
export type ReportQuery = z.infer<typeof ReportQuery>;

const BucketBase = {
  /** Local start of the bucket with its offset, e.g. `2024-10-27T00:00:00+02:00`. */
  start: IsoTimestamp,
  /** Local end (the next bucket's start), e.g. `2024-10-28T00:00:00+01:00`. */
  end: IsoTimestamp,
  /** Length in hours (25 for the day the clocks go back). */
  hours: z.number(),
};

const ReportBase = {
  lotId: LotId,
  timeZone: z.string(),
  bucket: ReportBucket,
  /** The range actually covered: `from` rounded down, `to` rounded up to bucket boundaries. */
  from: IsoTimestamp,
  to: IsoTimestamp,
};

/**
 * Vehicles inside, from the lot's entry and exit events (a session is inside from its entry up to,
 * not including, its exit). `max`: the most at any instant of the bucket. `average`: time-weighted
 * (vehicle-hours in the bucket divided by its hours), 2 decimals. `atEnd`: inside just before the
 * bucket ends.
 */
export const OccupancyFigures = z.object({
  max: z.number().int().nonnegative(),
  average: z.number().nonnegative(),
  atEnd: z.number().int().nonnegative(),
});
export type OccupancyFigures = z.infer<typeof OccupancyFigures>;

/** Pools the entry events named; `unknown` counts entries that named none (attendant opens, old edges). */
export const OCCUPANCY_POOLS = ['bookable', 'driveup', 'unknown'] as const;
export type OccupancyPool = (typeof OCCUPANCY_POOLS)[number];

export const OccupancyReport = z.object({
  ...ReportBase,
  report: z.literal('occupancy'),
  buckets: z.array(
    z.object({
      ...BucketBase,
      vehicles: OccupancyFigures,
      pools: z.object({ bookable: OccupancyFigures, driveup: OccupancyFigures, unknown: OccupancyFigures }),
    }),
  ),
});
export type OccupancyReport = z.infer<typeof OccupancyReport>;

/**
 * Money per currency, in minor units. Received: `bookings` (booking payments captured),
 * `overstay` (overstay charged to the stored method), `cash` (taken by attendants at the gate),
 * minus `refunds`; `net` = bookings + overstay + cash − refunds. Reported, not received:
 * `gateCharges` (what exits owed at the gate: drive-up fees and overstay, however settled) and
 * `owed` (recorded as unable to collect). Payments count when they succeeded, at their creation time.
 */
export const RevenueFigures = z.object({
  currency: Currency,
  bookings: MinorUnits,
  overstay: MinorUnits,
  cash: MinorUnits,
  refunds: MinorUnits,
  net: MinorUnits,
  gateCharges: MinorUnits,
  owed: MinorUnits,
});
export type RevenueFigures = z.infer<typeof RevenueFigures>;

export const RevenueReport = z.object({
  ...ReportBase,
  report: z.literal('revenue'),
  /** Every currency seen in the range, the lot's own always first. */
  totals: z.array(RevenueFigures),
  buckets: z.array(z.object({ ...BucketBase, currencies: z.array(RevenueFigures) })),
});
export type RevenueReport = z.infer<typeof RevenueReport>;

/** Entries and exits per bucket; the average stay of the vehicles that left in the bucket. */
export const UsageReport = z.object({
  ...ReportBase,
  report: z.literal('usage'),
  buckets: z.array(
    z.object({
      ...BucketBase,
      arrivals: z.number().int().nonnegative(),
      departures: z.number().int().nonnegative(),
      /** Null when no departure in the bucket has a known entry. */
      averageStayMinutes: z.number().nonnegative().nullable(),
    }),
  ),
});
export type UsageReport = z.infer<typeof UsageReport>;

/**
 * Bookings that ended NO_SHOW, by their booked start; `forfeited` is what was captured for them
 * minus what was refunded, per currency.
 */
export const NoShowFigures = z.object({
  currency: Currency,
  noShows: z.number().int().nonnegative(),
  forfeited: MinorUnits,
});
export const NoShowsReport = z.object({
  ...ReportBase,
  report: z.literal('no-shows'),
  buckets: z.array(
    z.object({
      ...BucketBase,
      noShows: z.number().int().nonnegative(),
      currencies: z.array(NoShowFigures),
    }),
  ),
});
export type NoShowsReport = z.infer<typeof NoShowsReport>;

export type AnyReport = OccupancyReport | RevenueReport | UsageReport | NoShowsReport;
