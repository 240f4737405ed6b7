import Stripe from 'stripe';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import { err, ok } from '../../protocol/result.js';
import { normaliseEvent, sessionAmount } from './events.js';
import type { PaymentFailure, PaymentProvider } from './provider.js';
import type { CapturedPayment } from './purposes.js';
import { metadata, text, verifyWebhook } from './webhook-signature.js';

/**
 * The Stripe adapter, through the official `stripe` package:
 * - a booking (or any reference) is paid on a hosted Checkout Session (`mode: payment`,
 *   `client_reference_id` and metadata = the reference, `payment_intent_data.setup_future_usage:
 *   off_session` and `customer_creation: always`, so the card is saved on a customer);
 * - off-session charges are PaymentIntents with `confirm: true, off_session: true` on that customer;
 * - refunds are Refunds on the payment's PaymentIntent with an `amount`;
 * - webhooks are verified with `stripe.webhooks.constructEvent` (STRIPE_WEBHOOK_SECRET);
 * - every call that moves money carries our idempotency key as Stripe's `Idempotency-Key`, and
 *   the key in `metadata.key` so the webhook names the payment row it settles.
 * The stored method is kept as `<customer id>/<payment method id>`.
 */

export interface StripeSettings {
  secretKey: string;
  webhookSecret: string;
  /** Override of the API's protocol/host/port (tests run against a local stand-in). */
  apiBase: string | null;
  timeoutMs: number;
  /** Where Stripe sends the payer back (`{CHECKOUT_SESSION_ID}` is filled in by Stripe). */
  returnUrl: string;
}

