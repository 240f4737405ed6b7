import { createHmac } from 'node:crypto';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';
import type { Random } from '../../protocol/random.js';
import { err, ok, type Result } from '../../protocol/result.js';
import { normaliseEvent, sessionAmount } from './events.js';
import type { PaymentFailure, PaymentProvider } from './provider.js';
import { sandboxRoutes } from './sandbox-routes.js';
import { CheckoutClaims, createSealer, PaymentClaims } from './sandbox-tokens.js';
import { metadata, signWebhook, text, verifyWebhook } from './webhook-signature.js';

/**
 * The built-in sandbox provider, with what the Stripe adapter has: checkouts, off-session charges,
 * refunds (full, partial, several per payment, never more than captured) and webhooks in Stripe's
 * event shapes, signed with Stripe's scheme. Checkouts and payment tokens are HMAC-signed
 * statements (`sandbox-tokens.ts`), so verifying one needs no state; its "bank" is an in-memory
 * ledger per instance (tests and the demo). Paying a checkout (`POST /v1/sandbox/pay`,
 * `sandbox-routes.ts`) captures once per checkout and raises `checkout.session.completed` through
 * the cloud's webhook path, so a booking is confirmed even if the driver never calls `/complete`.
 */

export interface LedgerEntry {
  kind: 'capture' | 'charge' | 'refund';
  ref: string;
  amount: Money;
  key: string;
  at: number;
  /** Capture: its checkout's reference and saved method. Refund: the capture it refunds. */
  reference?: string;
  methodRef?: string;
  refundOf?: string;
}

/** Checkouts and tokens are honoured for a day. */
const VALIDITY_MS = 24 * 60 * 60 * 1000;

export interface SandboxProvider extends PaymentProvider {
  readonly ledger: readonly LedgerEntry[];
  /** What the pay endpoint does: capture a valid checkout (once) and issue its token. */
  pay(
    checkoutId: string,
  ): Promise<Result<{ token: string; reference: string; amount: Money }, PaymentFailure>>;
  /** The sandbox's webhook signing secret (Stripe's `whsec_…` equivalent). */
  readonly webhookSecret: string;
  /** Test switch: the next calls throw as if the provider were unreachable. */
  setDown(down: boolean): void;
}

export interface SandboxDeps {
  secret: string;
  publicUrl: string;
  clock: Clock;
  random: Random;
  log?: Logger;
}

