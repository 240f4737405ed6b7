import { HttpError, routeErrors } from '../../errors.js';
import type { AuthUser } from '../../plugins/auth.js';
import type { ReservationRow } from '../../repositories/reservations.js';
import type { CloudApi } from '../api.js';

/** The refusals every reservation route may answer. */
export const reservationErrors = routeErrors;

const notFound = (id: string) =>
  new HttpError({ status: 404, error: 'reservation_not_found', message: `reservation ${id} not found` });

/** Owners see their own; lot staff see their lots'; admins see all. Others get a 404, not a hint. */
export async function accessibleReservation(
  app: CloudApi,
  request: { user: AuthUser; id: string; staffMay: boolean },
): Promise<ReservationRow> {
  const { user, id, staffMay } = request;
  const row = await app.reservations.get(id);
  if (row === null) throw notFound(id);
  if (user.role === 'admin' || row.user_id === user.id) return row;
  if (staffMay && (await app.canActOnLot(user, row.lot_id))) return row;
  throw notFound(id);
}
