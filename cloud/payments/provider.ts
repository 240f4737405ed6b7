import type { FastifyPluginAsync } from 'fastify';
import type { Money } from '../../protocol/money.js';
import type { Result } from '../../protocol/result.js';
import type { CapturedPayment } from './purposes.js';

/**
 * What the cloud needs from a payment provider: the sandbox (`sandbox.ts`) and Stripe (`stripe.ts`)
 * implement it, chosen by PAYMENT_PROVIDER. Nothing outside `cloud/payments/` and the payments
 * plugin knows which one is in use. Calls that move money take an idempotency key, passed on to the
 * provider, so a retried call (double click, crash, sweeper) never moves money twice. A call that
 * cannot reach the provider throws; a provider's refusal is a `PaymentFailure`.
 */
export interface PaymentProvider {
  readonly name: 'sandbox' | 'stripe';
  /**
   * Start a checkout; the payer pays at paymentUrl. `reference` is the caller's name for what is
   * being paid (a reservation id for a booking; other purposes prefix theirs, e.g. `exit:…`, `debt:…`).
   * The saved payment method is kept for later off-session charges.
   */
  createCheckout(input: { reference: string; amount: Money; description: string }): Promise<{
    checkoutId: string;
    paymentUrl: string;
  }>;
  /**
   * Verify the token the checkout returned (sandbox: the payment token; Stripe: the Checkout
   * Session id) and that it captured. Must be for this reference and exactly this amount. Returns
   * the payment reference (for refunds) and a stored method (overstay).
   */
  verifyToken(input: {
    token: string;
    reference: string;
    amount: Money;
  }): Promise<Result<{ paymentRef: string; storedMethodRef: string | null }, PaymentFailure>>;
  /** Charge a stored method off-session (overstay). Idempotent per key. */
  chargeStoredMethod(input: {
    storedMethodRef: string;
    amount: Money;
    idempotencyKey: string;
    description: string;
  }): Promise<Result<{ chargeRef: string }, PaymentFailure>>;
  /** Refund part or all of a captured payment. Idempotent per key. Never more than captured. */
  refund(input: {
    paymentRef: string;
    amount: Money;
    idempotencyKey: string;
  }): Promise<Result<{ refundRef: string }, PaymentFailure>>;
  /**
   * Verify a webhook (the raw body as received and its `Stripe-Signature` header: `t=<ts>,v1=<hex
   * HMAC-SHA256 of "<ts>.<body>">`) and normalise it. Err `invalid_signature` when it is not ours.
   */
  parseWebhook(
    rawBody: string,
    signature: string | undefined,
  ): Promise<Result<ProviderEvent, PaymentFailure>>;
  /** Crash recovery: the captured payment for a checkout opened with this reference, if any. */
  findCapture(reference: string): Promise<CapturedPayment | null>;
  /**
   * Providers that raise their events in process (the sandbox) hand them to `deliver` exactly as
   * the webhook endpoint would receive them (raw body + signature), so they take the same path.
   */
  connectWebhooks?(deliver: (rawBody: string, signature: string) => Promise<void>): void;
  /** Routes the provider itself serves (the sandbox's checkout page), if any. */
  readonly routes?: FastifyPluginAsync;
}

/** A verified provider event, normalised. `key`: the idempotency key the call was made with. */
export type ProviderEvent =
  | { kind: 'checkout_completed'; eventId: string; capture: CapturedPayment }
  | {
      kind: 'charge' | 'refund';
      eventId: string;
      /** The provider's id of the charge or refund. */
      ref: string;
      key: string | null;
      outcome: 'succeeded' | 'failed';
      message: string | null;
    }
  | { kind: 'ignored'; eventId: string; type: string };

export interface PaymentFailure {
  reason:
    | 'invalid_token'
    | 'wrong_reference'
    | 'amount_mismatch'
    | 'declined'
    | 'unavailable'
    | 'invalid_signature'
    | 'over_refund';
  message: string;
}
