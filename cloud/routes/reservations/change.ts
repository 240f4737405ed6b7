import { ChangeReservationBody, ChangeReservationResponse } from '../../../protocol/booking-change.js';
import { ErrorBody, IdempotencyHeaders, ReservationParams } from '../../../protocol/http.js';
import { unwrap } from '../../errors.js';
import type { CloudApi } from '../api.js';
import { accessibleReservation, reservationErrors } from './access.js';

/** PATCH /v1/reservations/:id: extend or shorten; the owner, the lot's staff, or an admin. */
export function changeReservationRoute(app: CloudApi): void {
  app.patch(
    '/v1/reservations/:id',
    {
      config: { access: ['driver', 'partner', 'operator', 'admin'], idempotent: true },
      schema: {
        tags: ['reservations'],
        summary: 'Change the window: extend or shorten; the price difference is charged or refunded',
        description:
          'Same spot when free, else another free eligible spot, else 409 `no_spot_free`. A new signed QR ' +
          'replaces the old one. 402 when the difference cannot be charged (nothing changes).',
        headers: IdempotencyHeaders,
        params: ReservationParams,
        body: ChangeReservationBody,
        response: { 200: ChangeReservationResponse, ...reservationErrors, 402: ErrorBody },
      },
    },
    async (req) => {
      await accessibleReservation(app, { user: req.user, id: req.params.id, staffMay: true });
      const key = req.headers['idempotency-key'];
      return unwrap(
        await app.reservations.changeWindow(req.params.id, req.body, typeof key === 'string' ? key : null),
      );
    },
  );
}
