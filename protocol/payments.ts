import { z } from 'zod';
import { Currency, MinorUnits, MoneySchema } from './domain.js';

/**
 * Payments over HTTP: the provider's webhook acknowledgement, one payment with what was captured
 * and refunded, and an operator's refund.
 */

/** The answer to a verified webhook: what its event did (`replayed`: seen and applied before). */
export const WebhookAck = z.object({
  received: z.literal(true),
  eventId: z.string(),
  outcome: z.enum(['applied', 'duplicate', 'unknown', 'ignored', 'replayed']),
});
export type WebhookAck = z.infer<typeof WebhookAck>;

export const WebhookHeaders = z.looseObject({
  'stripe-signature': z
    .string()
    .max(4096)
    .optional()
    .describe('`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (Stripe\'s scheme).'),
});

export const PaymentParams = z.object({
  paymentId: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_:.-]+$/),
});

export const PaymentKind = z.enum(['capture', 'overstay', 'refund', 'exit', 'debt', 'change']);
export const PaymentStatus = z.enum(['pending', 'succeeded', 'failed']);

/** One refund of a payment. */
export const RefundView = z.object({
  id: z.string(),
  amount: MoneySchema,
  status: PaymentStatus,
  reason: z.string().nullable(),
  actor: z.string().nullable(),
  createdAt: z.string(),
});

export const PaymentView = z
  .object({
    id: z.string(),
    kind: PaymentKind,
    status: PaymentStatus,
    method: z.enum(['provider', 'cash']),
    lotId: z.string().nullable(),
    reservationId: z.string().nullable(),
    reference: z.string().nullable(),
    amount: MoneySchema,
    /** What succeeded refunds gave back so far. */
    refunded: MoneySchema,
    /** What may still be refunded: captured minus succeeded and pending refunds (0 for refunds). */
    refundable: MoneySchema,
    refunds: z.array(RefundView),
    createdAt: z.string(),
  })
  .meta({ id: 'Payment' });
export type PaymentView = z.infer<typeof PaymentView>;

export const RefundBody = z.strictObject({
  /** Minor units; at most what is still refundable. */
  amount: MinorUnits.positive(),
  /** Why, for the audit trail. */
  reason: z.string().trim().min(3).max(500),
  /** Must match the payment's currency when given. */
  currency: Currency.optional(),
});

export const RefundHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .describe('Required: the same key gives the same refund once; another body with it is refused (422).'),
});

export const RefundResponse = z.object({ refund: RefundView, payment: PaymentView });
