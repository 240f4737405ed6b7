import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { PaymentView } from '../../protocol/payments.js';
import type { Random } from '../../protocol/random.js';
import { ok, type Result } from '../../protocol/result.js';
import { toIso } from '../../protocol/slots.js';
import type { Database, Queryable } from '../db/database.js';
import { type Refusal, refuse } from '../errors.js';

/**
 * One payment as an operator or its driver sees it (what was captured, refunded, still
 * refundable), and an operator's refund of part or all of it: checked against what was captured
 * minus earlier refunds under the payment's row lock, recorded pending with who and why, then
 * settled with the provider (its idempotency key is the refund's id; the sweeper retries a call
 * that did not get through).
 */

interface PaymentRow {
  id: string;
  kind: PaymentView['kind'];
  status: PaymentView['status'];
  method: PaymentView['method'];
  lot_id: string | null;
  reservation_id: string | null;
  reference: string | null;
  amount: string | number;
  currency: string;
  reason: string | null;
  actor: string | null;
  created_at: Date;
  /** The booking's driver, when it pays a booking. */
  user_id?: string | null;
}

const COLS = `p.id, p.kind, p.status, p.method, p.lot_id, p.reservation_id, p.reference, p.amount, p.currency,
              p.reason, p.actor, p.created_at`;

/** Refunds of a payment: those naming it, and (for a booking's capture) the booking's older ones. */
const REFUNDS_SQL = `select ${COLS} from payments p
  where p.kind = 'refund' and (p.refund_of = $1
    or (p.refund_of is null and p.reservation_id is not null and p.reservation_id = $2 and $3 = 'capture'))
  order by p.created_at, p.id`;

const money = (amount: number, currency: string) => ({ amount, currency });

async function loadPayment(q: Queryable, id: string, lock: boolean): Promise<PaymentRow | null> {
  const r = await q.query<PaymentRow>(
    `select ${COLS}, r.user_id from payments p left join reservations r on r.id = p.reservation_id
     where p.id = $1${lock ? ' for update of p' : ''}`,
    [id],
  );
  return r.rows[0] ?? null;
}

async function view(q: Queryable, p: PaymentRow): Promise<PaymentView> {
  const refunds =
    p.kind === 'refund'
      ? []
      : (await q.query<PaymentRow>(REFUNDS_SQL, [p.id, p.reservation_id, p.kind])).rows;
  const sum = (rows: PaymentRow[]) => rows.reduce((s, r) => s + Number(r.amount), 0);
  const captured = p.status === 'succeeded' && p.kind !== 'refund' ? Number(p.amount) : 0;
  const refunded = sum(refunds.filter((r) => r.status === 'succeeded'));
  const committed = sum(refunds.filter((r) => r.status !== 'failed'));
  return {
    id: p.id,
    kind: p.kind,
    status: p.status,
    method: p.method,
    lotId: p.lot_id,
    reservationId: p.reservation_id,
    reference: p.reference,
    amount: money(Number(p.amount), p.currency),
    refunded: money(refunded, p.currency),
    refundable: money(Math.max(0, captured - committed), p.currency),
    refunds: refunds.map((r) => ({
      id: r.id,
      amount: money(Number(r.amount), r.currency),
      status: r.status,
      reason: r.reason,
      actor: r.actor,
      createdAt: r.created_at.toISOString(),
    })),
    createdAt: p.created_at.toISOString(),
  };
}

export interface PaymentAccess {
  lotId: string | null;
  driverId: string | null;
}

export interface Refunds {
  /** The payment and who may see it (its lot's staff, the booking's driver). */
  get(id: string): Promise<{ payment: PaymentView; access: PaymentAccess } | null>;
  refund(input: {
    paymentId: string;
    amount: number;
    currency?: string | undefined;
    reason: string;
    actor: string;
  }): Promise<Result<{ refundId: string; payment: PaymentView }, Refusal>>;
}

export function createRefunds(deps: {
  db: Database;
  clock: Clock;
  random: Random;
  log: Logger;
  settle(paymentId: string): Promise<'succeeded' | 'failed' | 'skipped'>;
}): Refunds {
  const { db, clock, random, log } = deps;
  const notFound = (id: string) => refuse(404, 'payment_not_found', `payment ${id} not found`);
  return {
    async get(id) {
      const p = await loadPayment(db.pooled, id, false);
      if (p === null) return null;
      return { payment: await view(db.pooled, p), access: { lotId: p.lot_id, driverId: p.user_id ?? null } };
    },
    async refund(input) {
      const refundId = `pay_${random.id(16)}`;
      const recorded = await db.tx(async (q): Promise<Result<PaymentRow, Refusal>> => {
        const p = await loadPayment(q, input.paymentId, true);
        if (p === null) return notFound(input.paymentId);
        if (p.kind === 'refund') return refuse(409, 'not_refundable', 'a refund cannot be refunded');
        if (p.method !== 'provider')
          return refuse(409, 'not_refundable', 'a cash payment is refunded in cash at the lot');
        if (p.status !== 'succeeded') return refuse(409, 'not_refundable', `the payment is ${p.status}`);
        if (input.currency !== undefined && input.currency !== p.currency)
          return refuse(400, 'validation_failed', `the payment is in ${p.currency}`, {
            field: 'body.currency',
          });
        const left = (await view(q, p)).refundable.amount;
        if (input.amount > left)
          return refuse(409, 'over_refund', `at most ${left} (minor units) can still be refunded`, {
            field: 'body.amount',
          });
        const now = toIso(clock.now());
        await q.query(
          `insert into payments (id, reservation_id, lot_id, reference, kind, amount, currency, status, refund_of,
                                 reason, actor, detail, created_at, updated_at)
           values ($1, $2, $3, $4, 'refund', $5, $6, 'pending', $7, $8, $9, 'refund by ' || $9 || ': ' || $8, $10, $10)`,
          [
            refundId,
            p.reservation_id,
            p.lot_id,
            p.reference,
            input.amount,
            p.currency,
            p.id,
            input.reason,
            input.actor,
            now,
          ],
        );
        return ok(p);
      });
      if (!recorded.ok) return recorded;
      log.info(
        {
          paymentId: input.paymentId,
          refundId,
          amount: input.amount,
          actor: input.actor,
          reason: input.reason,
        },
        'refund requested',
      );
      const outcome = await deps.settle(refundId);
      if (outcome === 'failed') {
        const [row] = await db.rows<{ detail: string | null }>('select detail from payments where id = $1', [
          refundId,
        ]);
        return refuse(
          502,
          'refund_failed',
          `the provider refused the refund: ${row?.detail ?? 'unknown reason'}`,
        );
      }
      if (
        outcome === 'succeeded' &&
        recorded.value.reservation_id !== null &&
        recorded.value.kind === 'capture'
      ) {
        await db.rows(
          'update reservations set refund_amount = coalesce(refund_amount, 0) + $2 where id = $1',
          [recorded.value.reservation_id, input.amount],
        );
      }
      const p = await loadPayment(db.pooled, input.paymentId, false);
      return ok({ refundId, payment: await view(db.pooled, p!) });
    },
  };
}
