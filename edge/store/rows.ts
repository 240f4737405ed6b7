import type { ReservationStatus, SpotPool, VehicleType } from '../../protocol/domain.js';
import { normalizePlate } from '../../protocol/plates.js';
import type {
  AlarmRecord,
  AuditRecord,
  CredentialKindT,
  MirrorReservation,
  SessionKind,
  UnableToCollectRecord,
  VehicleSession,
} from './types.js';

/** SQLite rows as better-sqlite3 returns them, and their mapping to the store's records. */

export interface ReservationRow {
  id: string;
  spot_id: string;
  spot_label: string;
  vehicle_type: string;
  plate: string;
  start_ms: number;
  end_ms: number;
  status: string;
  kind: string;
  price_amount: number;
  price_currency: string;
  seq: number;
}

export interface SessionRow {
  id: string;
  kind: string;
  reservation_id: string | null;
  plate: string | null;
  credential: string;
  pool: string | null;
  spot_id: string | null;
  spot_label: string | null;
  reservation_start_ms: number | null;
  reservation_end_ms: number | null;
  overflow_reservation_id: string | null;
  entry_lane_id: string | null;
  correlation_id: string | null;
  entered_at: number;
  entry_event_id: number;
  cash_paid: number;
  exited_at: number | null;
  exit_lane_id: string | null;
  exit_event_id: number | null;
  closed_reason: string | null;
  permit_id?: string | null;
}

export interface AlarmRow {
  id: number;
  kind: string;
  lane_id: string | null;
  detail: string;
  raised_at: number;
  event_id: number | null;
  acked_at: number | null;
  acked_by: string | null;
  ack_note: string | null;
}

export interface UtcRow {
  id: number;
  session_id: string;
  reservation_id: string | null;
  plate: string | null;
  amount: number;
  currency: string;
  at: number;
  lane_id: string | null;
  event_id: number;
}

export interface AuditRow {
  id: number;
  at: number;
  attendant: string;
  action: string;
  reason: string | null;
  target: string | null;
  detail: string;
  event_id: number | null;
}

export const toReservation = (r: ReservationRow): MirrorReservation => ({
  id: r.id,
  spotId: r.spot_id,
  spotLabel: r.spot_label,
  vehicleType: r.vehicle_type as VehicleType,
  plate: r.plate,
  startMs: r.start_ms,
  endMs: r.end_ms,
  status: r.status as ReservationStatus,
  kind: r.kind as 'booking' | 'driveup',
  price: { amount: r.price_amount, currency: r.price_currency },
  seq: r.seq,
});

export const toSession = (r: SessionRow): VehicleSession => ({
  id: r.id,
  kind: r.kind as SessionKind,
  reservationId: r.reservation_id,
  plate: r.plate,
  credential: r.credential as CredentialKindT,
  pool: r.pool as SpotPool | null,
  spotId: r.spot_id,
  spotLabel: r.spot_label,
  reservationStartMs: r.reservation_start_ms,
  reservationEndMs: r.reservation_end_ms,
  overflowReservationId: r.overflow_reservation_id,
  entryLaneId: r.entry_lane_id,
  correlationId: r.correlation_id,
  enteredAt: r.entered_at,
  entryEventId: r.entry_event_id,
  cashPaid: r.cash_paid,
  exitedAt: r.exited_at,
  exitLaneId: r.exit_lane_id,
  exitEventId: r.exit_event_id,
  closedReason: r.closed_reason,
  permitId: r.permit_id ?? null,
});

export const toAlarm = (r: AlarmRow): AlarmRecord => ({
  id: r.id,
  kind: r.kind,
  laneId: r.lane_id,
  detail: r.detail,
  raisedAt: r.raised_at,
  eventId: r.event_id,
  ackedAt: r.acked_at,
  ackedBy: r.acked_by,
  ackNote: r.ack_note,
});

export const toUtc = (r: UtcRow): UnableToCollectRecord => ({
  id: r.id,
  sessionId: r.session_id,
  reservationId: r.reservation_id,
  plate: r.plate,
  amount: { amount: r.amount, currency: r.currency },
  at: r.at,
  laneId: r.lane_id,
  eventId: r.event_id,
});

export const toAudit = (r: AuditRow): AuditRecord => ({
  id: r.id,
  at: r.at,
  attendant: r.attendant,
  action: r.action,
  reason: r.reason,
  target: r.target,
  detail: JSON.parse(r.detail) as Record<string, unknown>,
  eventId: r.event_id,
});

/** Plates are stored normalised; an unparseable plate is kept upper-cased so it still round-trips. */
export function storedPlate(raw: string): string {
  return normalizePlate(raw) ?? raw.toUpperCase();
}

export const iso = (ms: number) => new Date(ms).toISOString();
