import type { Reservation } from '../../../protocol/domain.js';
import type { CreateReservationBody } from '../../../protocol/http.js';
import type { Money } from '../../../protocol/money.js';
import { openingRefusal } from '../../../protocol/hours.js';
import { bookingPrice } from '../../../protocol/pricing.js';
import { normalizePlate } from '../../../protocol/plates.js';
import { ok, type Result } from '../../../protocol/result.js';
import {
  SLOT_MS,
  type SlotWindow,
  slotOf,
  slotStartMs,
  toIso,
  validateWindow,
  windowOf,
} from '../../../protocol/slots.js';
import { advisoryKey, pgCode, pgConstraint } from '../../db/database.js';
import { type Refusal, refuse } from '../../errors.js';
import { newId } from '../../ids.js';
import type { LotRecord } from '../lots.js';
import { closedRefusal } from '../opening.js';
import { bitRange } from '../spot-bitmaps.js';
import type { SpotAllocation } from './allocation.js';
import type { ReservationContext } from './context.js';
import { recordFact, replayFact } from './gate-facts.js';
import { COLS, newRow, type ReservationRow, toReservation } from './rows.js';
import type { StatusWriter } from './transitions.js';
import type { DriveUpInput, GateFactInput, ReserveOutcome } from './types.js';

/**
 * Booking: a driver's reservation (a TENTATIVE hold, then the provider's checkout) and the
 * edge's drive-up overflow (CONFIRMED at once). Both take the plate's advisory lock, pick a free
 * spot and insert the held row in one transaction.
 */

/** Advisory lock class for "one car, one reservation": bookings of one plate queue on it. */
const PLATE_LOCK_CLASS = 7_001;
/** The longest drive-up window the edge may ask for. */
const MAX_DRIVE_UP_MS = 86_400_000;

const plateOverlap = (plate: string) =>
  refuse(409, 'plate_overlap', `plate ${plate} already holds a reservation overlapping this window`);
const noSpotFree = () => refuse(409, 'no_spot_free', 'no spot is free for this vehicle type and window');
/** The plain refusal; the route adds what is owed and where to pay it (cloud/debts/blocking.ts). */
const plateOwes = (plate: string) =>
  refuse(409, 'debt_outstanding', `plate ${plate} has unpaid parking fees; pay them before booking`);
const noOverflowSpot = () => refuse(409, 'no_spot_free', 'no bookable spot is free for the overflow window');

/** A booking request that passed validation. */
interface ValidBooking {
  lot: LotRecord;
  plate: string;
  window: SlotWindow;
}

/** What a new hold is made of besides the request: its id and times. */
interface NewHold {
  id: string;
  now: number;
  holdExpiresMs: number;
}

interface Held {
  row: ReservationRow;
  price: Money;
}

export interface Booking {
  reserve(actor: { id: string }, body: CreateReservationBody): Promise<Result<ReserveOutcome, Refusal>>;
  reserveDriveUp(input: DriveUpInput): Promise<Result<Reservation, Refusal>>;
}

/** What booking works with: the repository's context and the parts it builds on. */
type BookingEnv = ReservationContext & { allocation: SpotAllocation; status: StatusWriter };

export function createBooking(
  ctx: ReservationContext,
  parts: { allocation: SpotAllocation; status: StatusWriter },
): Booking {
  const env: BookingEnv = { ...ctx, ...parts };
  return {
    reserve: (actor, body) => reserve(env, actor, body),
    reserveDriveUp: (ask) => reserveDriveUp(env, ask),
  };
}

