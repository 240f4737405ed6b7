import type { FastifyPluginAsync } from 'fastify';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CheckoutParams, ErrorBody, SandboxPayBody, SandboxPayResponse } from '../../protocol/http.js';
import { formatMoney, type Money } from '../../protocol/money.js';
import { HttpError } from '../errors.js';
import { purposeOf } from './purposes.js';
import type { SandboxProvider } from './sandbox.js';
import { CheckoutClaims, type Sealer } from './sandbox-tokens.js';

/** The sandbox's own pages: the checkout page a paymentUrl points at, and the pay call it makes. */
export function sandboxRoutes(provider: Pick<SandboxProvider, 'pay'>, sealer: Sealer): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    checkoutPageRoute(r, sealer);
    payRoute(r, provider);
  };
}

/** The scope the routes register on, with the Zod type provider. */
type SandboxApi = Parameters<FastifyPluginAsyncZod>[0];

function checkoutPageRoute(r: SandboxApi, sealer: Sealer): void {
  r.get(
    '/v1/sandbox/checkout/:checkout',
    {
      config: { access: 'public' },
      schema: {
        tags: ['sandbox'],
        summary: 'Sandbox checkout page (the paymentUrl)',
        security: [],
        params: CheckoutParams,
        response: {
          200: { content: { 'text/html': { schema: z.string() } } },
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const c = sealer.open(req.params.checkout, CheckoutClaims);
      if (c === null)
        throw new HttpError({ status: 404, error: 'checkout_not_found', message: 'unknown checkout' });
      reply.type('text/html; charset=utf-8');
      return checkoutPage(req.params.checkout, { amount: c.amt, currency: c.cur });
    },
  );
}

function payRoute(r: SandboxApi, provider: Pick<SandboxProvider, 'pay'>): void {
  r.post(
    '/v1/sandbox/pay',
    {
      config: { access: 'public' },
      schema: {
        tags: ['sandbox'],
        summary:
          'Pay a sandbox checkout (captures once, raises the signed checkout webhook); returns the payment token for /complete',
        security: [],
        body: SandboxPayBody,
        response: { 200: SandboxPayResponse, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const r = await provider.pay(req.body.checkout);
      if (!r.ok) throw new HttpError({ status: 404, error: 'checkout_not_found', message: r.error.message });
      const booking = purposeOf(r.value.reference) === 'booking';
      return {
        paymentToken: r.value.token,
        reference: r.value.reference,
        ...(booking ? { reservationId: r.value.reference } : {}),
        amount: r.value.amount,
      };
    },
  );
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
