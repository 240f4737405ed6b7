import {
  CreateReservationBody,
  ErrorBody,
  IdempotencyHeaders,
  ReservationCreated,
} from '../../../protocol/http.js';
import { unwrap } from '../../errors.js';
import type { CloudApi } from '../api.js';
import { reservationErrors } from './access.js';

/** POST /v1/reservations: hold a spot, rate-limited per lot (the body names it; else per address). */
export function createReservationRoute(app: CloudApi): void {
  app.post(
    '/v1/reservations',
    {
      config: {
        access: ['driver', 'partner', 'operator', 'admin'],
        idempotent: true,
        rateLimit: {
          max: app.config.rateLimits.reservePerLotPerMinute,
          timeWindow: 60_000,
          hook: 'preValidation',
          keyGenerator: (req) => {
            const lotId = (req.body as { lotId?: unknown } | undefined)?.lotId;
            return typeof lotId === 'string' ? `reserve:${lotId.slice(0, 64)}` : `reserve-ip:${req.ip}`;
          },
        },
      },
      schema: {
        tags: ['reservations'],
        summary: 'Hold a spot (TENTATIVE) and get a payment URL',
        description:
          '409 `no_spot_free` when the lot is full for the window, `plate_overlap` when the car already holds an overlapping reservation.',
        headers: IdempotencyHeaders,
        body: CreateReservationBody,
        response: { 201: ReservationCreated, ...reservationErrors, 429: ErrorBody, 502: ErrorBody },
      },
    },
    async (req, reply) => reply.code(201).send(unwrap(await app.reservations.reserve(req.user, req.body))),
  );
}
