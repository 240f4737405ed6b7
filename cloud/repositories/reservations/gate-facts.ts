import type { ReservationStatus } from '../../../protocol/domain.js';
import type { ReservationView } from '../../../protocol/http.js';
import { effectivePlan, priceOverstay } from '../../../protocol/pricing.js';
import { normalizePlate } from '../../../protocol/plates.js';
import { ok, type Result } from '../../../protocol/result.js';
import { toIso } from '../../../protocol/slots.js';
import type { Queryable } from '../../db/database.js';
import { type Refusal, refuse } from '../../errors.js';
import { newId } from '../../ids.js';
import type { LotRecord } from '../lots.js';
import type { SpotAllocation } from './allocation.js';
import type { ReservationContext } from './context.js';
import type { PaymentSettlement } from './payments.js';
import { COLS, iso, lockRow, type ReservationRow, toView } from './rows.js';
import type { StatusWriter } from './transitions.js';
import type { DepartureOutcome, GateFactInput } from './types.js';

/**
 * Gate facts: arrivals and departures, from the gate's HTTP API or from an edge. A fact with a
 * `factKey` applies exactly once: its outcome is recorded (gate_facts) in the same transaction as
 * its effect, and a repeat returns the recorded outcome (docs/architecture.md#sync-protocol).
 */

/** The reservation whose admission window contains the time, else the nearest one. */
const FIND_BY_PLATE_SQL = `select ${COLS} from reservations
       where lot_id = $1 and plate = $2 and status = any($3::text[])
       order by case when $4::timestamptz >= start_at - make_interval(mins => $5::int) and $4::timestamptz < end_at
                     then 0 else 1 end,
                abs(extract(epoch from start_at - $4::timestamptz)), id
       limit 1 for update`;

/** The recorded outcome of a fact already applied, or null. */
export async function replayFact<T>(q: Queryable, input: GateFactInput): Promise<Result<T, Refusal> | null> {
  if (input.factKey === undefined) return null;
  const r = await q.query<{ outcome: Result<T, Refusal> }>(
    'select outcome from gate_facts where lot_id = $1 and fact_key = $2',
    [input.lotId, input.factKey],
  );
  return r.rows[0]?.outcome ?? null;
}

export interface FactRecord<T> {
  input: GateFactInput;
  kind: 'arrival' | 'departure' | 'driveup';
  reservationId: string | null;
  outcome: Result<T, Refusal>;
}

/** Record a keyed fact's outcome (in the caller's transaction); returns the outcome. */
export async function recordFact<T>(q: Queryable, fact: FactRecord<T>): Promise<Result<T, Refusal>> {
  const { input, kind, reservationId, outcome } = fact;
  if (input.factKey !== undefined) {
    await q.query(
      `insert into gate_facts (lot_id, fact_key, kind, reservation_id, outcome, at) values ($1, $2, $3, $4, $5, $6)`,
      [input.lotId, input.factKey, kind, reservationId, JSON.stringify(outcome), toIso(input.atMs)],
    );
  }
  return outcome;
}

/** The reservation a fact is about, locked: by id, else by plate (see FIND_BY_PLATE_SQL). */
async function findForFact(
  q: Queryable,
  find: { input: GateFactInput; statuses: ReservationStatus[]; earlyMinutes: number },
): Promise<ReservationRow | null> {
  const { input } = find;
  if (input.reservationId !== undefined) {
    const row = await lockRow(q, input.reservationId);
    return row !== null && row.lot_id === input.lotId ? row : null;
  }
  const plate = normalizePlate(input.plate ?? '');
  if (plate === null) return null;
  const r = await q.query<ReservationRow>(FIND_BY_PLATE_SQL, [
    input.lotId,
    plate,
    find.statuses,
    toIso(input.atMs),
    find.earlyMinutes,
  ]);
  return r.rows[0] ?? null;
}

/** Why an arrival of this CONFIRMED reservation is refused, or null to admit it. */
function admissionRefusal(lot: LotRecord, row: ReservationRow, input: GateFactInput) {
  if (!(input.enforceWindow ?? true)) return null;
  const opensMs = row.start_at.getTime() - lot.policy.earlyArrivalMinutes * 60_000;
  if (input.atMs < opensMs) return refuse(409, 'too_early', `admission opens at ${toIso(opensMs)}`);
  if (input.atMs >= row.end_at.getTime())
    return refuse(409, 'reservation_ended', `reservation ended at ${iso(row.end_at)}`);
  return null;
}

export interface GateFacts {
  checkIn(input: GateFactInput): Promise<Result<ReservationView, Refusal>>;
  depart(input: GateFactInput): Promise<Result<DepartureOutcome, Refusal>>;
}

/** What gate facts work with: the repository's context and the parts they build on. */
type GateFactsEnv = ReservationContext & {
  allocation: SpotAllocation;
  status: StatusWriter;
  settlement: PaymentSettlement;
};