async function validate(
  env: BookingEnv,
  body: CreateReservationBody,
  now: number,
): Promise<Result<ValidBooking, Refusal>> {
  const { lots } = env;
  const plate = normalizePlate(body.plate);
  if (plate === null) {
    return refuse(400, 'validation_failed', 'plate must have letters or digits', {
      field: 'body.plate',
      rule: 'invalid_plate',
    });
  }
  const lot = await lots.get(body.lotId);
  if (lot === null)
    return refuse(404, 'lot_not_found', `lot ${body.lotId} not found`, { field: 'body.lotId' });
  const wr = validateWindow(body, lot.policy, now);
  if (!wr.ok) {
    return refuse(400, 'invalid_window', wr.error.message, {
      field: `body.${wr.error.field}`,
      rule: wr.error.reason,
    });
  }
  const closed = openingRefusal(lot.policy, lot.timeZone, wr.value.startMs, wr.value.endMs);
  if (closed !== null) return closedRefusal(closed, lot.timeZone);
  return ok({ lot, plate, window: wr.value });
}

/** The TENTATIVE row a hold writes; the spot is picked by the caller, or (null) by reserve_hold. */
function heldRow(
  input: { actor: { id: string }; body: CreateReservationBody; booking: ValidBooking } & NewHold,
  price: Money,
  spot: { id: string; label: string } | null,
): ReservationRow {
  const { actor, body, id, now, holdExpiresMs } = input;
  const { lot, plate, window: w } = input.booking;
  return newRow({
    id,
    lot_id: lot.id,
    spot_id: spot?.id ?? '',
    spot_label: spot?.label ?? '',
    user_id: actor.id,
    kind: 'booking',
    vehicle_type: body.vehicleType,
    plate,
    start_at: new Date(w.startMs),
    end_at: new Date(w.endMs),
    status: 'TENTATIVE',
    price_amount: price.amount,
    currency: price.currency,
    hold_expires_at: new Date(holdExpiresMs),
    created_at: new Date(now),
  });
}

/** The hold's transaction: plate check, a free spot, the TENTATIVE row — committed together. */
function holdTx(
  env: BookingEnv,
  input: { actor: { id: string }; body: CreateReservationBody; booking: ValidBooking } & NewHold,
) {
  const { tx, allocation } = env;
  const { body } = input;
  const { lot, plate, window: w } = input.booking;
  return tx(
    async (q): Promise<Result<Held, Refusal>> => {
      // One car, one reservation: the plate's advisory lock came with BEGIN, so this check sees
      // every committed booking of the plate; concurrent bookings of one car queue, and the
      // plate constraint stays a backstop that never fires. On PostgreSQL, BEGIN + lock and
      // this statement leave in one write, and so do the insert and COMMIT below.
      const { owing, clash, price, spot } = await allocation.lockFreeSpot(q, {
        lot,
        vehicleType: body.vehicleType,
        window: w,
        plate,
        refuseOwing: true,
      });
      if (owing === true) return plateOwes(plate);
      if (clash) return plateOverlap(plate);
      if (spot === null) return noSpotFree();
      const row = await allocation.insertHeld(q, {
        spot,
        bits: bitRange(lot.baseSlot, w),
        row: heldRow(input, price, spot),
        reason: 'created',
        commit: true,
      });
      return ok({ row, price });
    },
    advisoryKey(PLATE_LOCK_CLASS, plate),
  );
}

/**
 * The hold in one statement (reserve_hold): for lots without demand pricing the price does not
 * depend on occupancy, so it is known before the spot is picked.
 */
async function holdAtOnce(
  env: BookingEnv,
  input: { actor: { id: string }; body: CreateReservationBody; booking: ValidBooking } & NewHold,
): Promise<Result<Held, Refusal>> {
  const { body } = input;
  const { lot, plate, window: w } = input.booking;
  const price = bookingPrice(lot, body.vehicleType, w).total;
  const r = await env.autocommit((q) =>
    env.allocation.reserveHold(q, {
      lot,
      lockKey: advisoryKey(PLATE_LOCK_CLASS, plate),
      bits: bitRange(lot.baseSlot, w),
      reason: 'created',
      row: heldRow(input, price, null),
    }),
  );
  if (r.outcome === 'owing') return plateOwes(plate);
  if (r.outcome === 'clash') return plateOverlap(plate);
  if (r.outcome === 'full') return noSpotFree();
  return ok({ row: r.row, price });
}

