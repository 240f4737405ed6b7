import { toIso } from '../../protocol/slots.js';
import type { Queryable } from '../db/database.js';

/**
 * Issue the receipt of a payment that is `succeeded` (a credit note for a refund), in the caller's
 * transaction: the operator's legal identity, the lot's VAT rate, net / VAT / gross and what was
 * paid for (docs/money.md); its gapless number comes just after commit (`numbering.ts`). Idempotent
 * per payment; a payment that is not succeeded (yet) gets nothing.
 *
 * A database trigger already calls the same SQL function at the commit of every transaction that
 * makes a payment succeeded, whoever writes it; calling this earlier in the transaction is harmless
 * (the trigger then finds the receipt).
 */
export async function issueReceipt(q: Queryable, paymentId: string, nowMs: number): Promise<void> {
  await q.query('select issue_receipt($1, $2::timestamptz)', [paymentId, toIso(nowMs)]);
}
