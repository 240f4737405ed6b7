// @ts-check
// Cash payment of a drive-up visit: what is still to pay, and the dialog that records cash received.
import { $, fmtDateTime, fmtMoney, parseAmount } from './dom.js';
import { formError, logFailure, message } from './notices.js';

/** @import { Money, SessionView } from '../types.js' */
/** @import { ConsoleState, Ctx } from './state.js' */

/**
 * What leaving now would cost, before cash already paid.
 * @param {SessionView} session
 * @returns {Money | null}
 */
export function dueOf(session) {
  return session.dueNow ?? null;
}

/**
 * What is still to pay: the fee if the vehicle left now, less cash already taken.
 * @param {SessionView} session
 * @returns {Money | null}
 */
export function outstandingOf(session) {
  const due = dueOf(session);
  if (!due) return null;
  const paid = typeof session.cashPaid === 'number' ? session.cashPaid : 0;
  return { amount: Math.max(0, due.amount - paid), currency: due.currency };
}

/**
 * The currency of amounts the server sends without one (cash paid): the lot's, from its rate card,
 * as the server names it at log-in, in /api/me and in the stream's `hello`.
 * @param {ConsoleState} state
 * @returns {string | undefined} undefined until the server has named it (money then shows without one)
 */
export function lotCurrency(state) {
  return state.lot?.currency;
}

/**
 * Take cash for this visit; `onPaid` runs once the payment is recorded.
 * @param {Ctx} ctx
 * @param {SessionView} session
 * @param {() => void} onPaid
 */
export function openCashDialog(ctx, session, onPaid) {
  ctx.state.cashTarget = { session, onPaid };
  const outstanding = outstandingOf(session);
  $('cash-what').textContent = `Drive-up ${session.plate ?? ''} — entered ${fmtDateTime(session.enteredAt)}${
    outstanding ? ` — to pay now ${fmtMoney(outstanding)}` : ''
  }`;
  const amount = $('cash-amount', HTMLInputElement);
  amount.value = outstanding?.amount ? (outstanding.amount / 100).toFixed(2) : '';
  formError('cash-error', null);
  $('cash-dialog', HTMLDialogElement).showModal();
  amount.focus();
}

/** @param {Ctx} ctx */
export function wireCash(ctx) {
  $('cash-form').addEventListener('submit', (e) => {
    e.preventDefault();
    submitCash(ctx).catch(logFailure('cash payment'));
  });
}

/** @param {Ctx} ctx */
async function submitCash(ctx) {
  const amount = parseAmount($('cash-amount', HTMLInputElement).value);
  if (amount === null || amount <= 0) {
    formError('cash-error', 'Enter the amount received, e.g. 12.50');
    $('cash-amount').focus();
    return;
  }
  const target = ctx.state.cashTarget;
  if (!target) return;
  const currency = dueOf(target.session)?.currency ?? lotCurrency(ctx.state) ?? '';
  try {
    const r = await ctx.api.cashPayment(target.session.id, amount);
    $('cash-dialog', HTMLDialogElement).close();
    ctx.toast(`Cash payment of ${fmtMoney(r?.paid ?? { amount, currency })} recorded`);
    target.onPaid();
  } catch (err) {
    formError('cash-error', message(err));
  }
}