export function createSandboxProvider(deps: SandboxDeps): SandboxProvider {
  const sealer = createSealer(deps.secret);
  const ledger = createLedger(deps);
  const webhookSecret = `whsec_${createHmac('sha256', deps.secret).update('webhook').digest('hex').slice(0, 32)}`;
  const fresh = (iat: number) => deps.clock.now() - iat < VALIDITY_MS;
  let deliver: ((raw: string, sig: string) => Promise<void>) | null = null;
  let down = false;
  const reachable = () => {
    if (down) throw new Error('sandbox payment provider is down (connection refused)');
  };

  /** Raise an event through the webhook path; a failed delivery is logged (recovery catches up). */
  async function emit(type: string, object: Record<string, unknown>): Promise<void> {
    if (deliver === null) return;
    const event = {
      id: ledger.ref('evt'),
      object: 'event',
      type,
      created: Math.floor(deps.clock.now() / 1000),
      data: { object },
    };
    const raw = JSON.stringify(event);
    try {
      await deliver(raw, signWebhook(raw, webhookSecret, deps.clock.now()));
    } catch (e) {
      deps.log?.warn({ err: e, type }, 'sandbox webhook delivery failed');
    }
  }

  /** One capture per checkout (reference + amount): paying twice charges once. */
  function capture(rid: string, amount: Money, ref?: string, methodRef?: string): LedgerEntry {
    return ledger.record('capture', amount, `checkout:${rid}:${amount.amount}${amount.currency}`, {
      reference: rid,
      ref: ref ?? ledger.ref('pi'),
      methodRef: methodRef ?? ledger.ref('pm'),
    });
  }

  const session = (e: LedgerEntry) => ({
    id: `cs_${e.ref}`,
    object: 'checkout.session',
    client_reference_id: e.reference,
    amount_total: e.amount.amount,
    currency: e.amount.currency.toLowerCase(),
    payment_status: 'paid',
    payment_intent: e.ref,
    metadata: { reference: e.reference, stored_method: e.methodRef },
  });

  const provider: SandboxProvider = {
    name: 'sandbox',
    ledger: ledger.entries,
    webhookSecret,
    setDown(d) {
      down = d;
    },
    async createCheckout({ reference, amount }) {
      reachable();
      const checkoutId = sealer.seal({
        t: 'checkout',
        rid: reference,
        amt: amount.amount,
        cur: amount.currency,
        iat: deps.clock.now(),
      });
      return { checkoutId, paymentUrl: `${deps.publicUrl}/v1/sandbox/checkout/${checkoutId}` };
    },
    async pay(checkoutId) {
      const c = sealer.open(checkoutId, CheckoutClaims);
      if (c === null || !fresh(c.iat))
        return err({ reason: 'invalid_token', message: 'unknown or expired checkout' });
      const amount = { amount: c.amt, currency: c.cur };
      const entry = capture(c.rid, amount);
      const token = sealer.seal({
        t: 'payment',
        rid: c.rid,
        amt: c.amt,
        cur: c.cur,
        pid: entry.ref,
        mid: entry.methodRef ?? '',
        iat: deps.clock.now(),
      });
      await emit('checkout.session.completed', session(entry));
      return ok({ token, reference: c.rid, amount });
    },
    async verifyToken({ token, reference, amount }) {
      reachable();
      const p = sealer.open(token, PaymentClaims);
      if (p === null || !fresh(p.iat))
        return err({ reason: 'invalid_token', message: 'payment token is not valid' });
      if (p.rid !== reference)
        return err({ reason: 'wrong_reference', message: 'payment token is for something else' });
      if (p.amt !== amount.amount || p.cur !== amount.currency)
        return err({ reason: 'amount_mismatch', message: 'payment token is for another amount' });
      // The token proves the capture (a restarted sandbox re-learns it from the token).
      const entry = capture(p.rid, amount, p.pid, p.mid);
      return ok({ paymentRef: entry.ref, storedMethodRef: entry.methodRef ?? null });
    },
    async chargeStoredMethod({ storedMethodRef, amount, idempotencyKey }) {
      reachable();
      if (!storedMethodRef.startsWith('pm_')) {
        await emit('payment_intent.payment_failed', {
          id: ledger.ref('pi'),
          metadata: { key: idempotencyKey },
          last_payment_error: { message: 'unknown payment method' },
        });
        return err({ reason: 'declined', message: 'unknown payment method' });
      }
      const e = ledger.record('charge', amount, idempotencyKey, {
        ref: ledger.ref('pi'),
        methodRef: storedMethodRef,
      });
      await emit('payment_intent.succeeded', {
        id: e.ref,
        amount: amount.amount,
        metadata: { key: idempotencyKey },
      });
      return ok({ chargeRef: e.ref });
    },
    async refund({ paymentRef, amount, idempotencyKey }) {
      reachable();
      const again = ledger.find('refund', idempotencyKey);
      if (again) return ok({ refundRef: again.ref });
      const captured = ledger.entries.find(
        (e) => e.ref === paymentRef && (e.kind === 'capture' || e.kind === 'charge'),
      );
      if (captured === undefined) return err({ reason: 'declined', message: 'unknown payment' });
      if (amount.currency !== captured.amount.currency || amount.amount <= 0)
        return err({ reason: 'declined', message: 'refund amount is not valid for this payment' });
      const refunded = ledger.entries
        .filter((e) => e.kind === 'refund' && e.refundOf === paymentRef)
        .reduce((sum, e) => sum + e.amount.amount, 0);
      if (refunded + amount.amount > captured.amount.amount)
        return err({
          reason: 'over_refund',
          message: `at most ${captured.amount.amount - refunded} of ${captured.amount.amount} can still be refunded`,
        });
      const e = ledger.record('refund', amount, idempotencyKey, {
        ref: ledger.ref('re'),
        refundOf: paymentRef,
      });
      await emit('refund.updated', {
        id: e.ref,
        amount: amount.amount,
        status: 'succeeded',
        payment_intent: paymentRef,
        metadata: { key: idempotencyKey },
      });
      return ok({ refundRef: e.ref });
    },
    async parseWebhook(rawBody, signature) {
      const v = verifyWebhook(rawBody, signature, webhookSecret, deps.clock.now());
      if (!v.ok) return v;
      return ok(
        await normaliseEvent(v.value, async (o, eventId) => {
          const reference = text(o, 'client_reference_id');
          const amount = sessionAmount(o);
          const paymentRef = text(o, 'payment_intent');
          if (reference === null || amount === null || paymentRef === null) return null;
          const storedMethodRef = text(metadata(o), 'stored_method');
          return { reference, amount, paymentRef, storedMethodRef, eventId };
        }),
      );
    },
    async findCapture(reference) {
      reachable();
      const e = ledger.entries.find((x) => x.kind === 'capture' && x.reference === reference);
      if (e === undefined) return null;
      return {
        reference,
        amount: e.amount,
        paymentRef: e.ref,
        storedMethodRef: e.methodRef ?? null,
        eventId: `recovery:${e.ref}`,
      };
    },
    connectWebhooks(d) {
      deliver = d;
    },
    routes: sandboxRoutes({ pay: (checkoutId) => provider.pay(checkoutId) }, sealer),
  };
  return provider;
}

/** The sandbox "bank": entries in order, one per (kind, idempotency key). */
function createLedger(deps: { clock: Clock; random: Random }) {
  const entries: LedgerEntry[] = [];
  const byKey = new Map<string, LedgerEntry>();
  const ref = (prefix: string) => `${prefix}_${deps.random.id(20)}`;
  return {
    entries,
    ref,
    find: (kind: LedgerEntry['kind'], key: string) => byKey.get(`${kind}:${key}`),
    record(
      kind: LedgerEntry['kind'],
      amount: Money,
      key: string,
      extra: { ref: string; reference?: string; methodRef?: string; refundOf?: string },
    ): LedgerEntry {
      const existing = byKey.get(`${kind}:${key}`);
      if (existing) return existing;
      const entry: LedgerEntry = { kind, amount, key, at: deps.clock.now(), ...extra };
      entries.push(entry);
      byKey.set(`${kind}:${key}`, entry);
      return entry;
    },
  };
}
