// @ts-check
// The Look-up tab: find a plate's or a reservation's bookings and visits, then act on them (reset a
// passback, take cash for a drive-up).
import { ApiError } from './api.js';
import { lotCurrency, openCashDialog, outstandingOf } from './cash.js';
import { askReason } from './dialogs.js';
import { $, fmtDateTime, fmtMoney, h, render } from './dom.js';
import { formError, logFailure, message } from './notices.js';

/** @import { LookupReply, ReservationView, SessionView } from '../types.js' */
/** @import { Ctx } from './state.js' */

/** @param {Ctx} ctx */
export function wireLookup(ctx) {
  const form = $('lookup-form', HTMLFormElement);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = $('lookup-q', HTMLInputElement).value.trim();
    const by = String(new FormData(form).get('by'));
    if (!q) return formError('lookup-error', 'Enter a plate or a reservation code.');
    runLookup(ctx, by, q).catch(logFailure('look-up'));
  });
}

/**
 * @param {Ctx} ctx
 * @param {string} by 'plate' | 'reservation'
 * @param {string} q
 */
async function runLookup(ctx, by, q) {
  formError('lookup-error', null);
  ctx.state.lastLookup = { by, q };
  try {
    const r = by === 'reservation' ? await ctx.api.lookupReservation(q) : await ctx.api.lookupPlate(q);
    renderLookup(ctx, r, by, q);
  } catch (err) {
    render($('lookup-result'));
    formError(
      'lookup-error',
      err instanceof ApiError && err.status === 404 ? `Nothing found for “${q}”.` : message(err),
    );
  }
}

/**
 * Show the last look-up again, after an action changed what it found.
 * @param {Ctx} ctx
 */
function rerunLookup(ctx) {
  const last = ctx.state.lastLookup;
  if (last) runLookup(ctx, last.by, last.q).catch(logFailure('look-up'));
}

/**
 * @param {Ctx} ctx
 * @param {LookupReply} r
 * @param {string} by
 * @param {string} q
 */
function renderLookup(ctx, r, by, q) {
  const root = $('lookup-result');
  if (r.reservations.length === 0 && r.sessions.length === 0) {
    const what = by === 'plate' ? 'plate' : 'reservation';
    render(root, h('p', { class: 'empty-note' }, `Nothing found for ${what} “${q}”.`));
    return;
  }
  render(
    root,
    r.reservations.length
      ? resultBlock(
          'Reservations',
          ['Code', 'Plate', 'Spot', 'From', 'To', 'Status', 'Passback', ''],
          r.reservations.map((res) => reservationRow(ctx, res, r.passback[res.id] ?? null)),
        )
      : null,
    r.sessions.length
      ? resultBlock(
          'Visits',
          ['Plate', 'Kind', 'Entered', 'Left', 'Spot', 'Cash paid', 'To pay now', ''],
          r.sessions.map((s) => sessionRow(ctx, s)),
        )
      : null,
  );
}

/**
 * @param {string} title
 * @param {string[]} headings
 * @param {HTMLTableRowElement[]} rows
 */
function resultBlock(title, headings, rows) {
  return h(
    'div',
    { class: 'result-block' },
    h('h3', {}, title),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            headings.map((t) => h('th', {}, t)),
          ),
        ),
        h('tbody', {}, rows),
      ),
    ),
  );
}

/**
 * @param {Ctx} ctx
 * @param {ReservationView} res
 * @param {string | null} passback 'in' | 'out' | 'neutral', or null when never used
 */
function reservationRow(ctx, res, passback) {
  return h(
    'tr',
    {},
    h('td', {}, res.id),
    h('td', {}, h('span', { class: 'plate' }, res.plate)),
    h('td', {}, res.spotLabel ?? res.spotId ?? '—'),
    h('td', {}, fmtDateTime(res.start)),
    h('td', {}, fmtDateTime(res.end)),
    h('td', {}, res.status),
    h('td', {}, passback ?? '—'),
    h(
      'td',
      {},
      h(
        'button',
        {
          type: 'button',
          class: 'btn btn-small',
          disabled: passback === 'neutral' ? true : undefined,
          onclick: () => askPassbackReset(ctx, res),
        },
        'Reset passback…',
      ),
    ),
  );
}

/**
 * @param {Ctx} ctx
 * @param {SessionView} s
 */
function sessionRow(ctx, s) {
  const inside = s.exitedAt === null || s.exitedAt === undefined;
  const outstanding = outstandingOf(s);
  // Cash is taken in the currency of what is due; the lot's currency covers a visit with nothing due.
  const currency = s.dueNow?.currency ?? lotCurrency(ctx.state);
  const cashPaid = currency ? fmtMoney({ amount: s.cashPaid, currency }) : String(s.cashPaid);
  const canPay = inside && s.kind !== 'booking' && (outstanding?.amount ?? 0) > 0;
  return h(
    'tr',
    {},
    h('td', {}, s.plate ? h('span', { class: 'plate' }, s.plate) : '—'),
    h('td', {}, s.kind),
    h('td', {}, fmtDateTime(s.enteredAt)),
    h('td', {}, inside ? h('strong', {}, 'inside') : fmtDateTime(s.exitedAt)),
    h('td', {}, s.spotLabel ?? '—'),
    h('td', {}, cashPaid),
    h('td', {}, outstanding ? fmtMoney(outstanding) : '—'),
    h(
      'td',
      {},
      canPay
        ? h(
            'button',
            {
              type: 'button',
              class: 'btn btn-small btn-primary',
              onclick: () => openCashDialog(ctx, s, () => rerunLookup(ctx)),
            },
            'Cash payment…',
          )
        : null,
    ),
  );
}

/**
 * @param {Ctx} ctx
 * @param {ReservationView} reservation
 */
function askPassbackReset(ctx, reservation) {
  askReason(ctx, {
    title: 'Reset passback',
    what: `Reservation ${reservation.id} (${reservation.plate}) will be accepted at the next entry or exit as if neutral.`,
    submit: 'Reset passback',
    run: async (reason) => {
      await ctx.api.resetPassback(reservation.id, reason);
      ctx.toast(`Passback reset for ${reservation.id}`);
      rerunLookup(ctx);
    },
  });
}
