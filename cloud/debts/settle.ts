import type { SettleDebtBody } from '../../protocol/debts.js';
import type { Clock } from '../../protocol/clock.js';
import type { Random } from '../../protocol/random.js';
import { ok, type Result } from '../../protocol/result.js';
import { toIso } from '../../protocol/slots.js';
import type { Database } from '../db/database.js';
import { type Refusal, refuse } from '../errors.js';
import { newId } from '../ids.js';
import type { PaymentProvider } from '../payments/provider.js';
import { type DebtRow, debtById } from './store.js';

export interface DebtCheckout {
  reference: string;
  amount: { amount: number; currency: string };
  paymentUrl: string;
}

const notOpen = (d: DebtRow) => refuse(409, 'debt_not_open', `debt ${d.id} is ${d.status}`);

/** A checkout for exactly the open debt (`debt:<id>`); the amount is the debt's, never the caller's. */
export async function debtCheckout(
  payments: PaymentProvider,
  debt: DebtRow,
): Promise<Result<DebtCheckout, Refusal>> {
  if (debt.status !== 'open') return notOpen(debt);
  const reference = `debt:${debt.id}`;
  const amount = { amount: debt.amount, currency: debt.currency };
  try {
    const { paymentUrl } = await payments.createCheckout({
      reference,
      amount,
      description: `Unpaid parking at ${debt.lot_id} (${debt.plate})`,
    });
    return ok({ reference, amount, paymentUrl });
  } catch {
    return refuse(502, 'payment_unavailable', 'the payment provider is not reachable; try again');
  }
}

/**
 * Staff settle a debt without the provider: cash taken (a `debt` payment row, method `cash`) or a
 * write-off, each with the reason and who did it, in one transaction with the debt's new status.
 */
export async function settleByStaff(
  deps: { db: Database; clock: Clock; random: Random },
  input: { id: string; body: Exclude<SettleDebtBody, { method: 'provider' }>; actor: string },
): Promise<Result<DebtRow, Refusal>> {
  const { db, clock, random } = deps;
  const { id, body, actor } = input;
  return db.tx(async (q) => {
    const debt = await debtById(q, id, true);
    if (debt === null) return refuse(404, 'debt_not_found', `debt ${id} not found`);
    if (debt.status !== 'open') return notOpen(debt);
    const now = toIso(clock.now());
    if (body.method === 'cash') {
      const paymentId = newId(random);
      await q.query(
        `insert into payments (id, reservation_id, kind, amount, currency, status, created_at, updated_at,
                               lot_id, method, reference, reason, actor, debt_id)
         values ($1, null, 'debt', $2, $3, 'succeeded', $4, $4, $5, 'cash', $6, $7, $8, $9)`,
        [
          paymentId,
          debt.amount,
          debt.currency,
          now,
          debt.lot_id,
          `debt:${debt.id}`,
          body.reason,
          actor,
          debt.id,
        ],
      );
      // receipt: issueReceipt(q, paymentId, now) goes here
    }
    const r = await q.query<DebtRow>(
      `update debts set status = $2, settled_by = $3, settled_reason = $4, settled_at = $5 where id = $1 returning *`,
      [debt.id, body.method === 'cash' ? 'paid' : 'written_off', actor, body.reason, now],
    );
    return ok(r.rows[0]!);
  });
}
