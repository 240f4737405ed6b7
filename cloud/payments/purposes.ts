import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';

/**
 * What a captured checkout pays for, by the prefix of its reference (docs/architecture.md, "Money
 * and pricing"): a booking (a reservation id, no prefix), an exit fee (`exit:<lotId>:<sessionId>`),
 * a debt (`debt:<debtId>`). Every provider feeds captures here; each purpose applies its own.
 */
export interface CapturedPayment {
  /** The reference the checkout was opened with. */
  reference: string;
  amount: Money;
  /** The provider's id of the captured payment (refunds name it). */
  paymentRef: string;
  /** A saved method for later off-session charges, when the provider kept one. */
  storedMethodRef: string | null;
  /** The provider's event/idempotency id: the same capture applied twice has no second effect. */
  eventId: string;
}
export interface PaymentPurpose {
  /** Apply a captured checkout: record the payment row and change the state it pays for, in ONE
   *  transaction; idempotent; 'unknown' when the reference names nothing this purpose knows. */
  captured(p: CapturedPayment): Promise<'applied' | 'duplicate' | 'unknown'>;
}
export interface PaymentPurposes {
  /** `prefix` is the text before the first ':' of a reference; 'booking' for references without one. */
  register(prefix: string, purpose: PaymentPurpose): void;
  dispatch(p: CapturedPayment): Promise<'applied' | 'duplicate' | 'unknown'>;
}

export function createPaymentPurposes(log: Logger): PaymentPurposes {
  const byPrefix = new Map<string, PaymentPurpose>();
  return {
    register(prefix, purpose) {
      if (byPrefix.has(prefix)) throw new Error(`payment purpose ${prefix} registered twice`);
      byPrefix.set(prefix, purpose);
    },
    async dispatch(p) {
      const colon = p.reference.indexOf(':');
      const prefix = colon < 0 ? 'booking' : p.reference.slice(0, colon);
      const purpose = byPrefix.get(prefix);
      if (purpose === undefined) {
        log.warn({ reference: p.reference, eventId: p.eventId }, 'capture for an unknown purpose ignored');
        return 'unknown';
      }
      return purpose.captured(p);
    },
  };
}