export function createGateFacts(
  ctx: ReservationContext,
  parts: { allocation: SpotAllocation; status: StatusWriter; settlement: PaymentSettlement },
): GateFacts {
  const env: GateFactsEnv = { ...ctx, ...parts };
  return { checkIn: (input) => checkIn(env, input), depart: (input) => depart(env, input) };
}

async function checkIn(env: GateFactsEnv, input: GateFactInput): Promise<Result<ReservationView, Refusal>> {
  const { tx, lots, log, status } = env;
  const lot = await lots.get(input.lotId);
  if (lot === null) return refuse(404, 'lot_not_found', `lot ${input.lotId} not found`);
  return tx(async (q) => {
    const replay = await replayFact<ReservationView>(q, input);
    if (replay !== null) return replay;
    const row = await findForFact(q, {
      input,
      statuses: ['CONFIRMED', 'CHECKED_IN', 'TENTATIVE'],
      earlyMinutes: lot.policy.earlyArrivalMinutes,
    });
    const done = (outcome: Result<ReservationView, Refusal>) =>
      recordFact(q, { input, kind: 'arrival', reservationId: row?.id ?? null, outcome });
    if (row === null)
      return done(refuse(404, 'reservation_not_found', 'no matching reservation at this lot'));
    if (row.status === 'CHECKED_IN') {
      if (lot.policy.antiPassback === 'soft') {
        log.warn({ reservationId: row.id }, 'anti-passback (soft): admitted again before exit');
        return done(ok(toView(row)));
      }
      return done(
        refuse(409, 'already_checked_in', 'this reservation is inside and has not exited (anti-passback)'),
      );
    }
    if (row.status !== 'CONFIRMED') return done(refuse(409, 'not_confirmed', `reservation is ${row.status}`));
    const refused = admissionRefusal(lot, row, input);
    if (refused !== null) return done(refused);
    const updated = await status.setStatus(q, {
      row,
      status: 'CHECKED_IN',
      reason: 'checked_in',
      nowMs: input.atMs,
      sets: { checked_in_at: new Date(input.atMs) },
    });
    return done(ok(toView(updated)));
  });
}

async function depart(env: GateFactsEnv, input: GateFactInput): Promise<Result<DepartureOutcome, Refusal>> {
  const { tx, lots, allocation, status, settlement } = env;
  const lot = await lots.get(input.lotId);
  if (lot === null) return refuse(404, 'lot_not_found', `lot ${input.lotId} not found`);
  const outcome = await tx(async (q) => {
    const replay = await replayFact<DepartureOutcome>(q, input);
    if (replay !== null) return { result: replay, paymentId: null };
    const row = await findForFact(q, {
      input,
      statuses: ['CHECKED_IN'],
      earlyMinutes: lot.policy.earlyArrivalMinutes,
    });
    const done = async (o: Result<DepartureOutcome, Refusal>, paymentId: string | null = null) => ({
      result: await recordFact(q, { input, kind: 'departure', reservationId: row?.id ?? null, outcome: o }),
      paymentId,
    });
    if (row === null)
      return done(refuse(404, 'reservation_not_found', 'no checked-in reservation matches at this lot'));
    if (row.status !== 'CHECKED_IN')
      return done(refuse(409, 'not_checked_in', `reservation is ${row.status}`));
    if (row.checked_in_at !== null && input.atMs < row.checked_in_at.getTime()) {
      return done(refuse(409, 'before_check_in', 'departure is earlier than the check-in'));
    }
    const overstayMs = input.atMs - row.end_at.getTime();
    const charge = priceOverstay(
      effectivePlan(lot),
      { endMs: row.end_at.getTime(), exitMs: input.atMs, vehicleType: row.vehicle_type },
      lot.policy.exitGraceMinutes,
      lot.timeZone,
    ).total;
    const chargeAmount = charge.currency === row.currency ? charge.amount : 0;
    // Leaving frees the rest of the window for resale; the whole window is cleared so the
    // bitmap stays exactly the union of the active reservations.
    await allocation.releaseSlots(q, row);
    const paymentId = chargeAmount > 0 ? newId(env.random) : null;
    const updated = await status.setStatus(q, {
      row,
      status: 'COMPLETED',
      reason: 'completed',
      nowMs: input.atMs,
      sets: {
        checked_out_at: new Date(input.atMs),
        overstay_amount: chargeAmount > 0 ? chargeAmount : null,
      },
      payment:
        paymentId === null
          ? undefined
          : { id: paymentId, kind: 'overstay', amount: chargeAmount, status: 'pending' },
    });
    return done(
      ok({
        reservation: toView(updated),
        overstayMinutes: Math.max(0, Math.ceil(overstayMs / 60_000)),
        charge: chargeAmount > 0 ? { amount: chargeAmount, currency: row.currency } : null,
        // Early departure: the default policy refunds nothing once the stay has started.
        refund: null,
      }),
      paymentId,
    );
  });
  if (outcome.paymentId !== null) await settlement.settle(outcome.paymentId);
  return outcome.result;
}
