import type { Money } from '../../protocol/money.js';
import { toIso } from '../../protocol/slots.js';
import type { Queryable } from '../db/database.js';

export type DebtSource = 'unpaid_exit' | 'failed_overstay' | 'unable_to_collect';

export interface OpenDebtInput {
  plate: string;
  lotId: string;
  source: DebtSource;
  /** What the debt came from, unique per lot (a session id, a failed payment's id). */
  sourceKey: string;
  reservationId?: string | null;
  laneId?: string | null;
  enteredAt?: number | null;
  exitedAt?: number | null;
  amount: Money;
  nowMs: number;
  /** The new debt's id (from the caller's Random); the database makes one when absent. */
  id?: string;
}

/**
 * Open a debt on a plate for a fee that was not collected, with its evidence. One statement, so it
 * is atomic in or out of a transaction; idempotent on (lot, sourceKey): returns the new debt's id,
 * or null when that source already opened one (an event delivered twice) or nothing is owed. When
 * the entry time is not given, it is taken from the lot's gate session of the same source key.
 */
export async function openDebt(q: Queryable, d: OpenDebtInput): Promise<string | null> {
  if (d.amount.amount <= 0) return null;
  const r = await q.query<{ id: string }>(
    `insert into debts (id, plate, lot_id, source, source_key, reservation_id, lane_id, entered_at, exited_at,
                        amount, currency, created_at)
     select coalesce($12::text, gen_random_uuid()::text), $1, $2, $3, $4, $5, $6,
            coalesce($7::timestamptz, (select entered_at from gate_sessions where lot_id = $2 and session_id = $4)),
            $8, $9, $10, $11
     on conflict (lot_id, source_key) do nothing
     returning id`,
    [
      d.plate,
      d.lotId,
      d.source,
      d.sourceKey,
      d.reservationId ?? null,
      d.laneId ?? null,
      d.enteredAt == null ? null : toIso(d.enteredAt),
      d.exitedAt == null ? null : toIso(d.exitedAt),
      d.amount.amount,
      d.amount.currency,
      toIso(d.nowMs),
      d.id ?? null,
    ],
  );
  return r.rows[0]?.id ?? null;
}

/**
 * A failed overstay charge becomes a debt on the booking's plate (source `failed_overstay`, keyed by
 * the payment), with the stay's times as evidence. Idempotent like openDebt.
 */
export async function openFailedOverstayDebt(
  q: Queryable,
  paymentId: string,
  nowMs: number,
): Promise<string | null> {
  const r = await q.query<{
    plate: string;
    lot_id: string;
    reservation_id: string;
    amount: number;
    currency: string;
    checked_in_at: Date | null;
    checked_out_at: Date | null;
  }>(
    `select r.plate, r.lot_id, p.reservation_id, p.amount, p.currency, r.checked_in_at, r.checked_out_at
       from payments p join reservations r on r.id = p.reservation_id
      where p.id = $1 and p.kind = 'overstay' and p.status = 'failed'`,
    [paymentId],
  );
  const row = r.rows[0];
  if (row === undefined) return null;
  return openDebt(q, {
    plate: row.plate,
    lotId: row.lot_id,
    source: 'failed_overstay',
    sourceKey: `payment:${paymentId}`,
    reservationId: row.reservation_id,
    enteredAt: row.checked_in_at?.getTime() ?? null,
    exitedAt: row.checked_out_at?.getTime() ?? null,
    amount: { amount: row.amount, currency: row.currency },
    nowMs,
  });
}
