import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody, LotParams } from '../../protocol/http.js';
import {
  LotVatBody,
  LotVatView,
  OperatorList,
  OperatorParams,
  OperatorView,
  PatchOperatorBody,
  ReceiptFormat,
  ReceiptParams,
} from '../../protocol/receipts.js';
import { HttpError } from '../errors.js';
import type { CloudApi } from '../routes/api.js';
import { receiptLinks } from './links.js';
import { getOperator, listOperators, patchOperator, setLotVat } from './operators.js';
import { receiptHtml, receiptPdf } from './render.js';
import { findReceipt } from './store.js';

/**
 * Operators' legal identity and lots' VAT rates, and receipts as PDF or HTML (docs/money.md).
 */
export const receiptRoutes: FastifyPluginAsyncZod = async (app) => {
  operatorRoutes(app);
  lotVatRoute(app);
  receiptRoute(app);
};

const operatorNotFound = (id: string) =>
  new HttpError({
    status: 404,
    error: 'operator_not_found',
    message: `operator ${id} not found`,
    field: 'params.id',
  });

function operatorRoutes(app: CloudApi): void {
  app.get(
    '/v1/operators',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['operators'],
        summary: 'The operators (legal entities) of the lots you operate, with their lots’ VAT rates',
        response: { 200: OperatorList, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (req) => ({ operators: await listOperators(app.db.pooled, req.user) }),
  );
  app.get(
    '/v1/operators/:id',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['operators'],
        summary: 'An operator’s legal identity as its receipts print it',
        params: OperatorParams,
        response: { 200: OperatorView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const op = await getOperator(app.db.pooled, req.user, req.params.id);
      if (op === null) throw operatorNotFound(req.params.id);
      return op;
    },
  );
  app.patch(
    '/v1/operators/:id',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['operators'],
        summary: 'Change an operator’s legal name, VAT id, address or receipt prefix',
        description:
          'Give at least one of `legalName`, `vatId`, `address`, `receiptPrefix` (`{}` is a 400 "give at least ' +
          'one of legalName, vatId, address, receiptPrefix"). Receipts already issued keep what they printed.',
        params: OperatorParams,
        body: PatchOperatorBody,
        response: { 200: OperatorView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const op = await patchOperator(app.db.pooled, req.user, req.params.id, req.body, app.clock.now());
      if (op === null) throw operatorNotFound(req.params.id);
      return op;
    },
  );
}

function lotVatRoute(app: CloudApi): void {
  app.put(
    '/v1/lots/:lotId/vat',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['operators'],
        summary: 'Set the VAT rate (basis points, 2000 = 20 %) of a lot you operate',
        description: 'Receipts issued from then on use it; issued ones keep theirs.',
        params: LotParams,
        body: LotVatBody,
        response: { 200: LotVatView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const { lotId } = req.params;
      const set = (await app.canActOnLot(req.user, lotId))
        ? await setLotVat(app.db.pooled, lotId, req.body.vatRateBp, app.clock.now())
        : null;
      if (set === null) {
        throw new HttpError({
          status: 404,
          error: 'lot_not_found',
          message: `lot ${lotId} not found`,
          field: 'params.lotId',
        });
      }
      return set;
    },
  );
}

function receiptRoute(app: CloudApi): void {
  const links = receiptLinks(app.config);
  app.get(
    '/v1/payments/:paymentId/receipt',
    {
      // Public with a signed link (`t`); otherwise the booking's driver or the lot's operator/admin.
      config: { access: 'optional' },
      schema: {
        tags: ['payments'],
        // The signed link needs no token; an access token is optional.
        security: [{}, { bearer: [] }],
        summary: 'The receipt (or credit note) of a payment, as a PDF or (`format=html`) a page',
        description:
          'Readable with the receipt link’s token `t`, or with an access token by the driver who paid or the ' +
          'lot’s operator or an admin. 404 when the payment has no receipt (not succeeded) or is not yours.',
        params: ReceiptParams,
        querystring: ReceiptFormat,
        response: {
          200: {
            description: 'PDF document or HTML page',
            content: { 'application/pdf': { schema: z.string() }, 'text/html': { schema: z.string() } },
          },
          400: ErrorBody,
          401: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const { paymentId } = req.params;
      const found = await findReceipt(app.db.pooled, paymentId);
      const user = req.user ?? null;
      const allowed =
        found !== null &&
        ((req.query.t !== undefined && links.verify(paymentId, req.query.t)) ||
          (user !== null &&
            (user.role === 'admin' ||
              found.ownerId === user.id ||
              (user.role === 'operator' && (await app.canActOnLot(user, found.lotId))))));
      if (!allowed) {
        throw new HttpError({
          status: 404,
          error: 'receipt_not_found',
          message: `payment ${paymentId} has no receipt you may read`,
          field: 'params.paymentId',
        });
      }
      reply.header('cache-control', 'private, no-store');
      if (req.query.format === 'html') {
        return reply.type('text/html; charset=utf-8').send(receiptHtml(found.receipt) as never);
      }
      const pdf = await receiptPdf(found.receipt);
      return reply
        .type('application/pdf')
        .header('content-disposition', `inline; filename="${found.receipt.number}.pdf"`)
        .send(pdf as unknown as string);
    },
  );
}
