import type { Clock } from '../../protocol/clock.js';
import type { Money } from '../../protocol/money.js';
import { normalizePlate } from '../../protocol/plates.js';
import type { Random } from '../../protocol/random.js';
import { ok, type Result } from '../../protocol/result.js';
import { toIso } from '../../protocol/slots.js';
import type { Database } from '../db/database.js';
import { type Refusal, refuse } from '../errors.js';
import { newId } from '../ids.js';
import type { PaymentProvider } from '../payments/provider.js';
import type { PaymentPurposes } from '../payments/purposes.js';
import type { LotRepository } from '../repositories/lots.js';
import { exitReference, quoteExit } from './quote.js';

export interface ExitPayDeps {
  db: Database;
  clock: Clock;
  random: Random;
  payments: PaymentProvider;
  purposes: PaymentPurposes;
  lots: Pick<LotRepository, 'get'>;
}

const noStay = (plate: string) =>
  refuse(404, 'stay_not_found', `no vehicle ${plate} is inside this car park`, { field: 'plate' });

/** The current exit fee of a plate's stay, from the lot's session data. */
export async function exitFee(deps: ExitPayDeps, lotId: string, rawPlate: string) {
  const lot = await deps.lots.get(lotId);
  if (lot === null) return refuse(404, 'lot_not_found', `lot ${lotId} not found`);
  const plate = normalizePlate(rawPlate) ?? rawPlate;
  const quote = await quoteExit(deps.db.pooled, lot, plate, deps.clock.now());
  return quote === null ? noStay(plate) : ok(quote);
}

/**
 * A checkout for what the stay owes now (`exit:<lotId>:<sessionId>`): the cloud computes the amount
 * and records it with the checkout, so the capture is checked against it. Paying it covers the stay
 * up to now; time after that is charged at the exit as usual.
 */
export async function openExitCheckout(
  deps: ExitPayDeps,
  lotId: string,
  rawPlate: string,
): Promise<Result<{ reference: string; amount: Money; coversUntil: string; paymentUrl: string }, Refusal>> {
  const quoted = await exitFee(deps, lotId, rawPlate);
  if (!quoted.ok) return quoted;
  const quote = quoted.value;
  if (quote.due.amount <= 0) return refuse(409, 'nothing_due', 'nothing is due for this stay now');
  const reference = exitReference(lotId, quote.sessionId);
  const now = deps.clock.now();
  await deps.db.rows(
    `insert into exit_checkouts (id, reference, lot_id, session_id, plate, reservation_id, amount, currency,
                                 covers_until, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
    [
      newId(deps.random),
      reference,
      lotId,
      quote.sessionId,
      quote.plate,
      quote.reservationId,
      quote.due.amount,
      quote.due.currency,
      toIso(now),
    ],
  );
  try {
    const { paymentUrl } = await deps.payments.createCheckout({
      reference,
      amount: quote.due,
      description: `Parking at ${lotId} (${quote.plate})`,
    });
    return ok({ reference, amount: quote.due, coversUntil: toIso(now), paymentUrl });
  } catch {
    return refuse(502, 'payment_unavailable', 'the payment provider is not reachable; pay at the exit');
  }
}

/** The amounts a reference may be captured for: what the cloud itself asked for, newest first. */
async function amountsOwed(deps: ExitPayDeps, reference: string): Promise<Money[]> {
  if (reference.startsWith('debt:')) {
    const rows = await deps.db.rows<{ amount: number; currency: string }>(
      'select amount, currency from debts where id = $1',
      [reference.slice(5)],
    );
    return rows.map((r) => ({ amount: r.amount, currency: r.currency }));
  }
  const rows = await deps.db.rows<{ amount: number; currency: string }>(
    `select amount, currency from exit_checkouts where reference = $1
      group by amount, currency order by max(created_at) desc limit 10`,
    [reference],
  );
  return rows.map((r) => ({ amount: r.amount, currency: r.currency }));
}

/**
 * The return from a checkout: the provider verifies the token for this reference and an amount the
 * cloud asked for (a token for any other amount is refused), then the purpose applies the capture.
 */
export async function completeCheckout(
  deps: ExitPayDeps,
  input: { reference: string; paymentToken: string },
): Promise<Result<{ reference: string; outcome: 'applied' | 'duplicate'; amount: Money }, Refusal>> {
  const { reference, paymentToken } = input;
  const owed = await amountsOwed(deps, reference);
  if (owed.length === 0)
    return refuse(404, 'checkout_not_found', 'nothing is being paid under this reference');
  let message = 'payment token is not valid';
  for (const amount of owed) {
    let verified: Awaited<ReturnType<PaymentProvider['verifyToken']>>;
    try {
      verified = await deps.payments.verifyToken({ token: paymentToken, reference, amount });
    } catch {
      return refuse(502, 'payment_unavailable', 'the payment provider is not reachable; try again');
    }
    if (!verified.ok) {
      message = verified.error.message;
      if (verified.error.reason === 'amount_mismatch') continue;
      break;
    }
    const outcome = await deps.purposes.dispatch({
      reference,
      amount,
      paymentRef: verified.value.paymentRef,
      storedMethodRef: verified.value.storedMethodRef,
      eventId: verified.value.paymentRef,
    });
    if (outcome === 'unknown')
      return refuse(404, 'checkout_not_found', 'nothing is being paid under this reference');
    // No event passed: never `recorded`.
    return ok({ reference, outcome: outcome === 'duplicate' ? 'duplicate' : 'applied', amount });
  }
  return refuse(402, 'payment_invalid', message);
}
