import { formatMoney } from '../../protocol/money.js';
import { normalizePlate } from '../../protocol/plates.js';
import type { Queryable } from '../db/database.js';
import { HttpError } from '../errors.js';
import { openDebtTotal } from './store.js';

/**
 * A plate with open debt cannot book until it is settled: 409 `debt_outstanding` with the amount and
 * the pay page of its oldest debt. The reserve statement itself refuses such a plate (migration 018;
 * the demand-priced hold's first statement likewise); this builds the answer then (drive-up overflow at a gate is not a
 * booking and is not refused: the lane applies the lot's debt policy).
 */
export async function refuseIfOwing(q: Queryable, rawPlate: string, publicUrl: string): Promise<void> {
  const plate = normalizePlate(rawPlate);
  if (plate === null) return;
  const owed = await openDebtTotal(q, plate);
  if (owed === null) return;
  const payUrl = `${publicUrl}/pay/debt/${owed.oldestId}`;
  throw new HttpError({
    status: 409,
    error: 'debt_outstanding',
    message: `plate ${plate} owes ${formatMoney(owed.total)} in ${owed.count} unpaid parking fee(s): pay at ${payUrl}`,
    owed: owed.total,
    payUrl,
  });
}
