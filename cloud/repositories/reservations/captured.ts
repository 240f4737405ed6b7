import type { Money } from '../../../protocol/money.js';
import { toIso } from '../../../protocol/slots.js';
import type { CapturedOutcome, CapturedPayment, WebhookEventRecord } from '../../payments/purposes.js';
import type { ReservationContext } from './context.js';
import type { PaymentSettlement } from './payments.js';
import { COLS, type ReservationRow } from './rows.js';

/**
 * The `booking` payment purpose: a captured checkout whose reference is a reservation id confirms
 * that TENTATIVE hold (through the lifecycle's confirmation: status, credential and capture row in
 * one statement). A capture that confirms nothing — the hold expired or was cancelled, another
 * payment confirmed it first, or the amount is not the price — is recorded and refunded in full
 * automatically (`voidCapture`), so no money is kept for nothing.
 */

/** What the provider confirmed about a capture. */
export interface Paid {
  paymentRef: string;
  storedMethodRef: string | null;
}

type Env = Pick<ReservationContext, 'db' | 'clock' | 'log' | 'tx'> & { settlement: PaymentSettlement };

/**
 * Record a capture that confirmed nothing and its full refund (pending, then settled with the
 * provider under a key derived from the capture, so replays refund once). Ids derive from the
 * provider's payment ref: applying the same capture again writes nothing new.
 */
export async function voidCapture(
  env: Env,
  row: ReservationRow,
  paid: Paid,
  amount: Money,
  reason: string,
): Promise<void> {
  const captureId = `cap_${paid.paymentRef}`;
  const refundId = `void_${paid.paymentRef}`;
  const now = toIso(env.clock.now());
  await env.tx(async (q) => {
    const insert = `insert into payments (id, reservation_id, lot_id, reference, kind, amount, currency, status,
                      provider_ref, refund_of, reason, actor, created_at, updated_at)
                    values ($1, null, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'system', $11, $11) on conflict do nothing`;
    await q.query(insert, [
      captureId,
      row.lot_id,
      row.id,
      'capture',
      amount.amount,
      amount.currency,
      'succeeded',
      paid.paymentRef,
      null,
      `captured but confirmed nothing: ${reason}`,
      now,
    ]);
    // receipt: issueReceipt(q, paymentId, now) goes here (the capture above)
    await q.query(insert, [
      refundId,
      row.lot_id,
      row.id,
      'refund',
      amount.amount,
      amount.currency,
      'pending',
      null,
      captureId,
      `automatic refund: ${reason}`,
      now,
    ]);
  });
  env.log.warn(
    { reservationId: row.id, paymentRef: paid.paymentRef, reason },
    'capture confirmed nothing; refunding it',
  );
  const settled = await env.settlement.settle(refundId);
  if (settled === 'failed')
    env.log.error(
      { reservationId: row.id, paymentRef: paid.paymentRef },
      'could not refund a capture that confirmed nothing',
    );
}

/** The reservation a capture names, and whether that capture was already given back (one read). */
const CAPTURED_ROW_SQL = `select ${COLS}, exists (select 1 from payments where id = $2) as voided
  from reservations where id = $1`;

/** The booking purpose's answer to a captured checkout. */
export async function bookingCaptured(
  env: Env,
  confirm: (
    row: ReservationRow,
    paid: Paid,
    amount: Money,
    event: WebhookEventRecord | undefined,
  ) => Promise<{ recorded: boolean }>,
  p: CapturedPayment,
): Promise<CapturedOutcome> {
  const [found] = await env.db.rows<ReservationRow & { voided: boolean }>(CAPTURED_ROW_SQL, [
    p.reference,
    `cap_${p.paymentRef}`,
  ]);
  if (found === undefined) return 'unknown';
  const { voided, ...row } = found;
  const paid = { paymentRef: p.paymentRef, storedMethodRef: p.storedMethodRef };
  if (row.payment_ref === p.paymentRef || voided) return 'duplicate';
  if (p.amount.amount !== row.price_amount || p.amount.currency !== row.currency) {
    await voidCapture(
      env,
      row,
      paid,
      p.amount,
      `paid ${p.amount.amount} ${p.amount.currency}, price is ${row.price_amount}`,
    );
    return 'applied';
  }
  if (row.status === 'TENTATIVE') {
    const { recorded } = await confirm(row, paid, p.amount, p.event);
    return recorded ? 'recorded' : 'applied';
  }
  await voidCapture(env, row, paid, p.amount, `reservation is ${row.status}`);
  return 'applied';
}
