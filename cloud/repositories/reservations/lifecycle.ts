import { type SigningKey, signCredential } from '../../../protocol/credential.js';
import type { ReservationView } from '../../../protocol/http.js';
import type { Money } from '../../../protocol/money.js';
import { ok, type Result } from '../../../protocol/result.js';
import { type Refusal, refuse } from '../../errors.js';
import { newId } from '../../ids.js';
import type { CapturedOutcome, CapturedPayment, WebhookEventRecord } from '../../payments/purposes.js';
import { countRevenue } from '../../metrics.js';
import type { SpotAllocation } from './allocation.js';
import type { ReservationContext } from './context.js';
import { bookingCaptured, type Paid, voidCapture } from './captured.js';
import type { PaymentSettlement } from './payments.js';
import { getRow, iso, lockRow, type ReservationRow, toView } from './rows.js';
import type { PaymentRecord, StatusSets, StatusWriter } from './transitions.js';

/**
 * The status lifecycle a driver drives: pay (TENTATIVE → CONFIRMED, or EXPIRED if the hold ran
 * out) and cancel (→ CANCELLED, refunded per the lot's policy). Provider calls happen outside
 * transactions; a refund is recorded pending with the cancellation and settled after commit.
 */

type Confirmation = { kind: 'confirmed' | 'expired' | 'raced'; row: ReservationRow };

const holdExpired = (row: ReservationRow) =>
  refuse(
    410,
    'hold_expired',
    `the hold expired at ${iso(row.hold_expires_at)}; nothing is kept: a payment that arrived late is refunded in full`,
  );
const notPayable = (row: ReservationRow) => refuse(409, 'not_payable', `reservation is ${row.status}`);

export interface Lifecycle {
  complete(
    id: string,
    paymentToken: string,
    known?: ReservationRow,
  ): Promise<Result<ReservationView, Refusal>>;
  cancel(id: string): Promise<Result<{ reservation: ReservationView; refund: Money }, Refusal>>;
  /** The `booking` payment purpose: a captured checkout for this reservation (webhook, recovery). */
  captured(p: CapturedPayment): Promise<CapturedOutcome>;
}

/** What the lifecycle works with: the repository's context and the parts it builds on. */
type LifecycleEnv = ReservationContext & {
  allocation: SpotAllocation;
  status: StatusWriter;
  settlement: PaymentSettlement;
  signingKey: SigningKey;
};

export function createLifecycle(
  ctx: ReservationContext,
  parts: {
    allocation: SpotAllocation;
    status: StatusWriter;
    settlement: PaymentSettlement;
    signingKey: SigningKey;
  },
): Lifecycle {
  const env: LifecycleEnv = { ...ctx, ...parts };
  return {
    complete: (id, paymentToken, known) => complete(env, id, paymentToken, known),
    cancel: (id) => cancel(env, id),
    captured: (p) =>
      bookingCaptured(env, (row, paid, amount, event) => confirmPaid(env, row, paid, amount, event), p),
  };
}

/** Expire one hold whose time has passed (complete() found it before the sweeper did). */
async function expireNow(env: LifecycleEnv, id: string, nowMs: number): Promise<void> {
  const { tx, allocation, status } = env;
  await tx(async (q) => {
    const row = await lockRow(q, id);
    if (row === null || row.status !== 'TENTATIVE') return;
    await allocation.releaseSlots(q, row);
    await status.setStatus(q, { row, status: 'EXPIRED', reason: 'expired', nowMs });
  });
}

/** The answer for a row that is not a live hold (nothing to pay), or null when it is one. */
async function settledAnswer(
  env: LifecycleEnv,
  row: ReservationRow,
  now: number,
): Promise<Result<ReservationView, Refusal> | null> {
  if (row.status === 'CONFIRMED' || row.status === 'CHECKED_IN' || row.status === 'COMPLETED') {
    return ok(toView(row));
  }
  if (row.status === 'EXPIRED' || (row.status === 'TENTATIVE' && row.hold_expires_at!.getTime() <= now)) {
    if (row.status === 'TENTATIVE') await expireNow(env, row.id, now);
    return holdExpired(row);
  }
  if (row.status !== 'TENTATIVE') return notPayable(row);
  return null;
}

