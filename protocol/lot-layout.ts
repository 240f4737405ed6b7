import { z } from 'zod';
import { Id, IsoTimestamp, SpotPool, SpotSchema, VehicleType } from './domain.js';
import { AccessBandSchema, ClosureSchema } from './hours.js';

/**
 * Changing a lot while it runs (docs/permits.md#changing-a-lot): spots added, removed, retyped or
 * moved between pools, operating hours and closures. HTTP bodies and answers.
 */

export const AddSpotsBody = z.strictObject({ spots: z.array(SpotSchema).min(1).max(500) });

export const SpotParams = z.object({ lotId: Id, spotId: Id });

export const ChangeSpotBody = z
  .strictObject({
    label: z.string().min(1).max(32).optional(),
    level: z.string().max(32).optional(),
    type: VehicleType.optional(),
    pool: SpotPool.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'give at least one of label, level, type, pool' })
  .meta({ minProperties: 1 });
export type ChangeSpotBody = z.infer<typeof ChangeSpotBody>;

/** A future booking the change moved to another spot, in the same transaction. */
export const MovedBooking = z.object({ reservationId: Id, fromSpot: z.string(), toSpot: z.string() });
export type MovedBooking = z.infer<typeof MovedBooking>;

export const SpotChangeResponse = z.object({ moved: z.array(MovedBooking) });

export const OperatingHoursBody = z.strictObject({ operatingHours: z.array(AccessBandSchema).max(21) });

export const CreateClosureBody = z
  .strictObject({ from: z.iso.date(), to: z.iso.date(), reason: z.string().trim().min(1).max(200) })
  .refine((c) => c.from <= c.to, { message: '"to" is on or after "from"', path: ['to'] });
export const ClosureParams = z.object({ lotId: Id, closureId: Id });
export const ClosureView = ClosureSchema;

/** A booking in the way of a change: no other free eligible spot for its window. */
export const BlockedBooking = z.object({
  reservationId: Id,
  plate: z.string(),
  vehicleType: VehicleType,
  start: IsoTimestamp,
  end: IsoTimestamp,
});
