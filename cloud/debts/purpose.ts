import type { Clock } from '../../protocol/clock.js';
import type { Random } from '../../protocol/random.js';
import { toIso } from '../../protocol/slots.js';
import type { Database, Queryable } from '../db/database.js';
import { newId } from '../ids.js';
import type { CapturedPayment, PaymentPurpose } from '../payments/purposes.js';

/**
 * The `debt` purpose: a captured checkout for `debt:<debtId>` records the payment (kind `debt`,
 * `debt_id`) and marks the debt paid, in one transaction; the same capture twice records one
 * payment. A capture that settles nothing — the debt was settled meanwhile (cash at the booth) or
 * the amount is not the debt's — is recorded against the debt and refunded in full (a pending refund
 * settled with the provider after the commit). `settled()` runs after the commit (the lots clear it).
 */
export function debtPurpose(deps: {
  db: Database;
  clock: Clock;
  random: Random;
  settled: () => void;
  /** Settle a pending refund with the provider (the reservations repository's settlement). */
  refund: (paymentId: string) => Promise<unknown>;
}): PaymentPurpose {
  const { db, clock, random } = deps;
  return {
    async captured(p: CapturedPayment) {
      const debtId = p.reference.slice('debt:'.length);
      const result = await db.tx(async (q) => {
        const d = await q.query<{
          id: string;
          lot_id: string;
          status: string;
          amount: string;
          currency: string;
        }>('select id, lot_id, status, amount, currency from debts where id = $1 for update', [debtId]);
        const debt = d.rows[0];
        if (debt === undefined) return 'unknown' as const;
        const seen = await q.query("select 1 from payments where provider_ref = $1 and kind = 'debt'", [
          p.paymentRef,
        ]);
        if ((seen.rowCount ?? 0) > 0) return 'duplicate' as const;
        const paymentId = newId(random);
        const now = toIso(clock.now());
        await q.query(
          `insert into payments (id, reservation_id, kind, amount, currency, status, provider_ref, detail,
                                 created_at, updated_at, lot_id, method, reference, debt_id)
           values ($1, null, 'debt', $2, $3, 'succeeded', $4, $5, $6, $6, $7, 'provider', $8, $9)`,
          [
            paymentId,
            p.amount.amount,
            p.amount.currency,
            p.paymentRef,
            `event ${p.eventId}`,
            now,
            debt.lot_id,
            p.reference,
            debt.id,
          ],
        );
        const settles =
          debt.status === 'open' &&
          Number(debt.amount) === p.amount.amount &&
          debt.currency === p.amount.currency;
        if (!settles) {
          const refundId = newId(random);
          const why =
            debt.status === 'open'
              ? `automatic refund: paid ${p.amount.amount} ${p.amount.currency}, the debt is ${debt.amount} ${debt.currency}`
              : `automatic refund: the debt was already ${debt.status}`;
          await recordRefund(q, {
            id: refundId,
            of: paymentId,
            why,
            now,
            lotId: debt.lot_id,
            debtId: debt.id,
            p,
          });
          return { refundId } as const;
        }
        await q.query(
          `update debts set status = 'paid', settled_by = 'provider', settled_reason = $2, settled_at = $3
            where id = $1 and status = 'open'`,
          [debt.id, `paid online (${p.paymentRef})`, now],
        );
        return 'applied' as const;
      });
      if (typeof result === 'object') {
        await deps.refund(result.refundId);
        return 'applied';
      }
      if (result === 'applied') deps.settled();
      return result;
    },
  };
}

/** A capture that settled nothing is given back: its full refund, pending until the provider settles it. */
async function recordRefund(
  q: Queryable,
  r: { id: string; of: string; why: string; now: string; lotId: string; debtId: string; p: CapturedPayment },
): Promise<void> {
  await q.query(
    `insert into payments (id, kind, amount, currency, status, refund_of, reason, actor, created_at, updated_at,
                           lot_id, method, reference, debt_id)
     values ($1, 'refund', $2, $3, 'pending', $4, $5, 'system', $6, $6, $7, 'provider', $8, $9)`,
    [r.id, r.p.amount.amount, r.p.amount.currency, r.of, r.why, r.now, r.lotId, r.p.reference, r.debtId],
  );
}
