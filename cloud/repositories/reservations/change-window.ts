import { type SigningKey, signCredential } from '../../../protocol/credential.js';
import { ELIGIBLE_SPOT_TYPES } from '../../../protocol/domain.js';
import { openingRefusal } from '../../../protocol/hours.js';
import type { ReservationView } from '../../../protocol/http.js';
import { type Money, money } from '../../../protocol/money.js';
import { bookingPrice } from '../../../protocol/pricing.js';
import { ok, type Result } from '../../../protocol/result.js';
import { type SlotWindow, toIso, validateWindow, windowOf } from '../../../protocol/slots.js';
import { pgCode } from '../../db/database.js';
import { type Refusal, refuse } from '../../errors.js';
import { newId } from '../../ids.js';
import { appendChange } from '../changes.js';
import type { LotRecord } from '../lots.js';
import { closedRefusal } from '../opening.js';
import { bitRange, holdSlice, releaseSlice, sliceIsFree, sliceSql, writeSlice } from '../spot-bitmaps.js';
import type { ReservationContext } from './context.js';
import type { PaymentSettlement } from './payments.js';
import { COLS, lockRow, type ReservationRow, toReservation, toView } from './rows.js';

/**
 * Changing a booking's window (docs/permits.md#changing-a-booking): `PATCH /v1/reservations/:id`
 * extends or shortens a CONFIRMED (or, its end only, a CHECKED_IN) booking. In one transaction the
 * old window's bits are released and the new one held — on the same spot when it is free, else on
 * another free eligible spot, else nothing changes (409 saying why) — the row, a new signed QR over
 * the new window and an `updated` change for the lot's edges are written.
 *
 * The price difference is priced by the lot's rate card (no demand multiplier) as
 * price(new window) − price(old window). More: charged to the stored method BEFORE the change
 * (idempotency key from the request, so a retried request is never charged twice; a declined charge
 * changes nothing: 402), recorded as a `change` payment row with the change, and refunded again if
 * the change then fails. Less: a `refund` row recorded pending with the change and settled with the
 * provider after commit (the sweeper retries it), like a cancellation's refund.
 */

export interface WindowChangeOutcome {
  reservation: ReservationView;
  difference: Money;
}

export type ChangeWindow = (
  id: string,
  body: { startAt?: string | undefined; endAt?: string | undefined },
  requestKey: string | null,
) => Promise<Result<WindowChangeOutcome, Refusal>>;

type Env = ReservationContext & { settlement: PaymentSettlement; signingKey: SigningKey };

export function createChangeWindow(
  ctx: ReservationContext,
  parts: { settlement: PaymentSettlement; signingKey: SigningKey },
): ChangeWindow {
  const env: Env = { ...ctx, ...parts };
  return (id, body, key) => changeWindow(env, id, body, key);
}

interface Plan {
  row: ReservationRow;
  lot: LotRecord;
  window: SlotWindow;
  difference: number;
}

async function plan(
  env: Env,
  id: string,
  body: { startAt?: string | undefined; endAt?: string | undefined },
): Promise<Result<Plan, Refusal>> {
  const row = await env.db
    .rows<ReservationRow>(`select ${COLS} from reservations where id = $1`, [id])
    .then((r) => r[0]);
  if (row === undefined) return refuse(404, 'reservation_not_found', `reservation ${id} not found`);
  if (row.status !== 'CONFIRMED' && row.status !== 'CHECKED_IN')
    return refuse(409, 'not_changeable', `a ${row.status} reservation cannot be changed`);
  if (
    row.status === 'CHECKED_IN' &&
    body.startAt !== undefined &&
    Date.parse(body.startAt) !== row.start_at.getTime()
  )
    return refuse(409, 'already_checked_in', 'the vehicle is inside: only the end can change', {
      field: 'body.startAt',
    });
  const lot = await env.lots.get(row.lot_id);
  if (lot === null) throw new Error(`lot ${row.lot_id} vanished`);
  const now = env.clock.now();
  const start = body.startAt ?? row.start_at.toISOString();
  const end = body.endAt ?? row.end_at.toISOString();
  // An unchanged start that already passed is not "in the past" for this check.
  const startKept = Date.parse(start) === row.start_at.getTime();
  const w = validateWindow(
    { start, end },
    lot.policy,
    startKept ? Math.min(now, row.start_at.getTime()) : now,
  );
  if (!w.ok)
    return refuse(400, 'invalid_window', w.error.message, {
      field: `body.${w.error.field}At`,
      rule: w.error.reason,
    });
  if (w.value.endMs <= now)
    return refuse(400, 'invalid_window', 'the new end has already passed', {
      field: 'body.endAt',
      rule: 'past',
    });
  const closed = openingRefusal(lot.policy, lot.timeZone, w.value.startMs, w.value.endMs);
  if (closed !== null) return closedRefusal(closed, lot.timeZone);
  // The lot's rate plan for the old and the new window (no demand step: a change is not a new sale).
  const before = bookingPrice(lot, row.vehicle_type, windowOf(row.start_at.getTime(), row.end_at.getTime()));
  const after = bookingPrice(lot, row.vehicle_type, w.value);
  return ok({ row, lot, window: w.value, difference: after.total.amount - before.total.amount });
}

