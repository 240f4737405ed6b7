import { createHmac } from 'node:crypto';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';
import type { Random } from '../../protocol/random.js';
import { err, ok, type Result } from '../../protocol/result.js';
import { normaliseEvent, sessionAmount } from './events.js';
import type { PaymentFailure, PaymentProvider } from './provider.js';
import { sandboxRoutes } from './sandbox-routes.js';
import { CheckoutClaims, createSealer, PaymentClaims, type Sealer } from './sandbox-tokens.js';
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
  return new Sandbox(deps);
}

type Ledger = ReturnType<typeof createLedger>;
type Input<K extends keyof PaymentProvider> = PaymentProvider[K] extends ((i: infer I) => unknown) | undefined
  ? I
  : never;

class Sandbox implements SandboxProvider {
  readonly name = 'sandbox';
  readonly webhookSecret: string;
  readonly routes: SandboxProvider['routes'];
  readonly #deps: SandboxDeps;
  readonly #sealer: Sealer;
  readonly #ledger: Ledger;
  #deliver: ((raw: string, sig: string) => Promise<void>) | null = null;
  #down = false;

  constructor(deps: SandboxDeps) {
    this.#deps = deps;
    this.#sealer = createSealer(deps.secret);
    this.#ledger = createLedger(deps);
    this.webhookSecret = `whsec_${createHmac('sha256', deps.secret).update('webhook').digest('hex').slice(0, 32)}`;
    this.routes = sandboxRoutes({ pay: (checkoutId) => this.pay(checkoutId) }, this.#sealer);
  }

  get ledger(): readonly LedgerEntry[] {
    return this.#ledger.entries;
  }

  setDown(down: boolean): void {
    this.#down = down;
  }

  connectWebhooks(deliver: (raw: string, sig: string) => Promise<void>): void {
    this.#deliver = deliver;
  }

  #reachable(): void {
    if (this.#down) throw new Error('sandbox payment provider is down (connection refused)');
  }

  #fresh(iat: number): boolean {
    return this.#deps.clock.now() - iat < VALIDITY_MS;
  }

  /** Raise an event through the webhook path; a failed delivery is logged (recovery catches up). */
  async #emit(type: string, object: Record<string, unknown>): Promise<void> {
    if (this.#deliver === null) return;
    const now = this.#deps.clock.now();
    const event = {
      id: this.#ledger.ref('evt'),
      object: 'event',
      type,
      created: Math.floor(now / 1000),
      data: { object },
    };
    const raw = JSON.stringify(event);
    try {
      await this.#deliver(raw, signWebhook(raw, this.webhookSecret, now));
    } catch (e) {
      this.#deps.log?.warn({ err: e, type }, 'sandbox webhook delivery failed');
    }
  }

