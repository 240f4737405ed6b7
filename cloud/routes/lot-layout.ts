import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ErrorBody, LotParams, LotView } from '../../protocol/http.js';
import {
  AddSpotsBody,
  ChangeSpotBody,
  ClosureParams,
  ClosureView,
  CreateClosureBody,
  OperatingHoursBody,
  SpotChangeResponse,
  SpotParams,
} from '../../protocol/lot-layout.js';
import { HttpError, unwrap } from '../errors.js';
import { newId } from '../ids.js';
import type { AuthUser } from '../plugins/auth.js';
import type { CloudApi } from './api.js';

/**
 * Changing a lot without stopping it (docs/permits.md#changing-a-lot): spots added, changed
 * (label, level, type, pool) and removed — future bookings of a spot that can no longer hold them
 * move to another free spot in the same transaction, or the change is a 409 listing them — and
 * operating hours and closures, which new bookings must respect. Operators of the lot and admins.
 */
export const lotLayoutRoutes: FastifyPluginAsyncZod = async (app) => {
  addSpotsRoute(app);
  changeSpotRoute(app);
  removeSpotRoute(app);
  hoursRoute(app);
  addClosureRoute(app);
  removeClosureRoute(app);
};

const STAFF = ['operator', 'admin'] as const;
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

async function staffOf(app: CloudApi, user: AuthUser, lotId: string): Promise<void> {
  if (!(await app.canActOnLot(user, lotId)))
    throw new HttpError({
      status: 404,
      error: 'lot_not_found',
      message: `lot ${lotId} not found`,
      field: 'params.lotId',
    });
}

async function viewOf(app: CloudApi, lotId: string): Promise<LotView> {
  const lot = await app.lots.view(lotId);
  if (lot === null)
    throw new HttpError({
      status: 404,
      error: 'lot_not_found',
      message: `lot ${lotId} not found`,
      field: 'params.lotId',
    });
  return lot;
}

function addSpotsRoute(app: CloudApi): void {
  app.post(
    '/v1/lots/:lotId/spots',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['lots'],
        summary: 'Add spots to a running lot',
        params: LotParams,
        body: AddSpotsBody,
        response: { 201: LotView, ...errors, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      await staffOf(app, req.user, req.params.lotId);
      unwrap(await app.lotLayout.addSpots(req.params.lotId, req.body.spots));
      return reply.code(201).send(await viewOf(app, req.params.lotId));
    },
  );
}

function changeSpotRoute(app: CloudApi): void {
  app.patch(
    '/v1/lots/:lotId/spots/:spotId',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['lots'],
        summary: 'Relabel, retype or move a spot to another pool; its future bookings move with the change',
        description:
          'Bookings the spot can no longer hold move to another free eligible bookable spot in the same ' +
          'transaction (`moved`); if one cannot, nothing changes: 409 `bookings_cannot_move` lists them.',
        params: SpotParams,
        body: ChangeSpotBody,
        response: { 200: SpotChangeResponse, ...errors, 409: ErrorBody },
      },
    },
    async (req) => {
      await staffOf(app, req.user, req.params.lotId);
      return unwrap(await app.lotLayout.changeSpot(req.params.lotId, req.params.spotId, req.body));
    },
  );
}

function removeSpotRoute(app: CloudApi): void {
  app.delete(
    '/v1/lots/:lotId/spots/:spotId',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['lots'],
        summary: 'Remove a spot; its future bookings move to other spots or the removal is refused',
        params: SpotParams,
        response: { 200: SpotChangeResponse, ...errors, 409: ErrorBody },
      },
    },
    async (req) => {
      await staffOf(app, req.user, req.params.lotId);
      return unwrap(await app.lotLayout.removeSpot(req.params.lotId, req.params.spotId));
    },
  );
}

function hoursRoute(app: CloudApi): void {
  app.put(
    '/v1/lots/:lotId/hours',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['lots'],
        summary:
          'Set the operating hours (lot time zone); [] = always open. New bookings must lie inside them',
        params: LotParams,
        body: OperatingHoursBody,
        response: { 200: LotView, ...errors },
      },
    },
    async (req) => {
      await staffOf(app, req.user, req.params.lotId);
      const lot = await app.lots.patch(req.params.lotId, {
        policy: { operatingHours: req.body.operatingHours },
      });
      return lot ?? viewOf(app, req.params.lotId);
    },
  );
}

function addClosureRoute(app: CloudApi): void {
  app.post(
    '/v1/lots/:lotId/closures',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['lots'],
        summary: 'Close the lot for local dates from–to (inclusive) with a reason; bookings then are refused',
        params: LotParams,
        body: CreateClosureBody,
        response: { 201: ClosureView, ...errors, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      await staffOf(app, req.user, req.params.lotId);
      const lot = await app.lots.get(req.params.lotId);
      const closures = lot?.policy.closures ?? [];
      if (closures.length >= 100)
        throw new HttpError({
          status: 409,
          error: 'too_many_closures',
          message: 'a lot keeps at most 100 closures',
        });
      const closure = { id: newId(app.random), ...req.body };
      await app.lots.patch(req.params.lotId, { policy: { closures: [...closures, closure] } });
      return reply.code(201).send(closure);
    },
  );
}

function removeClosureRoute(app: CloudApi): void {
  app.delete(
    '/v1/lots/:lotId/closures/:closureId',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['lots'],
        summary: 'Reopen: remove a closure',
        params: ClosureParams,
        response: { 200: LotView, ...errors },
      },
    },
    async (req) => {
      await staffOf(app, req.user, req.params.lotId);
      const lot = await viewOf(app, req.params.lotId);
      const closures = (await app.lots.get(req.params.lotId))?.policy.closures ?? [];
      if (!closures.some((c) => c.id === req.params.closureId))
        throw new HttpError({
          status: 404,
          error: 'closure_not_found',
          message: `closure ${req.params.closureId} not found`,
          field: 'params.closureId',
        });
      const next = closures.filter((c) => c.id !== req.params.closureId);
      return (await app.lots.patch(req.params.lotId, { policy: { closures: next } })) ?? lot;
    },
  );
}
