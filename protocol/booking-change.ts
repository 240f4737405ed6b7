import { z } from 'zod';
import { IsoTimestamp, MoneySchema } from './domain.js';
import { ReservationView } from './http.js';

/** Changing a booking's window (docs/permits.md#changing-a-booking): body and answer. */
export const ChangeReservationBody = z
  .strictObject({ startAt: IsoTimestamp.optional(), endAt: IsoTimestamp.optional() })
  .refine((b) => b.startAt !== undefined || b.endAt !== undefined, { message: 'give startAt, endAt or both' })
  .meta({ minProperties: 1 });

export const ChangeReservationResponse = z.object({
  reservation: ReservationView,
  /** New price minus old: charged when positive, refunded when negative. */
  difference: MoneySchema,
});
