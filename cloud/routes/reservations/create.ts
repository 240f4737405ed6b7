import {
  CreateReservationBody,
  ErrorBody,
  IdempotencyHeaders,
  ReservationCreated,
} from '../../../protocol/http.js';
import { refuseIfOwing } from '../../debts/blocking.js';
import { unwrap } from '../../errors.js';
import type { CloudApi } from '../api.js';
import { reservationErrors } from './access.js';

/** POST /v1/reservations: hold a spot; throttled per user, then per lot (cloud/plugins/throttle.ts). */
export function createReservationRoute(app: CloudApi): void {
  app.post(
    '/v1/reservations',
    {
      config: {
        access: ['driver', 'partner', 'operator', 'admin'],
        idempotent: true,
        throttle: 'reserve',
      },
      schema: {
        tags: ['reservations'],
        summary: 'Hold a spot (TENTATIVE) and get a payment URL',
        description:
          '409 `no_spot_free` when the lot is full for the window, `plate_overlap` when the car already holds an overlapping reservation, `debt_outstanding` (with `owed` and `payUrl`) when the plate has unpaid debt.',
        headers: IdempotencyHeaders,
        body: CreateReservationBody,
        response: { 201: ReservationCreated, ...reservationErrors, 429: ErrorBody, 502: ErrorBody },
      },
    },
    async (req, reply) => {
      // The reserve statement refuses a plate with open debt itself; the refusal then says what is
      // owed and where to pay it (one more read, only then).
      const held = await app.reservations.reserve(req.user, req.body);
      if (!held.ok && held.error.error === 'debt_outstanding') {
        await refuseIfOwing(app.db.pooled, req.body.plate, app.config.publicUrl);
      }
      return reply.code(201).send(unwrap(held));
    },
  );
}
