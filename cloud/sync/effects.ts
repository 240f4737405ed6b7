import type { Logger } from '../../protocol/logger.js';
import { type GateEvent, parseGateEvent } from '../../protocol/mqtt.js';
import type { Queryable } from '../db/database.js';
import { openDebt } from '../debts/open.js';
import { refundOverpaidExit } from '../exit-payments/overpaid.js';
import { ALARM_KINDS, notifyGateAlarm, withDebtNotification } from '../notifications/outbox.js';
import type { EventEffects, ReservationEffects, Sql, WireEvent } from './ports.js';
import { recordValidationUse } from './validation-uses.js';

/** Kinds whose arrival changes cloud state; everything else is only recorded in gate_events. */
const EFFECTFUL = new Set<string>([
  'entry',
  'exit',
  'cash_payment',
  'unable_to_collect',
  'command_ack',
  ...ALARM_KINDS,
]);

/**
 * What each gate event does in the cloud (docs/architecture.md#up-gate-events), applied by the
 * EffectsApplier in eventId order after the event is stored. Each effect is idempotent per
 * (lot, eventId): reservation effects through the fact key `edge:<eventId>`, the sync tables through
 * their (lot_id, event_id) keys. Every statement is scoped to the lot the event arrived from (the
 * topic's lot, which the broker ACL ties to the lot's credentials), so a lot can never touch another
 * lot's reservations, debts or commands.
 */
export function gateEventEffects(reservations: ReservationEffects, tx: Sql, logger: Logger): EventEffects {
  const ctx: EffectContext = { reservations, tx, logger };
  return {
    affects: (event: WireEvent) => EFFECTFUL.has(event.kind),
    async apply(lotId: string, raw: WireEvent): Promise<void> {
      const parsed = parseGateEvent(raw);
      if (!parsed.ok) {
        // Stored as received; a newer edge may send fields this cloud cannot read yet.
        throw new Error(`unreadable ${raw.kind} event: ${parsed.error.message}`);
      }
      await applyGateEvent(ctx, lotId, parsed.value);
    },
  };
}

interface EffectContext {
  reservations: ReservationEffects;
  tx: Sql;
  logger: Logger;
}

type EventOf<K extends GateEvent['kind']> = Extract<GateEvent, { kind: K }>;

async function applyGateEvent(ctx: EffectContext, lotId: string, e: GateEvent): Promise<void> {
  const atMs = Date.parse(e.at);
  const factKey = `edge:${e.eventId}`;
  switch (e.kind) {
    case 'entry': {
      const rid = e.reservationId ?? e.overflowReservationId;
      if (rid) await ctx.reservations.checkIn(lotId, rid, atMs, factKey);
      return;
    }
    case 'exit':
      if (e.reservationId) await ctx.reservations.depart(lotId, e.reservationId, atMs, e, factKey);
      if (e.charge && e.charge.amount > 0) await recordGateCharge(ctx.tx, lotId, e, e.charge);
      await recordValidationUse(ctx.tx, lotId, e);
      // Only a stay settled online can have been paid more than the lane charged.
      if (e.settlement === 'cloud') await refundOverpaidExit(ctx.tx, lotId, e);
      return;
    case 'unable_to_collect':
      return recordDebt(ctx.tx, lotId, e);
    case 'cash_payment':
      return recordCashPayment(ctx.tx, lotId, e);
    case 'command_ack':
      return recordCommandAck(ctx, lotId, e);
    default:
      return notifyGateAlarm(ctx.tx, lotId, e);
  }
}

/** An overstay (with a reservation) or a drive-up fee collected at the exit. */
async function recordGateCharge(
  tx: Sql,
  lotId: string,
  e: EventOf<'exit'>,
  charge: NonNullable<EventOf<'exit'>['charge']>,
): Promise<void> {
  await tx.query(
    `INSERT INTO lot_gate_charges (lot_id, event_id, session_id, reservation_id, plate, kind, amount_minor,
                 currency, overstay_minutes, settlement, at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (lot_id, event_id) DO NOTHING`,
    [
      lotId,
      e.eventId,
      e.sessionId,
      e.reservationId,
      e.plate,
      e.reservationId ? 'overstay' : 'driveup',
      charge.amount,
      charge.currency,
      e.overstayMinutes,
      e.settlement,
      e.at,
    ],
  );
}

async function recordDebt(tx: Sql, lotId: string, e: EventOf<'unable_to_collect'>): Promise<void> {
  // A drive-up's fee left unpaid is a debt on its plate; a booking's overstay is charged to its
  // stored method by the departure (a refused charge opens the debt there).
  if (e.reservationId === null && e.plate !== null) {
    await openDebt(tx as Queryable, {
      plate: e.plate,
      lotId,
      source: 'unpaid_exit',
      sourceKey: e.sessionId,
      laneId: e.laneId,
      exitedAt: Date.parse(e.at),
      amount: e.amount,
      nowMs: Date.parse(e.at),
    });
  }
  await tx.query(
    withDebtNotification(`INSERT INTO lot_debts (lot_id, event_id, session_id, reservation_id, plate, amount_minor, currency, at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (lot_id, event_id) DO NOTHING`),
    [lotId, e.eventId, e.sessionId, e.reservationId, e.plate, e.amount.amount, e.amount.currency, e.at],
  );
}

async function recordCashPayment(tx: Sql, lotId: string, e: EventOf<'cash_payment'>): Promise<void> {
  await tx.query(
    `INSERT INTO lot_cash_payments (lot_id, event_id, session_id, amount_minor, currency, attendant, at)
             VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (lot_id, event_id) DO NOTHING`,
    [lotId, e.eventId, e.sessionId, e.amount.amount, e.amount.currency, e.attendant, e.at],
  );
  // Cash for a session that had been reported unable-to-collect settles that debt.
  await tx.query(
    `UPDATE lot_debts SET settled_at = $3 WHERE lot_id = $1 AND session_id = $2 AND settled_at IS NULL`,
    [lotId, e.sessionId, e.at],
  );
}

async function recordCommandAck(ctx: EffectContext, lotId: string, e: EventOf<'command_ack'>): Promise<void> {
  const res = await ctx.tx.query(
    `UPDATE lot_commands SET acked_at = $3, ok = $4, detail = $5, ack_event_id = $6
              WHERE lot_id = $1 AND command_id = $2 AND acked_at IS NULL`,
    [lotId, e.commandId, e.at, e.ok, e.detail, e.eventId],
  );
  if ((res.rowCount ?? 0) === 0)
    ctx.logger.debug({ lotId, commandId: e.commandId }, 'ack for an unknown command');
}