/** The columns and the capture a confirmation writes; the credential covers fields fixed at creation. */
function confirmation(
  env: LifecycleEnv,
  row: ReservationRow,
  paid: Paid,
): { sets: StatusSets; payment: PaymentRecord } {
  const credential = signCredential(
    {
      rid: row.id,
      lot: row.lot_id,
      plate: row.plate,
      start: row.start_at.getTime(),
      end: row.end_at.getTime(),
    },
    env.signingKey,
  );
  return {
    sets: { payment_ref: paid.paymentRef, stored_method_ref: paid.storedMethodRef, credential },
    payment: {
      id: newId(env.random),
      kind: 'capture',
      amount: row.price_amount,
      status: 'succeeded',
      providerRef: paid.paymentRef,
    },
  };
}

/** The row under its lock: confirm it if still a live hold, expire it if the hold ran out. */
function confirmUnderLock(env: LifecycleEnv, id: string, paid: Paid, at: number): Promise<Confirmation> {
  const { tx, allocation, status } = env;
  return tx(async (q) => {
    const locked = await lockRow(q, id);
    if (locked === null) throw new Error(`reservation ${id} vanished`);
    if (locked.status === 'TENTATIVE' && locked.hold_expires_at!.getTime() > at) {
      const change = { row: locked, status: 'CONFIRMED', reason: 'confirmed', nowMs: at } as const;
      const updated = await status.setStatus(q, { ...change, ...confirmation(env, locked, paid) });
      return { kind: 'confirmed', row: updated };
    }
    if (locked.status === 'TENTATIVE') {
      // The hold ran out while the provider was answering.
      await allocation.releaseSlots(q, locked);
      await status.setStatus(q, { row: locked, status: 'EXPIRED', reason: 'expired', nowMs: at });
      return { kind: 'expired', row: locked };
    }
    return { kind: 'raced', row: locked };
  });
}

/** A confirmation's answer, and whether the webhook event that paid it was recorded with it. */
type Confirmed = { answer: Result<ReservationView, Refusal>; recorded: boolean };

/**
 * Confirm a paid hold; a capture that confirmed nothing is given back. With `event` (a webhook's),
 * the usual case records it as applied in the confirming statement.
 */
async function confirmPaid(
  env: LifecycleEnv,
  row: ReservationRow,
  paid: Paid,
  amount: Money,
  event?: WebhookEventRecord,
): Promise<Confirmed> {
  const { db, clock, status } = env;
  const at = clock.now();
  if (row.hold_expires_at!.getTime() > at) {
    // The usual case, in one statement (one round trip, its own transaction): confirm only if
    // the row is still a live hold.
    const confirmed = await status.setStatusWhere(db.pooled, {
      guard: `status = 'TENTATIVE' and hold_expires_at > $3::timestamptz`,
      row,
      status: 'CONFIRMED',
      reason: 'confirmed',
      nowMs: at,
      event,
      ...confirmation(env, row, paid),
    });
    if (confirmed !== null) {
      countRevenue(env.metrics, 'capture', amount);
      await env.sequencer.kick();
      return { answer: ok(toView(confirmed)), recorded: event !== undefined };
    }
  }
  return { answer: await confirmLocked(env, row, paid, amount, at), recorded: false };
}

