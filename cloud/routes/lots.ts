import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  CapacityQuery,
  CapacityResponse,
  CreateLotBody,
  ErrorBody,
  LotListQuery,
  LotListResponse,
  LotParams,
  LotView,
  PatchLotBody,
} from '../../protocol/http.js';
import { validateWindow } from '../../protocol/slots.js';
import { HttpError, lotNotFound, unwrap } from '../errors.js';
import type { CloudApi } from './api.js';
import { browseRateLimit } from './browse.js';

/** Lots: create, find, read, change, and the capacity quote for a window. */
export const lotRoutes: FastifyPluginAsyncZod = async (app) => {
  createLotRoute(app);
  listLotsRoute(app);
  getLotRoute(app);
  patchLotRoute(app);
  capacityRoute(app);
};

const notFound = lotNotFound;

function createLotRoute(app: CloudApi): void {
  app.post(
    '/v1/lots',
    {
      config: { access: ['operator', 'admin'] },
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        tags: ['lots'],
        summary: 'Create a lot with its spots, rates and policies',
        body: CreateLotBody,
        response: { 201: LotView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => reply.code(201).send(unwrap(await app.lots.create(req.user, req.body))),
  );
}

function listLotsRoute(app: CloudApi): void {
  app.get(
    '/v1/lots',
    {
      config: { access: 'browse', rateLimit: browseRateLimit(app, 'lots') },
      schema: {
        tags: ['lots'],
        summary: 'Find lots, nearest first when lat/lng are given (no account needed)',
        description:
          'Give `lat` and `lng` together or neither (else 400 "give both lat and lng, or neither"); ' +
          '`radiusKm` needs them (else 400 "radiusKm needs lat and lng").',
        querystring: LotListQuery,
        response: { 200: LotListResponse, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (req) => ({ lots: await app.lots.list(req.query) }),
  );
}

function getLotRoute(app: CloudApi): void {
  app.get(
    '/v1/lots/:lotId',
    {
      config: { access: 'browse', rateLimit: browseRateLimit(app, 'lot') },
      schema: {
        tags: ['lots'],
        summary: 'A lot with its spots, rates and policies (no account needed)',
        params: LotParams,
        response: { 200: LotView, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody },
      },
    },
    async (req) => {
      const lot = await app.lots.view(req.params.lotId);
      if (lot === null) throw notFound(req.params.lotId);
      return lot;
    },
  );
}

function patchLotRoute(app: CloudApi): void {
  app.patch(
    '/v1/lots/:lotId',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['lots'],
        summary: 'Change name, rates or policies of a lot you operate',
        description:
          'Give at least one of `name`, `rates`, `policy` (`{}` is a 400 "give at least one of name, rates, ' +
          'policy"); other fields are refused, so a misspelt one is named rather than ignored.',
        params: LotParams,
        body: PatchLotBody,
        response: { 200: LotView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      if (!(await app.canActOnLot(req.user, req.params.lotId))) throw notFound(req.params.lotId);
      const current = await app.lots.get(req.params.lotId);
      const planCurrency = current?.ratePlan?.currency;
      if (
        req.body.rates !== undefined &&
        planCurrency !== undefined &&
        req.body.rates.currency !== planCurrency
      ) {
        throw new HttpError({
          status: 400,
          error: 'invalid_body',
          message: `the lot's rate plan is in ${planCurrency}: change the plan first (PUT /v1/lots/${req.params.lotId}/rate-plan)`,
          field: 'body.rates.currency',
        });
      }
      const lot = await app.lots.patch(req.params.lotId, req.body);
      if (lot === null) throw notFound(req.params.lotId);
      return lot;
    },
  );
}

/** Rate-limited per user, or per address without an account: it is the call a search page makes most. */
function capacityRoute(app: CloudApi): void {
  app.get(
    '/v1/lots/:lotId/capacity',
    {
      config: { access: 'browse', rateLimit: browseRateLimit(app, 'capacity') },
      schema: {
        tags: ['lots'],
        summary: 'How many spots are free for a vehicle type and window, and the price (no account needed)',
        params: LotParams,
        querystring: CapacityQuery,
        response: { 200: CapacityResponse, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody },
      },
    },
    async (req) => {
      const lot = await app.lots.get(req.params.lotId);
      if (lot === null) throw notFound(req.params.lotId);
      const w = validateWindow(req.query, lot.policy, app.clock.now());
      if (!w.ok) {
        throw new HttpError({
          status: 400,
          error: 'invalid_window',
          message: w.error.message,
          field: `query.${w.error.field}`,
          rule: w.error.reason,
        });
      }
      const quote = await app.reservations.quote(lot, req.query.vehicleType, w.value);
      return { available: quote.available, price: quote.price };
    },
  );
}
