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
  return new StripeProvider(deps.settings, deps.clock, deps.log);
}

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

/** `<customer>/<payment method>` of a PaymentIntent, when it has both. */
function storedMethodOf(pi: Stripe.PaymentIntent): string | null {
  const customer = typeof pi.customer === 'string' ? pi.customer : (pi.customer?.id ?? null);
  const method = typeof pi.payment_method === 'string' ? pi.payment_method : (pi.payment_method?.id ?? null);
  return customer !== null && method !== null ? `${customer}/${method}` : null;
}

class StripeProvider implements PaymentProvider {
  readonly name = 'stripe';
  readonly #stripe: Stripe;

  constructor(
    private readonly settings: StripeSettings,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    const base = settings.apiBase === null ? null : new URL(settings.apiBase);
    this.#stripe = new Stripe(settings.secretKey, {
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
  }

  /** The capture a paid Checkout Session made, with the saved method from its PaymentIntent. */
  async #captureOf(session: Record<string, unknown>, eventId: string): Promise<CapturedPayment | null> {
    const reference = text(session, 'client_reference_id') ?? text(metadata(session), 'reference');
    const amount = sessionAmount(session);
    const piField = session.payment_intent;
    const piId = typeof piField === 'string' ? piField : text(piField as Record<string, unknown>, 'id');
    if (reference === null || amount === null || piId === null) return null;
    const pi =
      typeof piField === 'object' && piField !== null
        ? (piField as Stripe.PaymentIntent)
        : await this.#stripe.paymentIntents.retrieve(piId);
    return { reference, amount, paymentRef: piId, storedMethodRef: storedMethodOf(pi), eventId };
  }

  async createCheckout({ reference, amount, description }: Parameters<PaymentProvider['createCheckout']>[0]) {
    const s = await this.#stripe.checkout.sessions.create(
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
        success_url: `${this.settings.returnUrl}?checkout_session={CHECKOUT_SESSION_ID}`,
        cancel_url: this.settings.returnUrl,
      },
      { idempotencyKey: `checkout:${reference}:${amount.amount}${amount.currency}` },
    );
    if (s.url === null) throw new Error('Stripe returned a Checkout Session without a url');
    return { checkoutId: s.id, paymentUrl: s.url };
  }

  async verifyToken({ token, reference, amount }: Parameters<PaymentProvider['verifyToken']>[0]) {
    if (!/^cs_[A-Za-z0-9_]{1,200}$/.test(token))
      return err({ reason: 'invalid_token' as const, message: 'not a Checkout Session id' });
    let s: Stripe.Checkout.Session;
    try {
      s = await this.#stripe.checkout.sessions.retrieve(token, { expand: ['payment_intent'] });
    } catch (e) {
      if (e instanceof Stripe.errors.StripeInvalidRequestError)
        return err({ reason: 'invalid_token' as const, message: 'unknown Checkout Session' });
      throw e;
    }
    const o = s as unknown as Record<string, unknown>;
    if (s.client_reference_id !== reference)
      return err({ reason: 'wrong_reference' as const, message: 'the checkout is for something else' });
    const paid = sessionAmount(o);
    if (paid?.amount !== amount.amount || paid.currency !== amount.currency)
      return err({ reason: 'amount_mismatch' as const, message: 'the checkout is for another amount' });
    if (s.payment_status !== 'paid')
      return err({ reason: 'invalid_token' as const, message: 'the checkout is not paid' });
    const c = await this.#captureOf(o, `verify:${s.id}`);
    if (c === null)
      return err({ reason: 'invalid_token' as const, message: 'the checkout captured nothing' });
    return ok({ paymentRef: c.paymentRef, storedMethodRef: c.storedMethodRef });
  }

  async chargeStoredMethod(input: Parameters<PaymentProvider['chargeStoredMethod']>[0]) {
    const { storedMethodRef, amount, idempotencyKey, description } = input;
    const [customer, method] = storedMethodRef.split('/');
    if (!customer || !method) return err({ reason: 'declined' as const, message: 'unknown payment method' });
    try {
      const pi = await this.#stripe.paymentIntents.create(
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
      if (pi.status !== 'succeeded')
        return err({ reason: 'declined' as const, message: `charge is ${pi.status}` });
      return ok({ chargeRef: pi.id });
    } catch (e) {
      return err(refusal(e));
    }
  }

  async refund({ paymentRef, amount, idempotencyKey }: Parameters<PaymentProvider['refund']>[0]) {
    try {
      const r = await this.#stripe.refunds.create(
        { payment_intent: paymentRef, amount: amount.amount, metadata: { key: idempotencyKey } },
        { idempotencyKey: `refund:${idempotencyKey}` },
      );
      if (r.status === 'failed' || r.status === 'canceled')
        return err({ reason: 'declined' as const, message: r.failure_reason ?? `refund ${r.status}` });
      return ok({ refundRef: r.id });
    } catch (e) {
      return err(refusal(e));
    }
  }

  async parseWebhook(rawBody: string, signature: string | undefined) {
    const v = verifyWebhook(rawBody, signature, this.settings.webhookSecret, this.clock.now());
    if (!v.ok) return v;
    return ok(await normaliseEvent(v.value, (o, eventId) => this.#captureOf(o, eventId)));
  }

  async findCapture(reference: string): Promise<CapturedPayment | null> {
    // References are UUIDs or `prefix:id:…` texts; quotes cannot occur, but never trust that.
    const safe = reference.replaceAll("'", '');
    const found = await this.#stripe.paymentIntents.search({
      query: `metadata['reference']:'${safe}' AND status:'succeeded'`,
      limit: 1,
    });
    const pi = found.data[0];
    if (pi === undefined || pi.metadata?.reference !== reference) return null;
    this.log.info({ reference, paymentRef: pi.id }, 'found a capture at Stripe (recovery)');
    return {
      reference,
      amount: { amount: pi.amount_received || pi.amount, currency: pi.currency.toUpperCase() },
      paymentRef: pi.id,
      storedMethodRef: storedMethodOf(pi),
      eventId: `recovery:${pi.id}`,
    };
  }
}
