import {
  CancelResponse,
  CompleteBody,
  ErrorBody,
  IdempotencyHeaders,
  ReservationParams,
  ReservationView,
} from '../../../protocol/http.js';
import { unwrap } from '../../errors.js';
import type { CloudApi } from '../api.js';
import { accessibleReservation, reservationErrors } from './access.js';

/** POST /v1/reservations/:id/complete: pay a hold; only its owner (or an admin) may. */
export function completeReservationRoute(app: CloudApi): void {
  app.post(
    '/v1/reservations/:id/complete',
    {
      config: { access: ['driver', 'partner', 'operator', 'admin'], idempotent: true },
      schema: {
        tags: ['reservations'],
        summary: 'Pay: verify the payment token, confirm, and get the signed QR credential',
        description: '402 `payment_invalid` leaves the hold in place; 410 `hold_expired` charges nothing.',
        headers: IdempotencyHeaders,
        params: ReservationParams,
        body: CompleteBody,
        response: { 200: ReservationView, ...reservationErrors, 402: ErrorBody, 410: ErrorBody },
      },
    },
    async (req) => {
      const row = await accessibleReservation(app, { user: req.user, id: req.params.id, staffMay: false });
      return unwrap(await app.reservations.complete(req.params.id, req.body.paymentToken, row));
    },
  );
}

/** POST /v1/reservations/:id/cancel: the owner or the lot's staff. */
export function cancelReservationRoute(app: CloudApi): void {
  app.post(
    '/v1/reservations/:id/cancel',
    {
      config: { access: ['driver', 'partner', 'operator', 'admin'], idempotent: true },
      schema: {
        tags: ['reservations'],
        summary: 'Cancel; slots are released and the refund follows the lot policy',
        headers: IdempotencyHeaders,
        params: ReservationParams,
        response: { 200: CancelResponse, ...reservationErrors },
      },
    },
    async (req) => {
      await accessibleReservation(app, { user: req.user, id: req.params.id, staffMay: true });
      return unwrap(await app.reservations.cancel(req.params.id));
    },
  );
}
