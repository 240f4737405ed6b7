import type { z } from 'zod';
import { ReservationListQuery, ReservationListResponse, ReservationParams } from '../../../protocol/http.js';
import { ReservationWithReceipt } from '../../../protocol/receipts.js';
import { HttpError } from '../../errors.js';
import { receiptLinks } from '../../receipts/links.js';
import { bookingReceipt } from '../../receipts/store.js';
import type { AuthUser } from '../../plugins/auth.js';
import { toView } from '../../repositories/reservations.js';
import type { CloudApi } from '../api.js';
import { accessibleReservation, reservationErrors } from './access.js';

/** GET /v1/reservations/:id. */
export function getReservationRoute(app: CloudApi): void {
  const links = receiptLinks(app.config);
  app.get(
    '/v1/reservations/:id',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['reservations'],
        summary: 'One reservation, with the link to its receipt once paid',
        params: ReservationParams,
        response: { 200: ReservationWithReceipt, ...reservationErrors },
      },
    },
    async (req) => {
      const row = await accessibleReservation(app, { user: req.user, id: req.params.id, staffMay: true });
      const receipt = await bookingReceipt(app.db.pooled, row.id);
      return {
        ...toView(row),
        receipt: receipt === null ? null : { number: receipt.number, url: links.url(receipt.paymentId) },
      };
    },
  );
}

/** GET /v1/reservations: what the caller may see, by role. */
export function listReservationsRoute(app: CloudApi): void {
  app.get(
    '/v1/reservations',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['reservations'],
        summary: 'Your reservations; operators and attendants: by lot and status',
        querystring: ReservationListQuery,
        response: { 200: ReservationListResponse, ...reservationErrors },
      },
    },
    async (req) => listFor(app, req.user, req.query),
  );
}

/** Admins see every lot; staff a lot they work at (or all theirs); everyone else their own. */
async function listFor(app: CloudApi, user: AuthUser, query: z.infer<typeof ReservationListQuery>) {
  const { lotId, status, limit, cursor } = query;
  const page = { lotId, status, limit, cursor };
  if (user.role === 'admin') return app.reservations.list({ ...page, lotIds: 'all' });
  if (user.role === 'operator' || user.role === 'attendant') {
    if (lotId !== undefined) {
      if (!(await app.canActOnLot(user, lotId))) {
        throw new HttpError({
          status: 404,
          error: 'lot_not_found',
          message: `lot ${lotId} not found`,
          field: 'query.lotId',
        });
      }
      return app.reservations.list({ ...page, lotIds: 'all' });
    }
    const me = await app.users.byId(user.id);
    return app.reservations.list({ ...page, lotIds: me?.lotIds ?? [] });
  }
  return app.reservations.list({ ...page, userId: user.id, lotIds: 'all' });
}