/** The unusual cases, with the row locked: expired meanwhile, raced, or confirmed by this payment. */
async function confirmLocked(
  env: LifecycleEnv,
  row: ReservationRow,
  paid: Paid,
  amount: Money,
  at: number,
): Promise<Result<ReservationView, Refusal>> {
  // Otherwise look at the row under its lock: expired meanwhile, or someone else moved it.
  const outcome = await confirmUnderLock(env, row.id, paid, at);
  if (outcome.kind === 'confirmed') {
    countRevenue(env.metrics, 'capture', amount);
    return ok(toView(outcome.row));
  }
  // The same capture confirmed it meanwhile (webhook and /complete, or a double click).
  if (outcome.row.payment_ref === paid.paymentRef) return ok(toView(outcome.row));
  await voidCapture(
    env,
    outcome.row,
    paid,
    amount,
    outcome.kind === 'expired'
      ? 'the hold expired before the payment arrived'
      : `reservation is ${outcome.row.status}`,
  );
  if (outcome.kind === 'expired') return holdExpired(row);
  if (outcome.row.status === 'CONFIRMED' || outcome.row.status === 'CHECKED_IN')
    return ok(toView(outcome.row));
  return notPayable(outcome.row);
}

async function complete(
  env: LifecycleEnv,
  id: string,
  paymentToken: string,
  known?: ReservationRow,
): Promise<Result<ReservationView, Refusal>> {
  const { db, clock, metrics, payments } = env;
  const now = clock.now();
  const row = known?.id === id ? known : await getRow(db.pooled, id);
  if (row === null) return refuse(404, 'reservation_not_found', `reservation ${id} not found`);
  const settled = await settledAnswer(env, row, now);
  if (settled !== null) return settled;
  const amount = { amount: row.price_amount, currency: row.currency };
  const verified = await payments.verifyToken({ token: paymentToken, reference: id, amount });
  if (!verified.ok) {
    metrics.payments.inc({ kind: 'capture', outcome: 'refused' });
    return refuse(
      402,
      'payment_invalid',
      `${verified.error.message}; the reservation stays on hold until it expires`,
      { field: 'body.paymentToken', rule: verified.error.reason },
    );
  }
  metrics.payments.inc({ kind: 'capture', outcome: 'succeeded' });
  return (await confirmPaid(env, row, verified.value, amount)).answer;
}

async function cancel(
  env: LifecycleEnv,
  id: string,
): Promise<Result<{ reservation: ReservationView; refund: Money }, Refusal>> {
  const { db, clock, lots, tx, allocation, status, settlement } = env;
  const now = clock.now();
  const found = await getRow(db.pooled, id);
  if (found === null) return refuse(404, 'reservation_not_found', `reservation ${id} not found`);
  // Read outside the transaction: never hold a connection while asking the pool for another.
  const lot = await lots.get(found.lot_id);
  const outcome = await tx(
    async (q): Promise<Result<{ row: ReservationRow; refundId: string | null }, Refusal>> => {
      const row = await lockRow(q, id);
      if (row === null) return refuse(404, 'reservation_not_found', `reservation ${id} not found`);
      if (row.status === 'CANCELLED') return ok({ row, refundId: null });
      if (row.status !== 'TENTATIVE' && row.status !== 'CONFIRMED') {
        return refuse(409, 'not_cancellable', `a ${row.status} reservation cannot be cancelled`);
      }
      const refundable =
        row.status === 'CONFIRMED' &&
        row.payment_ref !== null &&
        lot?.policy.refund === 'full_before_start' &&
        now < row.start_at.getTime();
      const refund = refundable ? row.price_amount : 0;
      await allocation.releaseSlots(q, row);
      const refundId = refund > 0 ? newId(env.random) : null;
      const updated = await status.setStatus(q, {
        row,
        status: 'CANCELLED',
        reason: 'cancelled',
        nowMs: now,
        sets: { refund_amount: refund },
        payment:
          refundId === null ? undefined : { id: refundId, kind: 'refund', amount: refund, status: 'pending' },
      });
      return ok({ row: updated, refundId });
    },
  );
  if (!outcome.ok) return outcome;
  if (outcome.value.refundId !== null) await settlement.settle(outcome.value.refundId);
  const row = outcome.value.row;
  return ok({
    reservation: toView(row),
    refund: { amount: row.refund_amount ?? 0, currency: row.currency },
  });
}