async function changeWindow(
  env: Env,
  id: string,
  body: { startAt?: string | undefined; endAt?: string | undefined },
  requestKey: string | null,
): Promise<Result<WindowChangeOutcome, Refusal>> {
  const planned = await plan(env, id, body);
  if (!planned.ok) return planned;
  const p = planned.value;
  const currency = p.row.currency;
  let charge: { ref: string; key: string } | null = null;
  if (p.difference > 0) {
    if (p.row.stored_method_ref === null)
      return refuse(
        402,
        'no_stored_method',
        'the booking has no stored payment method to charge the difference to',
      );
    const key = `change:${id}:${requestKey ?? `${p.window.startMs}-${p.window.endMs}`}`;
    const charged = await env.payments.chargeStoredMethod({
      storedMethodRef: p.row.stored_method_ref,
      amount: money(p.difference, currency),
      idempotencyKey: key,
      description: `booking change ${id}`,
    });
    if (!charged.ok)
      return refuse(402, 'payment_declined', `the difference was not charged: ${charged.error.message}`);
    charge = { ref: charged.value.chargeRef, key };
  }
  let applied: Result<{ row: ReservationRow; refundIds: string[] }, Refusal>;
  try {
    applied = await env.tx((q) => apply(env, q, p, charge));
  } catch (e) {
    if (e instanceof NoSpot) applied = noSpotRefusal();
    else if (pgCode(e) === '23P01')
      applied = refuse(409, 'plate_overlap', `plate ${p.row.plate} holds another booking in the new window`);
    else throw e;
  }
  if (!applied.ok) {
    if (charge !== null) {
      await env.payments.refund({
        paymentRef: charge.ref,
        amount: money(p.difference, currency),
        idempotencyKey: `void:${charge.key}`,
      });
    }
    return applied;
  }
  for (const refundId of applied.value.refundIds) await env.settlement.settle(refundId);
  return ok({ reservation: toView(applied.value.row), difference: money(p.difference, currency) });
}

/** The transaction: bits, row, credential, change, payment row. */
async function apply(
  env: Env,
  q: Parameters<Parameters<Env['tx']>[0]>[0],
  p: Plan,
  charge: { ref: string } | null,
): Promise<Result<{ row: ReservationRow; refundIds: string[] }, Refusal>> {
  const now = env.clock.now();
  const row = await lockRow(q, p.row.id);
  if (
    row === null ||
    row.start_at.getTime() !== p.row.start_at.getTime() ||
    row.end_at.getTime() !== p.row.end_at.getTime() ||
    row.status !== p.row.status
  )
    return refuse(409, 'changed_meanwhile', 'the booking changed meanwhile; try again');
  const oldRange = bitRange(p.lot.baseSlot, windowOf(row.start_at.getTime(), row.end_at.getTime()));
  const oldSlice = await q.query<{ w: string }>(
    `select ${sliceSql('$3', '$4')} as w from spots where lot_id = $1 and id = $2 for update`,
    [row.lot_id, row.spot_id, oldRange.from + 1, oldRange.len],
  );
  await writeSlice(
    q,
    row.lot_id,
    row.spot_id,
    oldRange,
    releaseSlice(oldSlice.rows[0]?.w ?? '', oldRange.len).slice,
  );
  const r = bitRange(p.lot.baseSlot, p.window);
  const target = await pickSpot(q, row, r);
  if (target === null) throw new NoSpot();
  await writeSlice(q, row.lot_id, target.id, r, holdSlice(target.w, r.len));
  const credential = signCredential(
    { rid: row.id, lot: row.lot_id, plate: row.plate, start: p.window.startMs, end: p.window.endMs },
    env.signingKey,
  );
  const updated = await q.query<ReservationRow>(
    `update reservations set start_at = $2, end_at = $3, spot_id = $4, spot_label = $5, price_amount = $6,
       credential = $7, updated_at = $8 where id = $1 returning ${COLS}`,
    [
      row.id,
      toIso(p.window.startMs),
      toIso(p.window.endMs),
      target.id,
      target.label,
      Math.max(0, row.price_amount + p.difference),
      credential,
      toIso(now),
    ],
  );
  const next = updated.rows[0]!;
  await appendChange(q, row.lot_id, 'updated', toReservation(next), now);
  if (p.difference < 0) {
    const refundIds = await recordRefunds(env, q, next, -p.difference, now);
    return ok({ row: next, refundIds });
  }
  if (p.difference > 0) {
    await q.query(
      `insert into payments (id, reservation_id, lot_id, reference, kind, amount, currency, status, provider_ref, reason,
         created_at, updated_at)
       values ($1, $2, $3, $2, 'change', $4, $5, 'succeeded', $6, 'booking_changed', $7, $7)`,
      [newId(env.random), row.id, row.lot_id, p.difference, row.currency, charge?.ref ?? null, toIso(now)],
    );
  }
  return ok({ row: next, refundIds: [] });
}

