import type { ReservationStatus } from '../../../protocol/domain.js';
import type { ChangeReason } from '../../../protocol/mqtt.js';
import { toIso } from '../../../protocol/slots.js';
import type { Queryable } from '../../db/database.js';
import type { CloudMetrics } from '../../metrics.js';
import { statusNotificationCte } from '../../notifications/outbox.js';
import { PAYMENT_EVENT_UPSERT_SQL, type WebhookEventRecord } from '../../payments/purposes.js';
import { COLS, type ReservationRow, toReservation } from './rows.js';

/**
 * Status writes: a reservation's status (and the columns that change with it), its change-log
 * entry and, when there is one, its payment row and the webhook event that paid it — one
 * statement, so they commit together.
 */

/** A payment row written with a status change (same statement, same transaction). */
export interface PaymentRecord {
  id: string;
  kind: 'capture' | 'overstay' | 'refund';
  amount: number;
  status: 'pending' | 'succeeded';
  providerRef?: string;
}

/** Columns that may change together with the status. */
export type StatusSets = Partial<
  Pick<
    ReservationRow,
    | 'payment_ref'
    | 'stored_method_ref'
    | 'credential'
    | 'checked_in_at'
    | 'checked_out_at'
    | 'overstay_amount'
    | 'refund_amount'
  >
>;

export interface StatusChange {
  /** The row as locked (or read) by the caller; its change fields never change after creation. */
  row: ReservationRow;
  status: ReservationStatus;
  reason: ChangeReason;
  nowMs: number;
  sets?: StatusSets;
  payment?: PaymentRecord;
}

export interface GuardedStatusChange extends StatusChange {
  /** Fixed SQL over the row ($3 is nowMs); nothing is written unless it holds. */
  guard: string;
  /** A webhook event to record as applied in the same statement (only if the guard held). */
  event?: WebhookEventRecord;
}

export interface StatusWriter {
  /**
   * Update status (+ columns) and append the change, in one statement (its seq is assigned at
   * commit). The caller has locked the row and released slots if needed.
   */
  setStatus(q: Queryable, change: StatusChange): Promise<ReservationRow>;
  /**
   * setStatus, applied only while `guard` holds: null when it does not, and then nothing was
   * written. As one statement on its own it is its own transaction, the row lock being the update's.
   */
  setStatusWhere(q: Queryable, change: GuardedStatusChange): Promise<ReservationRow | null>;
}

/** The statement for one shape of status write; $1 id, $2 status, $3 now, $4 lot, $5 reason, $6 change. */
function buildStatusSql(
  cols: readonly (keyof StatusSets)[],
  guard: string | null,
  withPayment: boolean,
  withEvent: boolean,
) {
  const assignments = cols.map((c, i) => `, ${c} = $${i + 7}`).join('');
  let paymentCte = '';
  let eventCte = '';
  if (withEvent) {
    const e = 6 + cols.length + (withPayment ? 5 : 0);
    eventCte = `, e as (insert into payment_events (provider, event_id, type, reference, received_at, applied_at, outcome)
                   select $${e + 1}, $${e + 2}, $${e + 3}, $${e + 4}, $${e + 5}, $3, 'applied' from u
                   ${PAYMENT_EVENT_UPSERT_SQL})`;
  }
  if (withPayment) {
    const n = 6 + cols.length;
    // Data-modifying CTEs run to completion whether or not the main query reads them.
    paymentCte = `, p as (insert into payments (id, reservation_id, lot_id, reference, kind, amount, currency, status,
                       provider_ref, created_at, updated_at)
                     select $${n + 1}, u.id, u.lot_id, u.id, $${n + 2}, $${n + 3}, u.currency, $${n + 4}, $${n + 5}, $3, $3
                     from u)`;
  }
  return `with u as (update reservations set status = $2, updated_at = $3${assignments}
                  where id = $1${guard === null ? '' : ` and (${guard})`} returning ${COLS}),
            c as (insert into lot_changes (lot_id, at, reason, reservation) select $4, $3, $5, $6 from u returning id)
            ${paymentCte}${eventCte}${statusNotificationCte()}
       select u.* from u, c`;
}

export function createStatusWriter(deps: { metrics: CloudMetrics }): StatusWriter {
  const { metrics } = deps;
  /** Statements by shape, built once each (the driver names prepared statements by text). */
  const statusSql = new Map<string, string>();
  function sqlFor(
    cols: readonly (keyof StatusSets)[],
    guard: string | null,
    withPayment: boolean,
    withEvent: boolean,
  ): string {
    const key = `${cols.join(',')}|${withPayment}|${withEvent}|${guard ?? ''}`;
    let sql = statusSql.get(key);
    if (sql === undefined) {
      sql = buildStatusSql(cols, guard, withPayment, withEvent);
      statusSql.set(key, sql);
    }
    return sql;
  }

  async function write(q: Queryable, guard: string | null, change: StatusChange, event?: WebhookEventRecord) {
    const { row, status, reason, nowMs, sets = {}, payment } = change;
    const next: ReservationRow = { ...row, ...sets, status };
    const cols = Object.keys(sets) as (keyof StatusSets)[];
    const values: unknown[] = [
      row.id,
      status,
      toIso(nowMs),
      row.lot_id,
      reason,
      JSON.stringify(toReservation(next)),
      ...cols.map((c) => {
        const v = sets[c];
        return v instanceof Date ? v.toISOString() : v;
      }),
    ];
    if (payment !== undefined) {
      values.push(payment.id, payment.kind, payment.amount, payment.status, payment.providerRef ?? null);
    }
    if (event !== undefined) {
      values.push(event.provider, event.eventId, event.type, event.reference, event.receivedAt);
    }
    const r = await q.query<ReservationRow>(
      sqlFor(cols, guard, payment !== undefined, event !== undefined),
      values,
    );
    const updated = r.rows[0];
    if (updated === undefined) return null;
    metrics.transitions.inc({ reason });
    return updated;
  }

  return {
    async setStatus(q, change) {
      const updated = await write(q, null, change);
      if (updated === null) throw new Error(`reservation ${change.row.id} vanished`);
      return updated;
    },
    setStatusWhere: (q, change) => write(q, change.guard, change, change.event),
  };
}
