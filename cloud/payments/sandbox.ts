import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../../protocol/clock.js';
import { CheckoutParams, ErrorBody, SandboxPayBody, SandboxPayResponse } from '../../protocol/http.js';
import { formatMoney, type Money } from '../../protocol/money.js';
import type { Random } from '../../protocol/random.js';
import { err, ok, type Result } from '../../protocol/result.js';
import { HttpError } from '../errors.js';
import type { PaymentFailure, PaymentProvider } from './provider.js';

/**
 * The built-in sandbox provider. Checkouts and payment tokens are HMAC-signed statements, so it
 * keeps no state to verify them; its "bank" is an in-memory ledger per instance (for tests and the
 * demo). It serves its own checkout page and a `POST /v1/sandbox/pay` that issues a token.
 */

const CheckoutClaims = z.object({
  t: z.literal('checkout'),
  rid: z.string(),
  amt: z.number().int().nonnegative(),
  cur: z.string(),
  iat: z.number(),
});
const PaymentClaims = z.object({
  t: z.literal('payment'),
  rid: z.string(),
  amt: z.number().int().nonnegative(),
  cur: z.string(),
  pid: z.string(),
  mid: z.string(),
  iat: z.number(),
});

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
  pay(checkoutId: string): Result<{ token: string; reservationId: string; amount: Money }, PaymentFailure>;
}

export function createSandboxProvider(deps: {
  secret: string;
  publicUrl: string;
  clock: Clock;
  random: Random;
}): SandboxProvider {
  const ledger: LedgerEntry[] = [];
  const byKey = new Map<string, LedgerEntry>();

  const mac = (body: string) => createHmac('sha256', deps.secret).update(body).digest('base64url');
  const seal = (claims: object) => {
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${body}.${mac(body)}`;
  };
  function open<T>(text: string, schema: z.ZodType<T>): T | null {
    if (typeof text !== 'string' || text.length > 2048) return null;
    const dot = text.indexOf('.');
    if (dot <= 0) return null;
    const body = text.slice(0, dot);
    const given = Buffer.from(text.slice(dot + 1));
    const expected = Buffer.from(mac(body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const parsed = schema.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }
  const fresh = (iat: number) => deps.clock.now() - iat < VALIDITY_MS;
  const ref = (prefix: string) => `${prefix}_${deps.random.id(20)}`;

  function record(kind: LedgerEntry['kind'], amount: Money, key: string): LedgerEntry {
    const existing = byKey.get(`${kind}:${key}`);
    if (existing) return existing;
    const entry: LedgerEntry = {
      kind,
      ref: ref(kind === 'refund' ? 're' : 'ch'),
      amount,
      key,
      at: deps.clock.now(),
    };
    ledger.push(entry);
    byKey.set(`${kind}:${key}`, entry);
    return entry;
  }

  const provider: SandboxProvider = {
    ledger,
    async createCheckout({ reservationId, amount }) {
      const checkoutId = seal({
        t: 'checkout',
        rid: reservationId,
        amt: amount.amount,
        cur: amount.currency,
        iat: deps.clock.now(),
      });
      return { checkoutId, paymentUrl: `${deps.publicUrl}/v1/sandbox/checkout/${checkoutId}` };
    },
    pay(checkoutId) {
      const c = open(checkoutId, CheckoutClaims);
      if (c === null || !fresh(c.iat))
        return err({ reason: 'invalid_token', message: 'unknown or expired checkout' });
      const token = seal({
        t: 'payment',
        rid: c.rid,
        amt: c.amt,
        cur: c.cur,
        pid: ref('pay'),
        mid: ref('pm'),
        iat: deps.clock.now(),
      });
      return ok({ token, reservationId: c.rid, amount: { amount: c.amt, currency: c.cur } });
    },
    async verifyToken({ token, reservationId, amount }) {
      const p = open(token, PaymentClaims);
      if (p === null || !fresh(p.iat))
        return err({ reason: 'invalid_token', message: 'payment token is not valid' });
      if (p.rid !== reservationId)
        return err({ reason: 'wrong_reservation', message: 'payment token is for another reservation' });
      if (p.amt !== amount.amount || p.cur !== amount.currency)
        return err({ reason: 'amount_mismatch', message: 'payment token is for another amount' });
      const entry = record('capture', amount, p.pid);
      return ok({ paymentRef: entry.ref, storedMethodRef: p.mid });
    },
    async chargeStoredMethod({ storedMethodRef, amount, idempotencyKey }) {
      if (!storedMethodRef.startsWith('pm_'))
        return err({ reason: 'declined', message: 'unknown payment method' });
      return ok({ chargeRef: record('charge', amount, idempotencyKey).ref });
    },
    async refund({ paymentRef, amount, idempotencyKey }) {
      if (!ledger.some((e) => e.ref === paymentRef && e.kind === 'capture'))
        return err({ reason: 'declined', message: 'unknown payment' });
      return ok({ refundRef: record('refund', amount, idempotencyKey).ref });
    },
    routes: async (app) => {
      const r = app.withTypeProvider<ZodTypeProvider>();
      r.get(
        '/v1/sandbox/checkout/:checkout',
        {
          config: { access: 'public' },
          schema: {
            tags: ['sandbox'],
            summary: 'Sandbox checkout page (the paymentUrl)',
            params: CheckoutParams,
            response: { 200: { content: { 'text/html': { schema: z.string() } } }, 404: ErrorBody },
          },
        },
        async (req, reply) => {
          const c = open(req.params.checkout, CheckoutClaims);
          if (c === null)
            throw new HttpError({ status: 404, error: 'checkout_not_found', message: 'unknown checkout' });
          reply.type('text/html; charset=utf-8');
          return checkoutPage(req.params.checkout, { amount: c.amt, currency: c.cur });
        },
      );
      r.post(
        '/v1/sandbox/pay',
        {
          config: { access: 'public' },
          schema: {
            tags: ['sandbox'],
            summary: 'Pay a sandbox checkout; returns the payment token for /complete',
            body: SandboxPayBody,
            response: { 200: SandboxPayResponse, 400: ErrorBody, 404: ErrorBody },
          },
        },
        async (req) => {
          const r = provider.pay(req.body.checkout);
          if (!r.ok)
            throw new HttpError({ status: 404, error: 'checkout_not_found', message: r.error.message });
          return {
            paymentToken: r.value.token,
            reservationId: r.value.reservationId,
            amount: r.value.amount,
          };
        },
      );
    },
  };
  return provider;
}

function checkoutPage(checkout: string, amount: Money): string {
  // Only verified, HMAC-checked values reach the page; the id is base64url plus one dot.
  const safe = JSON.stringify(checkout).replaceAll('<', '\\u003c');
  const price = formatMoney(amount);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>parkedge sandbox checkout</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto}button{font-size:1.2rem}</style></head>
<body><h1>Sandbox checkout</h1><p>Amount: <strong>${price}</strong> (no real money moves)</p>
<button id="pay">Pay</button><p>Payment token:</p><textarea id="token" rows="5" cols="60" readonly></textarea>
<script>
document.getElementById('pay').onclick = async () => {
  const res = await fetch('/v1/sandbox/pay', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ checkout: ${safe} }) });
  const body = await res.json();
  document.getElementById('token').value = body.paymentToken || body.message;
};
</script></body></html>`;
}
