import type { Clock } from '../../protocol/clock.js';
import type { Random } from '../../protocol/random.js';
import { toIso } from '../../protocol/slots.js';
import type { Database } from '../db/database.js';
import { newId } from '../ids.js';
import type { CapturedPayment, PaymentPurpose } from '../payments/purposes.js';

/**
 * The `exit` purpose: a captured checkout for `exit:<lotId>:<sessionId>` records the payment (kind
 * `exit`, the lot, the reference) and marks the checkout it pays as paid, in one transaction. The
 * same capture applied twice (a webhook and the return, a double click) records one payment.
 * `paid(lotId)` runs after the commit so the lot learns it at once (down/money).
 */
export function exitPurpose(deps: {
  db: Database;
  clock: Clock;
  random: Random;
  paid: (lotId: string) => void;
}): PaymentPurpose {
  const { db, clock, random } = deps;
  return {
    async captured(p: CapturedPayment) {
      const outcome = await db.tx(async (q) => {
        const c = await q.query<{ id: string; lot_id: string; status: string }>(
          `select id, lot_id, status from exit_checkouts
            where reference = $1 and amount = $2 and currency = $3
            order by (status = 'pending') desc, created_at desc limit 1 for update`,
          [p.reference, p.amount.amount, p.amount.currency],
        );
        const checkout = c.rows[0];
        if (checkout === undefined) return { result: 'unknown' as const, lotId: null };
        const seen = await q.query('select 1 from payments where provider_ref = $1 and kind = $2', [
          p.paymentRef,
          'exit',
        ]);
        if ((seen.rowCount ?? 0) > 0) return { result: 'duplicate' as const, lotId: checkout.lot_id };
        const paymentId = newId(random);
        const now = toIso(clock.now());
        await q.query(
          `insert into payments (id, reservation_id, kind, amount, currency, status, provider_ref, detail,
                                 created_at, updated_at, lot_id, method, reference)
           values ($1, null, 'exit', $2, $3, 'succeeded', $4, $5, $6, $6, $7, 'provider', $8)`,
          [
            paymentId,
            p.amount.amount,
            p.amount.currency,
            p.paymentRef,
            `event ${p.eventId}`,
            now,
            checkout.lot_id,
            p.reference,
          ],
        );
        // receipt: issueReceipt(q, paymentId, now) goes here
        // A second capture of a checkout already paid (two tabs) is still money received: recorded,
        // and the stay counts it (the lot sees the total paid).
        if (checkout.status === 'pending') {
          await q.query(
            `update exit_checkouts set status = 'paid', payment_id = $2, paid_at = $3 where id = $1`,
            [checkout.id, paymentId, now],
          );
        }
        if (checkout.status === 'paid') {
          await q.query(
            `insert into exit_checkouts (id, reference, lot_id, session_id, plate, amount, currency, covers_until,
                                         status, payment_id, created_at, paid_at)
             select $2, reference, lot_id, session_id, plate, amount, currency, covers_until, 'paid', $3, $4, $4
               from exit_checkouts where id = $1`,
            [checkout.id, newId(random), paymentId, now],
          );
        }
        return { result: 'applied' as const, lotId: checkout.lot_id };
      });
      if (outcome.result === 'applied' && outcome.lotId !== null) deps.paid(outcome.lotId);
      return outcome.result;
    },
  };
}
