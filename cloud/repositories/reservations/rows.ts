import type { Reservation, ReservationStatus, VehicleType } from '../../../protocol/domain.js';
import type { ReservationView } from '../../../protocol/http.js';
import type { Queryable } from '../../db/database.js';

/**
 * Row mapping: the `reservations` row as stored, and the one mapping from it to the protocol's
 * Reservation and ReservationView. Everything in the cloud that reads reservation rows (the
 * repository, the sync snapshot) maps them here.
 */

export interface ReservationRow {
  id: string;
  lot_id: string;
  spot_id: string;
  spot_label: string;
  user_id: string | null;
  kind: 'booking' | 'driveup';
  vehicle_type: VehicleType;
  plate: string;
  start_at: Date;
  end_at: Date;
  status: ReservationStatus;
  price_amount: number;
  currency: string;
  hold_expires_at: Date | null;
  payment_ref: string | null;
  stored_method_ref: string | null;
  credential: string | null;
  checked_in_at: Date | null;
  checked_out_at: Date | null;
  overstay_amount: number | null;
  refund_amount: number | null;
  created_at: Date;
}

export const COLS = `id, lot_id, spot_id, spot_label, user_id, kind, vehicle_type, plate, start_at, end_at, status,
  price_amount, currency, hold_expires_at, payment_ref, stored_method_ref, credential, checked_in_at,
  checked_out_at, overstay_amount, refund_amount, created_at`;

/** The columns a protocol Reservation is made of. */
export type ReservationCoreRow = Pick<
  ReservationRow,
  | 'id'
  | 'lot_id'
  | 'spot_id'
  | 'spot_label'
  | 'vehicle_type'
  | 'plate'
  | 'start_at'
  | 'end_at'
  | 'status'
  | 'kind'
  | 'price_amount'
  | 'currency'
>;

export const CORE_COLS =
  'id, lot_id, spot_id, spot_label, vehicle_type, plate, start_at, end_at, status, kind, price_amount, currency';

// Statement texts built once: the driver names prepared statements by their text.
const GET_SQL = `select ${COLS} from reservations where id = $1`;
const LOCK_ROW_SQL = `select ${COLS} from reservations where id = $1 for update`;

export function toReservation(row: ReservationCoreRow): Reservation {
  return {
    id: row.id,
    lotId: row.lot_id,
    spotId: row.spot_id,
    spotLabel: row.spot_label,
    vehicleType: row.vehicle_type,
    plate: row.plate,
    start: row.start_at.toISOString(),
    end: row.end_at.toISOString(),
    status: row.status,
    kind: row.kind,
    price: { amount: row.price_amount, currency: row.currency },
  };
}

export const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function toView(row: ReservationRow): ReservationView {
  return {
    ...toReservation(row),
    kind: row.kind,
    holdExpiresAt: iso(row.hold_expires_at),
    credential: row.credential,
    checkedInAt: iso(row.checked_in_at),
    checkedOutAt: iso(row.checked_out_at),
    overstayCharge:
      row.overstay_amount === null ? null : { amount: row.overstay_amount, currency: row.currency },
    refund: row.refund_amount === null ? null : { amount: row.refund_amount, currency: row.currency },
    createdAt: row.created_at.toISOString(),
  };
}

/** What a new row is made of; payment and gate facts come later. */
export type NewRowFields = Pick<
  ReservationRow,
  | 'id'
  | 'lot_id'
  | 'spot_id'
  | 'spot_label'
  | 'user_id'
  | 'kind'
  | 'vehicle_type'
  | 'plate'
  | 'start_at'
  | 'end_at'
  | 'status'
  | 'price_amount'
  | 'currency'
  | 'hold_expires_at'
  | 'created_at'
>;

/** A new row as it will be stored (no payment, no gate facts yet). */
export function newRow(fields: NewRowFields): ReservationRow {
  return {
    ...fields,
    payment_ref: null,
    stored_method_ref: null,
    credential: null,
    checked_in_at: null,
    checked_out_at: null,
    overstay_amount: null,
    refund_amount: null,
  };
}

export async function getRow(q: Queryable, id: string): Promise<ReservationRow | null> {
  const r = await q.query<ReservationRow>(GET_SQL, [id]);
  return r.rows[0] ?? null;
}

export async function lockRow(q: Queryable, id: string): Promise<ReservationRow | null> {
  const r = await q.query<ReservationRow>(LOCK_ROW_SQL, [id]);
  return r.rows[0] ?? null;
}
