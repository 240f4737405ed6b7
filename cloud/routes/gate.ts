import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  ArrivalResponse,
  DepartureResponse,
  GateFactBody,
  IdempotencyHeaders,
  LotParams,
} from '../../protocol/http.js';
import { HttpError, routeErrors, unwrap } from '../errors.js';
import type { GateFactInput } from '../repositories/reservations.js';

/**
 * Gate facts for lots without an edge controller: an attendant or operator reports an arrival or a
 * departure. The same repository functions apply an edge's gate events (with a factKey).
 */
export const gateRoutes: FastifyPluginAsyncZod = async (app) => {
  const errors = routeErrors;

  async function fact(
    user: Parameters<typeof app.canActOnLot>[0],
    lotId: string,
    body: GateFactBody,
  ): Promise<GateFactInput> {
    if (!(await app.canActOnLot(user, lotId))) {
      throw new HttpError({
        status: 404,
        error: 'lot_not_found',
        message: `lot ${lotId} not found`,
        field: 'params.lotId',
      });
    }
    const now = app.clock.now();
    const atMs = body.at === undefined ? now : Date.parse(body.at);
    if (atMs > now + 60_000) {
      throw new HttpError({
        status: 400,
        error: 'validation_failed',
        message: 'at may not be in the future',
        field: 'body.at',
        rule: 'in_future',
      });
    }
    return { lotId, reservationId: body.reservationId, plate: body.plate, atMs, enforceWindow: true };
  }

  app.post(
    '/v1/lots/:lotId/arrivals',
    {
      config: { access: ['attendant', 'operator', 'admin'], idempotent: true },
      schema: {
        tags: ['gate'],
        summary: 'A vehicle arrived: check in its CONFIRMED reservation',
        description:
          'Name the vehicle by `reservationId` or `plate` (or both; else 400 "give reservationId or plate").',
        headers: IdempotencyHeaders,
        params: LotParams,
        body: GateFactBody,
        response: { 200: ArrivalResponse, ...errors },
      },
    },
    async (req) => {
      const input = await fact(req.user, req.params.lotId, req.body);
      return { reservation: unwrap(await app.reservations.checkIn(input)) };
    },
  );

  app.post(
    '/v1/lots/:lotId/departures',
    {
      config: { access: ['attendant', 'operator', 'admin'], idempotent: true },
      schema: {
        tags: ['gate'],
        summary: 'A vehicle left: complete, release the rest of the window, charge any overstay',
        description:
          'Name the vehicle by `reservationId` or `plate` (or both; else 400 "give reservationId or plate").',
        headers: IdempotencyHeaders,
        params: LotParams,
        body: GateFactBody,
        response: { 200: DepartureResponse, ...errors },
      },
    },
    async (req) => unwrap(await app.reservations.depart(await fact(req.user, req.params.lotId, req.body))),
  );
};
