import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';

/**
 * What a captured checkout pays for, by the prefix of its reference: `booking` (a reservation id,
 * no prefix), `exit:<lotId>:<sessionId>`, `debt:<debtId>`. Each purpose records the payment row and
 * changes the state it pays for in one transaction, idempotently; both providers' webhooks (and
 * crash recovery) feed `dispatch`.
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
  /**
   * The webhook event that carries it, when there is one: a purpose may record it as applied in
   * the same statement as its effect (then it answers `recorded`, and the webhook handler does not
   * write it again). Recovery passes none.
   */
  event?: WebhookEventRecord;
}

/** A webhook event as `payment_events` records it. */
export interface WebhookEventRecord {
  provider: string;
  eventId: string;
  type: string;
  reference: string | null;
  /** ISO time it was received. */
  receivedAt: string;
}

/**
 * How `payment_events` takes a record of an event it may already hold (`excluded` is the new one):
 * an earlier `applied_at` and outcome are never cleared. Shared by the webhook handler and the
 * booking confirmation, which records its event in the confirming statement.
 */
export const PAYMENT_EVENT_UPSERT_SQL = `on conflict (provider, event_id) do update
  set applied_at = coalesce(payment_events.applied_at, excluded.applied_at),
      outcome = coalesce(payment_events.outcome, excluded.outcome)`;

/** What applying a capture did; `recorded`: applied, and its webhook event recorded with it. */
export type CapturedOutcome = 'applied' | 'recorded' | 'duplicate' | 'unknown';
export interface PaymentPurpose {
  /** Apply a captured checkout: record the payment row and change the state it pays for, in ONE
   *  transaction; idempotent; 'unknown' when the reference names nothing this purpose knows. */
  captured(p: CapturedPayment): Promise<CapturedOutcome>;
}
export interface PaymentPurposes {
  /** `prefix` is the text before the first ':' of a reference; 'booking' for references without one. */
  register(prefix: string, purpose: PaymentPurpose): void;
  dispatch(p: CapturedPayment): Promise<CapturedOutcome>;
}

/** The purpose prefix of a reference: the text before the first ':', or 'booking'. */
export function purposeOf(reference: string): string {
  const colon = reference.indexOf(':');
  return colon < 0 ? 'booking' : reference.slice(0, colon);
}

export function createPaymentPurposes(log: Logger): PaymentPurposes {
  const purposes = new Map<string, PaymentPurpose>();
  return {
    register(prefix, purpose) {
      if (purposes.has(prefix)) throw new Error(`payment purpose ${prefix} registered twice`);
      purposes.set(prefix, purpose);
    },
    async dispatch(p) {
      const prefix = purposeOf(p.reference);
      const purpose = purposes.get(prefix);
      if (purpose === undefined) {
        log.warn({ reference: p.reference, eventId: p.eventId }, 'captured payment for no known purpose');
        return 'unknown';
      }
      const outcome = await purpose.captured(p);
      if (outcome === 'unknown')
        log.warn({ reference: p.reference, eventId: p.eventId }, 'captured payment names nothing known');
      return outcome;
    },
  };
}