  /** One capture per checkout (reference + amount): paying twice charges once. */
  #capture(rid: string, amount: Money, ref?: string, methodRef?: string): LedgerEntry {
    return this.#ledger.record('capture', amount, `checkout:${rid}:${amount.amount}${amount.currency}`, {
      reference: rid,
      ref: ref ?? this.#ledger.ref('pi'),
      methodRef: methodRef ?? this.#ledger.ref('pm'),
    });
  }

  async createCheckout({ reference, amount }: Input<'createCheckout'>) {
    this.#reachable();
    const checkoutId = this.#sealer.seal({
      t: 'checkout',
      rid: reference,
      amt: amount.amount,
      cur: amount.currency,
      iat: this.#deps.clock.now(),
    });
    return { checkoutId, paymentUrl: `${this.#deps.publicUrl}/v1/sandbox/checkout/${checkoutId}` };
  }

  async pay(
    checkoutId: string,
  ): Promise<Result<{ token: string; reference: string; amount: Money }, PaymentFailure>> {
    const c = this.#sealer.open(checkoutId, CheckoutClaims);
    if (c === null || !this.#fresh(c.iat))
      return err({ reason: 'invalid_token', message: 'unknown or expired checkout' });
    const amount = { amount: c.amt, currency: c.cur };
    const e = this.#capture(c.rid, amount);
    const token = this.#sealer.seal({
      t: 'payment',
      rid: c.rid,
      amt: c.amt,
      cur: c.cur,
      pid: e.ref,
      mid: e.methodRef ?? '',
      iat: this.#deps.clock.now(),
    });
    await this.#emit('checkout.session.completed', {
      id: `cs_${e.ref}`,
      object: 'checkout.session',
      client_reference_id: e.reference,
      amount_total: e.amount.amount,
      currency: e.amount.currency.toLowerCase(),
      payment_status: 'paid',
      payment_intent: e.ref,
      metadata: { reference: e.reference, stored_method: e.methodRef },
    });
    return ok({ token, reference: c.rid, amount });
  }

  async verifyToken({ token, reference, amount }: Input<'verifyToken'>) {
    this.#reachable();
    const p = this.#sealer.open(token, PaymentClaims);
    if (p === null || !this.#fresh(p.iat))
      return err({ reason: 'invalid_token' as const, message: 'payment token is not valid' });
    if (p.rid !== reference)
      return err({ reason: 'wrong_reference' as const, message: 'payment token is for something else' });
    if (p.amt !== amount.amount || p.cur !== amount.currency)
      return err({ reason: 'amount_mismatch' as const, message: 'payment token is for another amount' });
    // The token proves the capture (a restarted sandbox re-learns it from the token).
    const e = this.#capture(p.rid, amount, p.pid, p.mid);
    return ok({ paymentRef: e.ref, storedMethodRef: e.methodRef ?? null });
  }

  async chargeStoredMethod({ storedMethodRef, amount, idempotencyKey }: Input<'chargeStoredMethod'>) {
    this.#reachable();
    if (!storedMethodRef.startsWith('pm_')) {
      await this.#emit('payment_intent.payment_failed', {
        id: this.#ledger.ref('pi'),
        metadata: { key: idempotencyKey },
        last_payment_error: { message: 'unknown payment method' },
      });
      return err({ reason: 'declined' as const, message: 'unknown payment method' });
    }
    const e = this.#ledger.record('charge', amount, idempotencyKey, {
      ref: this.#ledger.ref('pi'),
      methodRef: storedMethodRef,
    });
    await this.#emit('payment_intent.succeeded', {
      id: e.ref,
      amount: amount.amount,
      metadata: { key: idempotencyKey },
    });
    return ok({ chargeRef: e.ref });
  }

  async refund({ paymentRef, amount, idempotencyKey }: Input<'refund'>) {
    this.#reachable();
    const again = this.#ledger.find('refund', idempotencyKey);
    if (again) return ok({ refundRef: again.ref });
    const entries = this.#ledger.entries;
    const captured = entries.find(
      (e) => e.ref === paymentRef && (e.kind === 'capture' || e.kind === 'charge'),
    );
    if (captured === undefined) return err({ reason: 'declined' as const, message: 'unknown payment' });
    if (amount.currency !== captured.amount.currency || amount.amount <= 0)
      return err({ reason: 'declined' as const, message: 'refund amount is not valid for this payment' });
    const refunded = entries
      .filter((e) => e.kind === 'refund' && e.refundOf === paymentRef)
      .reduce((sum, e) => sum + e.amount.amount, 0);
    if (refunded + amount.amount > captured.amount.amount)
      return err({
        reason: 'over_refund' as const,
        message: `at most ${captured.amount.amount - refunded} of ${captured.amount.amount} can still be refunded`,
      });
    const e = this.#ledger.record('refund', amount, idempotencyKey, {
      ref: this.#ledger.ref('re'),
      refundOf: paymentRef,
    });
    await this.#emit('refund.updated', {
      id: e.ref,
      amount: amount.amount,
      status: 'succeeded',
      payment_intent: paymentRef,
      metadata: { key: idempotencyKey },
    });
    return ok({ refundRef: e.ref });
  }

  async parseWebhook(rawBody: string, signature: string | undefined) {
    const v = verifyWebhook(rawBody, signature, this.webhookSecret, this.#deps.clock.now());
    if (!v.ok) return v;
    return ok(
      await normaliseEvent(v.value, async (o, eventId) => {
        const reference = text(o, 'client_reference_id');
        const amount = sessionAmount(o);
        const paymentRef = text(o, 'payment_intent');
        if (reference === null || amount === null || paymentRef === null) return null;
        return {
          reference,
          amount,
          paymentRef,
          storedMethodRef: text(metadata(o), 'stored_method'),
          eventId,
        };
      }),
    );
  }

  async findCapture(reference: string) {
    this.#reachable();
    const e = this.#ledger.entries.find((x) => x.kind === 'capture' && x.reference === reference);
    if (e === undefined) return null;
    return {
      reference,
      amount: e.amount,
      paymentRef: e.ref,
      storedMethodRef: e.methodRef ?? null,
      eventId: `recovery:${e.ref}`,
    };
  }
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
