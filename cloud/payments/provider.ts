import type { FastifyPluginAsync } from 'fastify';
import type { Money } from '../../protocol/money.js';
import type { Result } from '../../protocol/result.js';

/**
 * What the cloud needs from a payment provider. The sandbox implements it; a Stripe adapter could
 * later. Nothing outside `cloud/payments/` and the payments plugin knows which one is in use.
 */
export interface PaymentProvider {
  /**
   * Start a checkout; the payer pays at paymentUrl. `reference` is the caller's name for what is
   * being paid (a reservation id for a booking; other purposes prefix theirs, e.g. `exit:…`, `debt:…`).
   */
  createCheckout(input: { reference: string; amount: Money; description: string }): Promise<{
    checkoutId: string;
    paymentUrl: string;
  }>;
  /**
   * Verify the token the checkout returned and capture the payment. Must be for this reference and
   * exactly this amount. Returns the payment reference (for refunds) and a stored method (overstay).
   */
  verifyToken(input: {
    token: string;
    reference: string;
    amount: Money;
  }): Promise<Result<{ paymentRef: string; storedMethodRef: string | null }, PaymentFailure>>;
  /** Charge a stored method (overstay). Idempotent per key. */
  chargeStoredMethod(input: {
    storedMethodRef: string;
    amount: Money;
    idempotencyKey: string;
    description: string;
  }): Promise<Result<{ chargeRef: string }, PaymentFailure>>;
  /** Refund part or all of a captured payment. Idempotent per key. */
  refund(input: {
    paymentRef: string;
    amount: Money;
    idempotencyKey: string;
  }): Promise<Result<{ refundRef: string }, PaymentFailure>>;
  /** Routes the provider itself serves (the sandbox's checkout page), if any. */
  readonly routes?: FastifyPluginAsync;
}

export interface PaymentFailure {
  reason: 'invalid_token' | 'wrong_reference' | 'amount_mismatch' | 'declined' | 'unavailable';
  message: string;
}
