import type { ProviderEvent } from './provider.js';
import type { CapturedPayment } from './purposes.js';
import { metadata, text, type WebhookEvent } from './webhook-signature.js';

/**
 * Stripe's event types as both providers send them, normalised to `ProviderEvent`:
 * - `checkout.session.completed` (payment_status `paid`) → checkout_completed; the session's
 *   `client_reference_id` is the reference. `capture` turns the session into a CapturedPayment
 *   (Stripe looks up the saved method on the PaymentIntent; the sandbox carries it).
 * - `payment_intent.succeeded` / `payment_intent.payment_failed` with `metadata.key` (our
 *   off-session charges) → charge; a checkout's own PaymentIntent (no key) is ignored.
 * - `refund.created` / `refund.updated` / `refund.failed` → refund, once it is final.
 */
export async function normaliseEvent(
  event: WebhookEvent,
  capture: (session: Record<string, unknown>, eventId: string) => Promise<CapturedPayment | null>,
): Promise<ProviderEvent> {
  const o = event.data.object;
  const ignored: ProviderEvent = { kind: 'ignored', eventId: event.id, type: event.type };
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      if (text(o, 'payment_status') !== 'paid') return ignored;
      const c = await capture(o, event.id);
      return c === null ? ignored : { kind: 'checkout_completed', eventId: event.id, capture: c };
    }
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed': {
      const key = text(metadata(o), 'key');
      if (key === null) return ignored;
      const failed = event.type === 'payment_intent.payment_failed';
      const lastError = o.last_payment_error as Record<string, unknown> | null | undefined;
      return {
        kind: 'charge',
        eventId: event.id,
        ref: text(o, 'id') ?? '',
        key,
        outcome: failed ? 'failed' : 'succeeded',
        message: failed ? (text(lastError, 'message') ?? 'charge failed') : null,
      };
    }
    case 'refund.created':
    case 'refund.updated':
    case 'refund.failed': {
      const status = text(o, 'status');
      if (status !== 'succeeded' && status !== 'failed' && status !== 'canceled') return ignored;
      return {
        kind: 'refund',
        eventId: event.id,
        ref: text(o, 'id') ?? '',
        key: text(metadata(o), 'key'),
        outcome: status === 'succeeded' ? 'succeeded' : 'failed',
        message: status === 'succeeded' ? null : (text(o, 'failure_reason') ?? `refund ${status}`),
      };
    }
    default:
      return ignored;
  }
}

/** The captured amount of a Checkout Session (`amount_total`, `currency` lower-case at Stripe). */
export function sessionAmount(o: Record<string, unknown>): { amount: number; currency: string } | null {
  const amount = o.amount_total;
  const currency = text(o, 'currency');
  if (typeof amount !== 'number' || !Number.isInteger(amount) || currency === null) return null;
  return { amount, currency: currency.toUpperCase() };
}
