import { z } from 'zod';
import { IsoTimestamp, MoneySchema, VehicleType } from './domain.js';
import { RatePlanSchema } from './rate-plan.js';

/** HTTP bodies of the rate-plan and price routes (docs/pricing.md). */

export const RatePlanView = z
  .object({
    lotId: z.string(),
    /** The plan the operator set, or null when the lot is priced by its `rates` card alone. */
    ratePlan: RatePlanSchema.nullable(),
    /** The plan that prices the lot now (the card mapped onto a plan when `ratePlan` is null). */
    effective: RatePlanSchema,
    /** The lot's configuration version (the edge's); bumped by every change of the plan. */
    version: z.number().int().nonnegative(),
  })
  .meta({ id: 'RatePlanView' });

/** PUT body: a plan, or `{ "ratePlan": null }` to go back to the `rates` card. */
export const PutRatePlanBody = z.union([RatePlanSchema, z.strictObject({ ratePlan: z.null() })]);

const MAX_STAY_MS = 31 * 86_400_000;

export const PriceQuery = z
  .object({
    start: IsoTimestamp,
    end: IsoTimestamp,
    vehicleType: VehicleType.default('car'),
    /** 'true': the entry is unknown (lost ticket): the plan's lost-ticket fee, when it has one. */
    lostTicket: z.enum(['true', 'false']).default('false'),
  })
  .refine((q) => Date.parse(q.end) >= Date.parse(q.start), {
    message: 'end must not be before start',
    path: ['end'],
  })
  .refine((q) => Date.parse(q.end) - Date.parse(q.start) <= MAX_STAY_MS, {
    message: 'a stay priced at once is at most 31 days',
    path: ['end'],
  });

export const PriceLineSchema = z.object({
  label: z.string(),
  rule: z.string().nullable(),
  day: z.string().nullable(),
  units: z.number().int().nonnegative(),
  amount: z.number().int(),
});

export const PriceResponse = z
  .object({
    /** What a drive-up stay of [start, end) pays at the exit (no demand pricing: online bookings only). */
    total: MoneySchema,
    lines: z.array(PriceLineSchema),
  })
  .meta({ id: 'StayPrice' });
