import type { Clock } from '../../protocol/clock.js';
import type { Money } from '../../protocol/money.js';
import type { Random } from '../../protocol/random.js';
import { err, ok, type Result } from '../../protocol/result.js';
import type { PaymentFailure, PaymentProvider } from './provider.js';
import { sandboxRoutes } from './sandbox-routes.js';
import { CheckoutClaims, createSealer, PaymentClaims } from './sandbox-tokens.js';

/**
 * The built-in sandbox provider. Checkouts and payment tokens are HMAC-signed statements, so it
 * keeps no state to verify them; its "bank" is an in-memory ledger per instance (for tests and the
 * demo). It serves its own checkout page and a `POST /v1/sandbox/pay` that issues a token
 * (`sandbox-routes.ts`); the sealed claims are in `sandbox-tokens.ts`.
 */

export interface LedgerEntry {
  kind: 'capture' | 'charge' | 'refund';
  ref: string;
  amount: Money;
  key: string;
  at: number;
}

/** Checkouts and tokens are honoured for a day. */
const VALIDITY_MS = 24 * 60 * 60 * 1000;

export interface SandboxProvider extends PaymentProvider {
  readonly ledger: readonly LedgerEntry[];
  /** What the pay endpoint does: a token for a valid checkout id. */
  pay(checkoutId: string): Result<{ token: string; reference: string; amount: Money }, PaymentFailure>;
}

export interface SandboxDeps {
  secret: string;
  publicUrl: string;
  clock: Clock;
  random: Random;
}

export function createSandboxProvider(deps: SandboxDeps): SandboxProvider {
  const sealer = createSealer(deps.secret);
  const ledger = createLedger(deps);
  const fresh = (iat: number) => deps.clock.now() - iat < VALIDITY_MS;

  const provider: SandboxProvider = {
    ledger: ledger.entries,
    async createCheckout({ reference, amount }) {
      const checkoutId = sealer.seal({
        t: 'checkout',
        rid: reference,
        amt: amount.amount,
        cur: amount.currency,
        iat: deps.clock.now(),
      });
      return { checkoutId, paymentUrl: `${deps.publicUrl}/v1/sandbox/checkout/${checkoutId}` };
    },
    pay(checkoutId) {
      const c = sealer.open(checkoutId, CheckoutClaims);
      if (c === null || !fresh(c.iat))
        return err({ reason: 'invalid_token', message: 'unknown or expired checkout' });
      const token = sealer.seal({
        t: 'payment',
        rid: c.rid,
        amt: c.amt,
        cur: c.cur,
        pid: ledger.ref('pay'),
        mid: ledger.ref('pm'),
        iat: deps.clock.now(),
      });
      return ok({ token, reference: c.rid, amount: { amount: c.amt, currency: c.cur } });
    },
    async verifyToken({ token, reference, amount }) {
      const p = sealer.open(token, PaymentClaims);
      if (p === null || !fresh(p.iat))
        return err({ reason: 'invalid_token', message: 'payment token is not valid' });
      if (p.rid !== reference)
        return err({ reason: 'wrong_reference', message: 'payment token is for something else' });
      if (p.amt !== amount.amount || p.cur !== amount.currency)
        return err({ reason: 'amount_mismatch', message: 'payment token is for another amount' });
      const entry = ledger.record('capture', amount, p.pid);
      return ok({ paymentRef: entry.ref, storedMethodRef: p.mid });
    },
    async chargeStoredMethod({ storedMethodRef, amount, idempotencyKey }) {
      if (!storedMethodRef.startsWith('pm_'))
        return err({ reason: 'declined', message: 'unknown payment method' });
      return ok({ chargeRef: ledger.record('charge', amount, idempotencyKey).ref });
    },
    async refund({ paymentRef, amount, idempotencyKey }) {
      if (!ledger.entries.some((e) => e.ref === paymentRef && e.kind === 'capture'))
        return err({ reason: 'declined', message: 'unknown payment' });
      return ok({ refundRef: ledger.record('refund', amount, idempotencyKey).ref });
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
    record(kind: LedgerEntry['kind'], amount: Money, key: string): LedgerEntry {
      const existing = byKey.get(`${kind}:${key}`);
      if (existing) return existing;
      const entry: LedgerEntry = {
        kind,
        ref: ref(kind === 'refund' ? 're' : 'ch'),
        amount,
        key,
        at: deps.clock.now(),
      };
      entries.push(entry);
      byKey.set(`${kind}:${key}`, entry);
      return entry;
    },
  };
}
