import { z } from 'zod';
import { Currency, Id, IsoTimestamp, LotId, MinorUnits, ReservationStatus } from './domain.js';
import { ReservationView, TokenBody, UserView } from './http.js';

/**
 * The operator console's own API (`/v1/console/*`, cloud/console/): the cookie session, the lots
 * a user may operate, booking search, a booking's story, and an operator refund. Everything else
 * the console shows comes from the public API (fleet, reports, commands, cancel).
 */

export const ConsoleLoginBody = TokenBody;
export const ConsoleSession = z.object({ user: UserView });
export const LoggedOut = z.object({ loggedOut: z.literal(true) });

export const ConsoleLot = z.object({ id: LotId, name: z.string(), timeZone: z.string(), currency: Currency });
export const ConsoleLots = z.object({ lots: z.array(ConsoleLot) });

/** Booking search: any combination; at most `limit` rows, newest first. */
export const BookingSearchQuery = z.object({
  lotId: LotId.optional(),
  /** A plate as typed (normalised: case, spaces and dashes do not matter); a prefix matches. */
  plate: z.string().trim().min(1).max(24).optional(),
  /** The start of a booking id (the code on the driver's confirmation). */
  code: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]{2,64}$/)
    .optional(),
  status: ReservationStatus.optional(),
  /** Bookings whose window overlaps [from, to). */
  from: IsoTimestamp.optional(),
  to: IsoTimestamp.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const BookingSearchResponse = z.object({ reservations: z.array(ReservationView) });

export const PaymentRecord = z.object({
  id: Id,
  /** `change`: the difference charged when a booking was extended (docs/permits.md). */
  kind: z.enum(['capture', 'overstay', 'refund', 'exit', 'debt', 'change']),
  amount: MinorUnits,
  currency: Currency,
  status: z.enum(['pending', 'succeeded', 'failed']),
  detail: z.string().nullable(),
  createdAt: IsoTimestamp,
});

/** One line of a booking's story, oldest first. */
export const StoryEntry = z.object({
  at: IsoTimestamp,
  what: z.enum([
    'created',
    'paid',
    'arrived',
    'left',
    'charged',
    'refunded',
    'cancelled',
    'gate',
    'payment_failed',
  ]),
  detail: z.string(),
});

export const BookingStory = z.object({
  reservation: ReservationView,
  payments: z.array(PaymentRecord),
  story: z.array(StoryEntry),
  /** What may still be refunded (captured minus refunded), minor units. */
  refundable: MinorUnits,
});
export type BookingStory = z.infer<typeof BookingStory>;

export const RefundBody = z.object({
  /** Minor units; default: everything still refundable. */
  amount: MinorUnits.positive().optional(),
  reason: z.string().trim().min(1).max(200),
});
export const RefundResponse = z.object({ payment: PaymentRecord });
