import { ErrorBody } from '../../protocol/http.js';
import {
  PaymentParams,
  PaymentView,
  RefundBody,
  RefundHeaders,
  RefundResponse,
  WebhookAck,
  WebhookHeaders,
} from '../../protocol/payments.js';
import { HttpError, routeErrors, unwrap } from '../errors.js';
import type { AuthUser } from '../plugins/auth.js';
import type { CloudApi } from '../routes/api.js';
import type { Refunds } from './refunds.js';
import type { WebhookHandler } from './webhooks.js';
import { z } from 'zod';

/**
 * Payment routes: the provider's webhook (`POST /v1/payments/<provider>/webhook`, raw body for the
 * signature, so this scope parses every body as text), one payment with its refunds, and an
 * operator's refund.
 */

const errors = routeErrors;

export function webhookRoute(app: CloudApi, provider: string, handler: WebhookHandler): void {
  app.post(
    `/v1/payments/${provider}/webhook`,
    {
      config: { access: 'public' },
      schema: {
        tags: ['payments'],
        summary: `The ${provider} provider's webhook (signed with Stripe's scheme)`,
        description:
          'Verified with the `Stripe-Signature` header over the raw body; idempotent by event id. 400 ' +
          '`invalid_signature` changes nothing; a reference we do not know is acknowledged and ignored.',
        security: [],
        headers: WebhookHeaders,
        body: z.string().max(1024 * 1024),
        response: { 200: WebhookAck, 400: ErrorBody, 502: ErrorBody },
      },
    },
    async (req) => {
      let r: Awaited<ReturnType<WebhookHandler['handle']>>;
      try {
        r = await handler.handle(req.body, req.headers['stripe-signature']);
      } catch (err) {
        req.log.warn({ err }, 'webhook could not be applied now; the provider will deliver it again');
        throw new HttpError({
          status: 502,
          error: 'payment_unavailable',
          message: 'the event could not be applied now; deliver it again',
        });
      }
      if (!r.ok)
        throw new HttpError({
          status: 400,
          error: 'invalid_signature',
          message: r.error.message,
          field: 'headers.stripe-signature',
        });
      return r.value;
    },
  );
}

/** Lot staff (and admins) see a payment; the booking's driver sees their own. Others: 404. */
async function visiblePayment(app: CloudApi, refunds: Refunds, user: AuthUser, id: string, refund: boolean) {
  const found = await refunds.get(id);
  const notFound = new HttpError({
    status: 404,
    error: 'payment_not_found',
    message: `payment ${id} not found`,
  });
  if (found === null) throw notFound;
  const { lotId, driverId } = found.access;
  const staff = lotId !== null && (await app.canActOnLot(user, lotId));
  if (refund) {
    if (user.role === 'admin' || (user.role === 'operator' && staff)) return found.payment;
    if (staff || driverId === user.id)
      throw new HttpError({ status: 403, error: 'forbidden', message: "only the lot's operator refunds" });
    throw notFound;
  }
  if (user.role === 'admin' || staff || driverId === user.id) return found.payment;
  throw notFound;
}

export function paymentRoutes(app: CloudApi, refunds: Refunds): void {
  app.get(
    '/v1/payments/:paymentId',
    {
      config: { access: ['driver', 'partner', 'attendant', 'operator', 'admin'] },
      schema: {
        tags: ['payments'],
        summary: 'One payment: what was captured, refunded and is still refundable',
        params: PaymentParams,
        response: { 200: PaymentView, ...errors },
      },
    },
    async (req) => visiblePayment(app, refunds, req.user, req.params.paymentId, false),
  );
  app.post(
    '/v1/payments/:paymentId/refunds',
    {
      config: { access: ['operator', 'admin'], idempotent: true },
      schema: {
        tags: ['payments'],
        summary: 'Refund part or all of a captured payment, with a reason (audited)',
        description:
          'At most what was captured minus earlier refunds (409 `over_refund`). The refund goes to the ' +
          'provider at once; if it cannot be reached the refund stays `pending` and is retried. 502 ' +
          '`refund_failed` when the provider refuses it.',
        headers: RefundHeaders,
        params: PaymentParams,
        body: RefundBody,
        response: { 200: RefundResponse, ...errors, 502: ErrorBody },
      },
    },
    async (req) => {
      await visiblePayment(app, refunds, req.user, req.params.paymentId, true);
      const r = unwrap(
        await refunds.refund({
          paymentId: req.params.paymentId,
          amount: req.body.amount,
          currency: req.body.currency,
          reason: req.body.reason,
          actor: req.user.id,
        }),
      );
      const refund = r.payment.refunds.find((x) => x.id === r.refundId);
      if (refund === undefined) throw new Error(`refund ${r.refundId} vanished`);
      return { refund, payment: r.payment };
    },
  );
}
