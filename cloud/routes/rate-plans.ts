import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ErrorBody, LotParams } from '../../protocol/http.js';
import { effectivePlan, priceStay } from '../../protocol/pricing.js';
import { PriceQuery, PriceResponse, PutRatePlanBody, RatePlanView } from '../../protocol/pricing-http.js';
import type { RatePlan } from '../../protocol/rate-plan.js';
import { HttpError, lotNotFound } from '../errors.js';
import type { LotRecord } from '../repositories/lots.js';
import type { CloudApi } from './api.js';
import { browseRateLimit } from './browse.js';

/** A lot's rate plan (operators) and the itemised price of a stay (anyone). docs/pricing.md. */
export const ratePlanRoutes: FastifyPluginAsyncZod = async (app) => {
  getRatePlanRoute(app);
  putRatePlanRoute(app);
  priceRoute(app);
};

const notFound = lotNotFound;

const viewOf = (lot: LotRecord) => ({
  lotId: lot.id,
  ratePlan: lot.ratePlan,
  effective: effectivePlan(lot),
  version: lot.version,
});

function getRatePlanRoute(app: CloudApi): void {
  app.get(
    '/v1/lots/:lotId/rate-plan',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['pricing'],
        summary: "A lot's rate plan (operators of the lot)",
        params: LotParams,
        response: { 200: RatePlanView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      if (!(await app.canActOnLot(req.user, req.params.lotId))) throw notFound(req.params.lotId);
      const lot = await app.lots.get(req.params.lotId);
      if (lot === null) throw notFound(req.params.lotId);
      return viewOf(lot);
    },
  );
}

function putRatePlanRoute(app: CloudApi): void {
  app.put(
    '/v1/lots/:lotId/rate-plan',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['pricing'],
        summary: "Replace a lot's rate plan; the lot's edge receives it with the next config version",
        description:
          'Overlapping or contradictory rules are refused with a 400 naming the rule (`field` is ' +
          '`body.rules.<i>`). The plan must be in the currency of the lot\'s `rates`. `{"ratePlan": null}` ' +
          'goes back to pricing by the `rates` card alone.',
        params: LotParams,
        body: PutRatePlanBody,
        response: { 200: RatePlanView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const { lotId } = req.params;
      if (!(await app.canActOnLot(req.user, lotId))) throw notFound(lotId);
      const lot = await app.lots.get(lotId);
      if (lot === null) throw notFound(lotId);
      const plan: RatePlan | null = 'currency' in req.body ? req.body : null;
      if (plan !== null && plan.currency !== lot.rates.currency) {
        throw new HttpError({
          status: 400,
          error: 'invalid_body',
          message: `the plan's currency ${plan.currency} is not the lot's ${lot.rates.currency}`,
          field: 'body.currency',
        });
      }
      if (!(await app.lots.setRatePlan(lotId, plan))) throw notFound(lotId);
      const updated = await app.lots.get(lotId);
      if (updated === null) throw notFound(lotId);
      return viewOf(updated);
    },
  );
}

function priceRoute(app: CloudApi): void {
  app.get(
    '/v1/lots/:lotId/price',
    {
      config: { access: 'browse', rateLimit: browseRateLimit(app, 'price') },
      schema: {
        tags: ['pricing'],
        summary: 'The itemised price of a stay at the lot, as its exit charges it (no account needed)',
        description:
          "What a drive-up entering at `start` and leaving at `end` pays by the lot's rate plan, line by " +
          'line. Online bookings are quoted by `/capacity`, which also applies demand pricing.',
        params: LotParams,
        querystring: PriceQuery,
        response: { 200: PriceResponse, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody },
      },
    },
    async (req) => {
      const lot = await app.lots.get(req.params.lotId);
      if (lot === null) throw notFound(req.params.lotId);
      const { start, end, vehicleType, lostTicket } = req.query;
      const stay = {
        entryMs: Date.parse(start),
        exitMs: Date.parse(end),
        vehicleType,
        lostTicket: lostTicket === 'true',
      };
      return priceStay(effectivePlan(lot), stay, lot.timeZone);
    },
  );
}
