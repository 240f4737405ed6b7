import type { ExitFeeQuote } from '../../protocol/debts.js';
import type { VehicleType } from '../../protocol/domain.js';
import { bookingExitFee, driveUpFee } from '../../protocol/exit-fee.js';
import { money } from '../../protocol/money.js';
import { toIso } from '../../protocol/slots.js';
import type { Queryable } from '../db/database.js';
import type { LotRecord } from '../repositories/lots.js';

/**
 * The exit fee of a stay, computed by the cloud from the lot's own session data (the entry events
 * the lot uploaded, folded into gate_sessions) and the lot's rate plan — never from a client's amount.
 */

interface StayRow {
  session_id: string;
  entered_at: Date;
  reservation_id: string | null;
  plate: string;
}

/** The newest stay of the plate inside the lot (entered, not yet seen leaving). */
export async function stayOfPlate(q: Queryable, lotId: string, plate: string): Promise<StayRow | null> {
  const r = await q.query<StayRow>(
    `select s.session_id, s.entered_at, e.body->>'reservationId' as reservation_id, e.body->>'plate' as plate
       from gate_events e
       join gate_sessions s on s.lot_id = e.lot_id and s.session_id = e.body->>'sessionId'
      where e.lot_id = $1 and e.kind = 'entry' and e.body->>'plate' = $2
        and s.exited_at is null and s.entered_at is not null
      order by s.entered_at desc limit 1`,
    [lotId, plate],
  );
  return r.rows[0] ?? null;
}

/** What was paid online for a stay so far. */
export async function paidForSession(q: Queryable, lotId: string, sessionId: string): Promise<number> {
  const r = await q.query<{ paid: number | null }>(
    `select sum(amount)::bigint as paid from exit_checkouts where lot_id = $1 and session_id = $2 and status = 'paid'`,
    [lotId, sessionId],
  );
  return r.rows[0]?.paid ?? 0;
}

/** The quote for leaving at `nowMs`, or null when the plate has no stay inside the lot. */
export async function quoteExit(
  q: Queryable,
  lot: LotRecord,
  plate: string,
  nowMs: number,
): Promise<(ExitFeeQuote & { reservationId: string | null }) | null> {
  const stay = await stayOfPlate(q, lot.id, plate);
  if (stay === null) return null;
  let fee = driveUpFee(lot, stay.entered_at.getTime(), nowMs);
  if (stay.reservation_id !== null) {
    const r = await q.query<{ end_at: Date; vehicle_type: VehicleType }>(
      'select end_at, vehicle_type from reservations where id = $1 and lot_id = $2',
      [stay.reservation_id, lot.id],
    );
    const booked = r.rows[0];
    fee =
      booked === undefined
        ? money(0, lot.rates.currency)
        : bookingExitFee(
            lot,
            { endMs: booked.end_at.getTime(), vehicleType: booked.vehicle_type },
            nowMs,
            lot.policy.exitGraceMinutes,
          );
  }
  const paid = await paidForSession(q, lot.id, stay.session_id);
  const currency = lot.rates.currency;
  return {
    lotId: lot.id,
    plate: stay.plate,
    sessionId: stay.session_id,
    reservationId: stay.reservation_id,
    enteredAt: stay.entered_at.toISOString(),
    fee,
    paid: money(paid, currency),
    due: money(Math.max(0, fee.amount - paid), currency),
    quotedAt: toIso(nowMs),
  };
}

export const exitReference = (lotId: string, sessionId: string) => `exit:${lotId}:${sessionId}`;
