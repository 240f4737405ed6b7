import type { LotPolicy } from '../../protocol/domain.js';
import { formatMoney, type Money, money } from '../../protocol/money.js';
import type { OwedDebt } from '../store/money.js';
import type { Decision, ExitPlan } from './decision.js';
import { messages } from './messages.js';

/**
 * The lot's money state at the gate, as pure functions over the decision (docs/architecture.md,
 * "Money and pricing"): the entry lanes apply the lot's debt policy to a plate with open debt, and
 * the exit lanes count what the stay already paid online.
 */

/** What the lanes read of the money state (edge/store/money.ts). */
export interface MoneyView {
  debtOf(plate: string | null): OwedDebt | null;
  paidFor(sessionId: string): number;
  payUrl(): string | null;
}

/** The pay page for a plate at this lot, when the cloud has said where it is. */
export function payLink(view: Pick<MoneyView, 'payUrl'>, plate: string | null): string | null {
  const base = view.payUrl();
  if (base === null) return null;
  return plate === null ? base : `${base}?plate=${encodeURIComponent(plate)}`;
}

/**
 * An entry decision for a plate with open debt: `warn` admits and says "owes €X" on the display
 * (the attendant console shows the same), `refuse` keeps the arm down and says where to pay. Every
 * other decision, and plates without debt, pass unchanged.
 */
export function applyDebtPolicy(
  decision: Decision,
  view: Pick<MoneyView, 'debtOf' | 'payUrl'>,
  policy: Pick<LotPolicy, 'debtPolicy'>,
): Decision {
  if (decision.kind !== 'admit' && decision.kind !== 'overflow') return decision;
  const plate = decision.kind === 'admit' ? decision.plan.plate : decision.request.plate;
  const debt = view.debtOf(plate);
  if (debt === null) return decision;
  if ((policy.debtPolicy ?? 'warn') === 'warn') {
    return { ...decision, display: [...decision.display, ...messages.owes(debt.amount)] };
  }
  return {
    kind: 'refuse',
    reason: 'debt',
    display: messages.owesRefused(debt.amount, payLink(view, plate)),
    plate,
    reservationId: decision.kind === 'admit' ? decision.plan.reservationId : null,
    passbackViolation: false,
  };
}

/** The exit plan with what the stay already paid online taken off what is due. */
export function withOnlinePayments(
  plan: ExitPlan,
  paidOnline: number,
): ExitPlan & { paidOnline: Money | null } {
  const currency = plan.charge?.currency ?? plan.due?.currency ?? null;
  if (paidOnline <= 0 || currency === null) return { ...plan, paidOnline: null };
  const due = (plan.due?.amount ?? 0) - paidOnline;
  return { ...plan, due: due > 0 ? money(due, currency) : null, paidOnline: money(paidOnline, currency) };
}

/** What the exit display says while it waits for the fee to be paid by the QR. */
export function payAtExitDisplay(due: Money, link: string): string[] {
  return [`${formatMoney(due)} to pay`, 'Scan the QR code to pay, or see the attendant', link];
}
