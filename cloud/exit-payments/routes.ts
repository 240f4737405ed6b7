import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  DebtParams,
  ExitCheckoutBody,
  ExitCheckoutResponse,
  ExitFeeQuery,
  ExitFeeQuote,
  PayCompleteBody,
  PayCompleteResponse,
  PayPageParams,
  PayPageQuery,
} from '../../protocol/debts.js';
import { ErrorBody, IdempotencyHeaders, LotParams } from '../../protocol/http.js';
import { HttpError, unwrap } from '../errors.js';
import { debtById } from '../debts/store.js';
import { completeCheckout, type ExitPayDeps, exitFee, openExitCheckout } from './checkout.js';
import type { CloudApi } from '../routes/api.js';
import { debtPage, payPage } from './page.js';

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody };
const html = { content: { 'text/html': { schema: z.string() } } };

/**
 * Paying what a stay owes without an account: the quote from the lot's session data, a checkout for
 * the amount the cloud computed, the return from the provider, and the public pay pages (the lane's
 * QR and a debt's pay link open them).
 */
export function exitPaymentRoutes(deps: () => ExitPayDeps): FastifyPluginAsyncZod {
  return async (app) => {
    exitFeeRoute(app, deps);
    exitCheckoutRoute(app, deps);
    completeRoute(app, deps);
    payPageRoute(app, deps);
    debtPageRoute(app, deps);
  };
}

type Deps = () => ExitPayDeps;

function exitFeeRoute(app: CloudApi, deps: Deps): void {
  app.get(
    '/v1/lots/:lotId/exit-fee',
    {
      config: { access: 'public' },
      schema: {
        tags: ['exit payments'],
        summary: 'What leaving now costs a plate inside the lot (from the lot’s own session data)',
        security: [],
        params: LotParams,
        querystring: ExitFeeQuery,
        response: { 200: ExitFeeQuote, ...errors },
      },
    },
    async (req) => {
      const { reservationId: _r, ...quote } = unwrap(
        await exitFee(deps(), req.params.lotId, req.query.plate),
      );
      return quote;
    },
  );
}

function exitCheckoutRoute(app: CloudApi, deps: Deps): void {
  app.post(
    '/v1/lots/:lotId/exit-payments',
    {
      config: { access: 'public', idempotent: true },
      schema: {
        tags: ['exit payments'],
        summary: 'Pay a stay before walking back: a checkout for what it owes now (amount set by the cloud)',
        description: '409 `nothing_due` when the stay owes nothing now. The body names the plate only.',
        security: [],
        headers: IdempotencyHeaders,
        params: LotParams,
        body: ExitCheckoutBody,
        response: { 201: ExitCheckoutResponse, ...errors, 502: ErrorBody },
      },
    },
    async (req, reply) =>
      reply.code(201).send(unwrap(await openExitCheckout(deps(), req.params.lotId, req.body.plate))),
  );
}

function completeRoute(app: CloudApi, deps: Deps): void {
  app.post(
    '/v1/pay/complete',
    {
      config: { access: 'public', idempotent: true },
      schema: {
        tags: ['exit payments'],
        summary: 'Return from a checkout of an exit fee or a debt: verify the payment and apply it once',
        description: '402 `payment_invalid` for a token of another reference or amount; nothing changes.',
        security: [],
        headers: IdempotencyHeaders,
        body: PayCompleteBody,
        response: { 200: PayCompleteResponse, ...errors, 402: ErrorBody, 502: ErrorBody },
      },
    },
    async (req) => unwrap(await completeCheckout(deps(), req.body)),
  );
}

function payPageRoute(app: CloudApi, deps: Deps): void {
  app.get(
    '/pay/:lotId',
    {
      config: { access: 'public' },
      schema: {
        tags: ['exit payments'],
        summary: 'The public pay page of a lot (the exit lane’s QR): enter the plate, see the fee, pay',
        security: [],
        params: PayPageParams,
        querystring: PayPageQuery,
        response: { 200: html, 404: ErrorBody, 400: ErrorBody },
      },
    },
    async (req, reply) => {
      const lot = await deps().lots.get(req.params.lotId);
      if (lot === null)
        throw new HttpError({
          status: 404,
          error: 'lot_not_found',
          message: `lot ${req.params.lotId} not found`,
        });
      reply.type('text/html; charset=utf-8');
      return payPage({ lotId: lot.id, lotName: lot.name, plate: req.query.plate ?? '' });
    },
  );
}

function debtPageRoute(app: CloudApi, deps: Deps): void {
  app.get(
    '/pay/debt/:id',
    {
      config: { access: 'public' },
      schema: {
        tags: ['exit payments'],
        summary: 'The pay page of one debt (the link a refused booking names)',
        security: [],
        params: DebtParams,
        response: { 200: html, 404: ErrorBody, 400: ErrorBody },
      },
    },
    async (req, reply) => {
      const debt = await debtById(deps().db.pooled, req.params.id);
      if (debt === null)
        throw new HttpError({
          status: 404,
          error: 'debt_not_found',
          message: `debt ${req.params.id} not found`,
        });
      reply.type('text/html; charset=utf-8');
      return debtPage({
        id: debt.id,
        plate: debt.plate,
        amount: { amount: debt.amount, currency: debt.currency },
        status: debt.status,
      });
    },
  );
}