/**
 * A shortened booking's refund, recorded pending (settled with the provider after commit): split over
 * the booking's captured payments, newest first (an extension's charge, then the capture), each up to
 * what is still refundable of it — a provider refunds one payment at a time, never more than it took.
 */
async function recordRefunds(
  env: Env,
  q: Parameters<Parameters<Env['tx']>[0]>[0],
  row: ReservationRow,
  amount: number,
  now: number,
): Promise<string[]> {
  const { rows } = await q.query<{ id: string; refundable: string }>(
    `select p.id, p.amount - coalesce((select sum(r.amount) from payments r
                                       where r.refund_of = p.id and r.status <> 'failed'), 0) as refundable
       from payments p
      where p.reservation_id = $1 and p.kind in ('capture', 'change') and p.status = 'succeeded'
      order by p.created_at desc, (p.kind = 'change') desc, p.id`,
    [row.id],
  );
  const ids: string[] = [];
  let left = amount;
  for (const paid of rows) {
    const part = Math.min(left, Number(paid.refundable));
    if (part <= 0) continue;
    const id = newId(env.random);
    await q.query(
      `insert into payments (id, reservation_id, lot_id, reference, kind, amount, currency, status, refund_of, reason,
         created_at, updated_at)
       values ($1, $2, $3, $2, 'refund', $4, $5, 'pending', $6, 'booking_changed', $7, $7)`,
      [id, row.id, row.lot_id, part, row.currency, paid.id, toIso(now)],
    );
    ids.push(id);
    left -= part;
    if (left === 0) break;
  }
  return ids;
}

/**
 * The same spot first (still in the bookable pool), then any free eligible bookable spot. Candidates
 * are read without locks and only the one taken is locked (SKIP LOCKED, re-checked under the lock),
 * so a change never holds the lot's other spots and concurrent bookings keep their choice.
 */
async function pickSpot(
  q: Parameters<Parameters<Env['tx']>[0]>[0],
  row: ReservationRow,
  r: { from: number; len: number },
): Promise<{ id: string; label: string; w: string } | null> {
  const { rows } = await q.query<{ id: string; label: string; w: string }>(
    `select id, label, ${sliceSql('$4', '$5')} as w from spots
      where lot_id = $1 and pool = 'bookable' and type = any($2::text[])
      order by (id = $3) desc, id`,
    [row.lot_id, ELIGIBLE_SPOT_TYPES[row.vehicle_type], row.spot_id, r.from + 1, r.len],
  );
  for (const candidate of rows) {
    if (!sliceIsFree(candidate.w, r.len)) continue;
    const locked = await q.query<{ id: string; label: string; w: string }>(
      `select id, label, ${sliceSql('$3', '$4')} as w from spots
        where lot_id = $1 and id = $2 for update skip locked`,
      [row.lot_id, candidate.id, r.from + 1, r.len],
    );
    const spot = locked.rows[0];
    if (spot !== undefined && sliceIsFree(spot.w, r.len)) return spot;
  }
  return null;
}

/** No spot for the new window: thrown to roll the released bits back. */
class NoSpot extends Error {
  constructor() {
    super('no spot is free for the new window');
  }
}

const noSpotRefusal = () =>
  refuse(
    409,
    'no_spot_free',
    'no spot is free for the new window (neither this booking’s spot nor another eligible one)',
    {
      field: 'body',
    },
  );
