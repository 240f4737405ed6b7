import type { Sql } from '../sync/ports.js';
import { exitReference } from './quote.js';

/**
 * A stay paid online (the lane's QR, the pay page) for more than the lane finally charged — a
 * merchant validation redeemed at the lot after the cloud's quote, or the car leaving inside a
 * grace the quote did not know — gets the excess back when its exit event arrives: pending refunds
 * of its exit payments, newest first, each up to what is still refundable of it, which the payments
 * sweeper settles with the provider (the same path as every refund). Ids derive from the exit
 * event, so the event applied twice refunds once.
 */
export async function refundOverpaidExit(
  tx: Sql,
  lotId: string,
  e: { eventId: number; sessionId: string; at: string; charge: { amount: number; currency: string } | null },
): Promise<number> {
  const { rows } = await tx.query<{ id: string; currency: string; refundable: string }>(
    `select p.id, p.currency,
            p.amount - coalesce((select sum(r.amount) from payments r
                                  where r.refund_of = p.id and r.status <> 'failed'), 0) as refundable
       from payments p
      where p.lot_id = $1 and p.reference = $2 and p.kind = 'exit' and p.status = 'succeeded'
      order by p.created_at desc, p.id`,
    [lotId, exitReference(lotId, e.sessionId)],
  );
  const paid = rows.reduce((sum, r) => sum + Number(r.refundable), 0);
  let excess = paid - (e.charge?.amount ?? 0);
  let refunded = 0;
  for (const [i, p] of rows.entries()) {
    if (excess <= 0) break;
    const part = Math.min(excess, Number(p.refundable));
    if (part <= 0) continue;
    await tx.query(
      `insert into payments (id, lot_id, reference, kind, amount, currency, status, refund_of, reason, actor,
                             created_at, updated_at)
       values ($1, $2, $3, 'refund', $4, $5, 'pending', $6, $7, 'system', $8, $8) on conflict (id) do nothing`,
      [
        `overpaid_${lotId}_${e.eventId}_${i}`,
        lotId,
        exitReference(lotId, e.sessionId),
        part,
        p.currency,
        p.id,
        `paid online more than the stay cost at the exit (${e.charge?.amount ?? 0} ${p.currency})`,
        e.at,
      ],
    );
    excess -= part;
    refunded += part;
  }
  return refunded;
}