export function createStripeProvider(deps: {
  settings: StripeSettings;
  clock: Clock;
  log: Logger;
}): PaymentProvider {
  const { settings, clock, log } = deps;
  const base = settings.apiBase === null ? null : new URL(settings.apiBase);
  const stripe = new Stripe(settings.secretKey, {
    timeout: settings.timeoutMs,
    maxNetworkRetries: 1,
    ...(base === null
      ? {}
      : {
          host: base.hostname,
          port: base.port || (base.protocol === 'https:' ? 443 : 80),
          protocol: base.protocol.replace(':', '') as 'http' | 'https',
        }),
  });

  /** A refusal by Stripe (card declined, invalid request) as a failure; connection trouble throws. */
  function refusal(e: unknown): PaymentFailure {
    if (e instanceof Stripe.errors.StripeCardError) return { reason: 'declined', message: e.message };
    if (
      e instanceof Stripe.errors.StripeInvalidRequestError ||
      e instanceof Stripe.errors.StripeIdempotencyError
    )
      return { reason: 'declined', message: e.message };
    throw e;
  }

  /** The capture a paid Checkout Session made, with the saved method from its PaymentIntent. */
  async function captureOf(session: Stripe.Checkout.Session | Record<string, unknown>, eventId: string) {
    const o = session as Record<string, unknown>;
    const reference = text(o, 'client_reference_id') ?? text(metadata(o), 'reference');
    const amount = sessionAmount(o);
    const piField = o.payment_intent;
    const piId = typeof piField === 'string' ? piField : text(piField as Record<string, unknown>, 'id');
    if (reference === null || amount === null || piId === null) return null;
    const pi =
      typeof piField === 'object' && piField !== null
        ? (piField as Stripe.PaymentIntent)
        : await stripe.paymentIntents.retrieve(piId);
    const customer = typeof pi.customer === 'string' ? pi.customer : (pi.customer?.id ?? null);
    const method =
      typeof pi.payment_method === 'string' ? pi.payment_method : (pi.payment_method?.id ?? null);
    const storedMethodRef = customer !== null && method !== null ? `${customer}/${method}` : null;
    const c: CapturedPayment = { reference, amount, paymentRef: piId, storedMethodRef, eventId };
    return c;
  }

  return {
    name: 'stripe',
    async createCheckout({ reference, amount, description }) {
      const s = await stripe.checkout.sessions.create(
        {
          mode: 'payment',
          client_reference_id: reference,
          metadata: { reference },
          customer_creation: 'always',
          line_items: [
            {
              quantity: 1,
              price_data: {
                currency: amount.currency.toLowerCase(),
                unit_amount: amount.amount,
                product_data: { name: description },
              },
            },
          ],
          payment_intent_data: { setup_future_usage: 'off_session', metadata: { reference } },
          success_url: `${settings.returnUrl}?checkout_session={CHECKOUT_SESSION_ID}`,
          cancel_url: settings.returnUrl,
        },
        { idempotencyKey: `checkout:${reference}:${amount.amount}${amount.currency}` },
      );
      if (s.url === null) throw new Error('Stripe returned a Checkout Session without a url');
      return { checkoutId: s.id, paymentUrl: s.url };
    },
    async verifyToken({ token, reference, amount }) {
      if (!/^cs_[A-Za-z0-9_]{1,200}$/.test(token))
        return err({ reason: 'invalid_token', message: 'not a Checkout Session id' });
      let s: Stripe.Checkout.Session;
      try {
        s = await stripe.checkout.sessions.retrieve(token, { expand: ['payment_intent'] });
      } catch (e) {
        if (e instanceof Stripe.errors.StripeInvalidRequestError)
          return err({ reason: 'invalid_token', message: 'unknown Checkout Session' });
        throw e;
      }
      if (s.client_reference_id !== reference)
        return err({ reason: 'wrong_reference', message: 'the checkout is for something else' });
      const paid = sessionAmount(s as unknown as Record<string, unknown>);
      if (paid?.amount !== amount.amount || paid.currency !== amount.currency)
        return err({ reason: 'amount_mismatch', message: 'the checkout is for another amount' });
      if (s.payment_status !== 'paid')
        return err({ reason: 'invalid_token', message: 'the checkout is not paid' });
      const c = await captureOf(s, `verify:${s.id}`);
      if (c === null) return err({ reason: 'invalid_token', message: 'the checkout captured nothing' });
      return ok({ paymentRef: c.paymentRef, storedMethodRef: c.storedMethodRef });
    },
    async chargeStoredMethod({ storedMethodRef, amount, idempotencyKey, description }) {
      const [customer, method] = storedMethodRef.split('/');
      if (!customer || !method) return err({ reason: 'declined', message: 'unknown payment method' });
      try {
        const pi = await stripe.paymentIntents.create(
          {
            amount: amount.amount,
            currency: amount.currency.toLowerCase(),
            customer,
            payment_method: method,
            off_session: true,
            confirm: true,
            description,
            metadata: { key: idempotencyKey },
          },
          { idempotencyKey: `charge:${idempotencyKey}` },
        );
        if (pi.status !== 'succeeded') return err({ reason: 'declined', message: `charge is ${pi.status}` });
        return ok({ chargeRef: pi.id });
      } catch (e) {
        return err(refusal(e));
      }
    },
    async refund({ paymentRef, amount, idempotencyKey }) {
      try {
        const r = await stripe.refunds.create(
          { payment_intent: paymentRef, amount: amount.amount, metadata: { key: idempotencyKey } },
          { idempotencyKey: `refund:${idempotencyKey}` },
        );
        if (r.status === 'failed' || r.status === 'canceled')
          return err({ reason: 'declined', message: r.failure_reason ?? `refund ${r.status}` });
        return ok({ refundRef: r.id });
      } catch (e) {
        return err(refusal(e));
      }
    },
    async parseWebhook(rawBody, signature) {
      const v = verifyWebhook(rawBody, signature, settings.webhookSecret, clock.now());
      if (!v.ok) return v;
      return ok(await normaliseEvent(v.value, (o, eventId) => captureOf(o, eventId)));
    },
    async findCapture(reference) {
      // References are UUIDs or `prefix:id:…` texts; quotes cannot occur, but never trust that.
      const safe = reference.replaceAll("'", '');
      const found = await stripe.paymentIntents.search({
        query: `metadata['reference']:'${safe}' AND status:'succeeded'`,
        limit: 1,
      });
      const pi = found.data[0];
      if (pi === undefined || pi.metadata?.reference !== reference) return null;
      const customer = typeof pi.customer === 'string' ? pi.customer : (pi.customer?.id ?? null);
      const method =
        typeof pi.payment_method === 'string' ? pi.payment_method : (pi.payment_method?.id ?? null);
      log.info({ reference, paymentRef: pi.id }, 'found a capture at Stripe (recovery)');
      return {
        reference,
        amount: { amount: pi.amount_received || pi.amount, currency: pi.currency.toUpperCase() },
        paymentRef: pi.id,
        storedMethodRef: customer !== null && method !== null ? `${customer}/${method}` : null,
        eventId: `recovery:${pi.id}`,
      };
    },
  };
}