/** Demand-priced lots count the window's occupancy first: the two-round-trip transaction. */
const demandPriced = (lot: LotRecord) => (lot.rates.dynamicPricing?.length ?? 0) > 0;

/** The exclusion constraints refused what the bitmap allowed: counted (it must stay zero). */
function constraintRefusal(env: BookingEnv, e: unknown, lot: LotRecord, plate: string) {
  const { log, metrics } = env;
  const constraint = pgConstraint(e) ?? 'unknown';
  metrics.constraintViolations.inc({ constraint });
  log.error({ constraint, lotId: lot.id }, 'exclusion constraint refused a booking the bitmap allowed');
  metrics.reservations.inc({ outcome: 'constraint' });
  return constraint.includes('plate') ? plateOverlap(plate) : noSpotFree();
}

/**
 * After commit: the provider's checkout (never with a lock held). When the provider is down or slow
 * the hold is kept until it expires and the answer is a 502 saying so; the same request sent again
 * finds the kept hold (`keptHold`) and opens its checkout, so a retry succeeds without a new spot.
 */
async function openCheckout(env: BookingEnv, lot: LotRecord, held: Held): Promise<Result<string, Refusal>> {
  const { log, payments } = env;
  const { id } = held.row;
  try {
    const { paymentUrl } = await payments.createCheckout({
      reference: id,
      amount: held.price,
      description: `Parking at ${lot.name}, spot ${held.row.spot_label}`,
    });
    return ok(paymentUrl);
  } catch (e) {
    log.error({ err: e, reservationId: id }, 'payment provider failed to create a checkout; hold kept');
    await env.db.rows('update reservations set checkout_failed_at = $2 where id = $1', [
      id,
      toIso(env.clock.now()),
    ]);
    return refuse(
      502,
      'payment_unavailable',
      `the payment provider is not reachable; your hold on spot ${held.row.spot_label} is kept until ${held.row.hold_expires_at?.toISOString() ?? 'it expires'}: send the same request again to pay`,
    );
  }
}

/** The caller's own live hold for exactly this booking, kept because its checkout failed, if any. */
async function keptHold(
  env: BookingEnv,
  actor: { id: string },
  booking: ValidBooking,
  body: CreateReservationBody,
): Promise<Held | null> {
  const rows = await env.db.rows<ReservationRow>(
    `select ${COLS} from reservations
      where user_id = $1 and lot_id = $2 and plate = $3 and start_at = $4 and end_at = $5 and vehicle_type = $6
        and status = 'TENTATIVE' and payment_ref is null and checkout_failed_at is not null and hold_expires_at > $7
      limit 1`,
    [
      actor.id,
      booking.lot.id,
      booking.plate,
      toIso(booking.window.startMs),
      toIso(booking.window.endMs),
      body.vehicleType,
      toIso(env.clock.now()),
    ],
  );
  const row = rows[0];
  return row === undefined ? null : { row, price: { amount: row.price_amount, currency: row.currency } };
}

async function reserve(
  env: BookingEnv,
  actor: { id: string },
  body: CreateReservationBody,
): Promise<Result<ReserveOutcome, Refusal>> {
  const { clock, metrics } = env;
  const now = clock.now();
  const valid = await validate(env, body, now);
  if (!valid.ok) return valid;
  const booking = valid.value;
  const id = newId(env.random);
  const holdExpiresMs = now + booking.lot.policy.holdMinutes * 60_000;
  let held: Held;
  try {
    const hold = { actor, body, booking, id, now, holdExpiresMs };
    const r = demandPriced(booking.lot) ? await holdTx(env, hold) : await holdAtOnce(env, hold);
    // The plate's other booking may be this very one, kept by an earlier try the provider failed.
    const kept =
      !r.ok && r.error.error === 'plate_overlap' ? await keptHold(env, actor, booking, body) : null;
    if (!r.ok && kept === null) {
      metrics.reservations.inc({ outcome: r.error.error });
      return r;
    }
    held = r.ok ? r.value : kept!;
  } catch (e) {
    if (pgCode(e) === '23P01') return constraintRefusal(env, e, booking.lot, booking.plate);
    throw e;
  }
  metrics.reservations.inc({ outcome: 'created' });
  const checkout = await openCheckout(env, booking.lot, held);
  if (!checkout.ok) return checkout;
  return ok({
    id: held.row.id,
    status: 'TENTATIVE',
    spot: held.row.spot_label,
    price: held.price,
    paymentUrl: checkout.value,
    holdExpiresAt: toIso(held.row.hold_expires_at?.getTime() ?? holdExpiresMs),
  });
}

