import { ok, type Result } from '../../../protocol/result.js';
import { toIso } from '../../../protocol/slots.js';
import { openFailedOverstayDebt } from '../../debts/open.js';
import { countRevenue } from '../../metrics.js';
import type { ReservationContext } from './context.js';

/**
 * Payment settlement: payments are recorded pending in the state transaction (transitions.ts),
 * then settled here with the provider, outside any transaction — so a crash never charges twice:
 * the sweeper retries a pending payment with the same idempotency key.
 */

interface PendingPayment {
  id: string;
  kind: 'capture' | 'overstay' | 'refund';
  amount: number;
  currency: string;
  status: string;
  reservation_id: string | null;
  reference: string | null;
  payment_ref: string | null;
  stored_method_ref: string | null;
}

type ProviderAnswer = Result<{ ref: string }, { message: string }>;

export interface PaymentSettlement {
  /** Settle one pending payment with the provider. */
  settle(paymentId: string): Promise<'succeeded' | 'failed' | 'skipped'>;
  /** Retry provider calls for payments left pending (e.g. by a crash). */
  settlePending(nowMs: number): Promise<number>;
}

/** How long a payment stays pending before the sweeper takes it over from its own request. */
const PENDING_GRACE_MS = 60_000;

export function createPaymentSettlement(
  ctx: Pick<ReservationContext, 'db' | 'clock' | 'log' | 'metrics' | 'payments'>,
): PaymentSettlement {
  const { db, clock, log, metrics, payments } = ctx;

  /** The provider's answer for an overstay charge or a refund; null for kinds settled elsewhere. */
  async function callProvider(p: PendingPayment): Promise<ProviderAnswer | null> {
    const amount = { amount: p.amount, currency: p.currency };
    if (p.kind === 'overstay') {
      if (!p.stored_method_ref) return { ok: false, error: { message: 'no stored payment method' } };
      const r = await payments.chargeStoredMethod({
        storedMethodRef: p.stored_method_ref,
        amount,
        idempotencyKey: p.id,
        description: `overstay ${p.reservation_id ?? p.reference}`,
      });
      return r.ok ? ok({ ref: r.value.chargeRef }) : r;
    }
    if (p.kind === 'refund') {
      if (!p.payment_ref) return { ok: false, error: { message: 'nothing was captured' } };
      const r = await payments.refund({ paymentRef: p.payment_ref, amount, idempotencyKey: p.id });
      return r.ok ? ok({ ref: r.value.refundRef }) : r;
    }
    return null;
  }

  async function settle(paymentId: string): Promise<'succeeded' | 'failed' | 'skipped'> {
    const rows = await db.rows<PendingPayment>(
      // A refund names the payment it refunds (refund_of), else the booking's capture.
      `select p.id, p.kind, p.amount, p.currency, p.status, p.reservation_id, p.reference,
              coalesce(o.provider_ref, r.payment_ref) as payment_ref, r.stored_method_ref
       from payments p left join reservations r on r.id = p.reservation_id
       left join payments o on o.id = p.refund_of
       where p.id = $1 and p.method = 'provider'`,
      [paymentId],
    );
    const p = rows[0];
    if (p === undefined || p.status !== 'pending') return 'skipped';
    let result: ProviderAnswer | null;
    try {
      result = await callProvider(p);
    } catch (e) {
      // Provider unreachable: stays pending, the sweeper retries with the same idempotency key.
      metrics.payments.inc({ kind: p.kind, outcome: 'error' });
      log.warn({ err: e, paymentId }, 'payment provider call failed; will retry');
      return 'skipped';
    }
    if (result === null) return 'skipped';
    const status = result.ok ? 'succeeded' : 'failed';
    // Only a row still pending: the provider's webhook may have settled it meanwhile. An overstay the
    // provider refused is owed: its debt on the plate (cloud/debts/) opens in the same transaction.
    await db.tx(async (q) => {
      await q.query(
        `update payments set status = $2, provider_ref = $3, updated_at = $5,
                detail = case when $4::text is null then detail else coalesce(detail || ' — failed: ', '') || $4 end
         where id = $1 and status = 'pending'`,
        [
          p.id,
          status,
          result.ok ? result.value.ref : null,
          result.ok ? null : result.error.message,
          toIso(clock.now()),
        ],
      );
      if (status === 'failed' && p.kind === 'overstay') await openFailedOverstayDebt(q, p.id, clock.now());
    });
    metrics.payments.inc({ kind: p.kind, outcome: status });
    if (status === 'succeeded') countRevenue(metrics, p.kind, p);
    return status;
  }

  return {
    settle,
    async settlePending(nowMs) {
      const rows = await db.rows<{ id: string }>(
        `select id from payments where status = 'pending' and created_at <= $1 order by created_at limit 100`,
        [toIso(nowMs - PENDING_GRACE_MS)],
      );
      let settled = 0;
      for (const { id } of rows) if ((await settle(id)) !== 'skipped') settled++;
      return settled;
    },
  };
}