/** The drive-up window in whole slots, from now at the earliest; null if it is not one. */
function driveUpWindow(input: DriveUpInput, now: number): SlotWindow | null {
  const startMs = Math.max(slotStartMs(slotOf(input.startMs)), slotStartMs(slotOf(now)));
  const endMs = Math.ceil(input.endMs / SLOT_MS) * SLOT_MS;
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs <= startMs) return null;
  if (endMs - startMs > MAX_DRIVE_UP_MS) return null;
  return windowOf(startMs, endMs);
}

/** The drive-up's transaction, recorded as a fact so a repeated request gets the same answer. */
function driveUpTx(
  env: BookingEnv,
  input: {
    lot: LotRecord;
    plate: string;
    window: SlotWindow;
    ask: DriveUpInput;
    now: number;
  },
) {
  const { tx, allocation } = env;
  const { lot, plate, window: w, ask, now } = input;
  const fact: GateFactInput = { lotId: lot.id, atMs: now, factKey: `driveup:${ask.requestKey}` };
  return tx(
    async (q) => {
      const replay = await replayFact<Reservation>(q, fact);
      if (replay !== null) return replay;
      const done = (outcome: Result<Reservation, Refusal>, reservationId: string | null = null) =>
        recordFact(q, { input: fact, kind: 'driveup', reservationId, outcome });
      const { clash, price, spot } = await allocation.lockFreeSpot(q, {
        lot,
        vehicleType: ask.vehicleType,
        window: w,
        plate,
      });
      if (clash) return done(refuse(409, 'plate_overlap', `plate ${plate} already holds a reservation now`));
      if (spot === null) return done(noOverflowSpot());
      const id = newId(env.random);
      const row = await allocation.insertHeld(q, {
        spot,
        bits: bitRange(lot.baseSlot, w),
        row: newRow({
          id,
          lot_id: lot.id,
          spot_id: spot.id,
          spot_label: spot.label,
          user_id: null,
          kind: 'driveup',
          vehicle_type: ask.vehicleType,
          plate,
          start_at: new Date(w.startMs),
          end_at: new Date(w.endMs),
          status: 'CONFIRMED',
          price_amount: price.amount,
          currency: price.currency,
          hold_expires_at: null,
          created_at: new Date(now),
        }),
        reason: 'driveup_granted',
      });
      return done(ok(toReservation(row)), id);
    },
    advisoryKey(PLATE_LOCK_CLASS, plate),
  );
}

async function reserveDriveUp(env: BookingEnv, ask: DriveUpInput): Promise<Result<Reservation, Refusal>> {
  const { clock, lots, metrics } = env;
  const now = clock.now();
  const plate = normalizePlate(ask.plate);
  if (plate === null)
    return refuse(400, 'validation_failed', 'plate is not valid', {
      field: 'plate',
      rule: 'invalid_plate',
    });
  const lot = await lots.get(ask.lotId);
  if (lot === null) return refuse(404, 'lot_not_found', `lot ${ask.lotId} not found`);
  const w = driveUpWindow(ask, now);
  if (w === null)
    return refuse(400, 'invalid_window', 'a drive-up window must end after it starts, within a day');
  try {
    return await driveUpTx(env, { lot, plate, window: w, ask, now });
  } catch (e) {
    if (pgCode(e) === '23P01') {
      metrics.constraintViolations.inc({ constraint: pgConstraint(e) ?? 'unknown' });
      return noOverflowSpot();
    }
    throw e;
  }
}
