// @ts-check
// The Debts tab: plates with open debt (from the cloud, kept on the lot so it works offline), what
// the entry lanes do with them, and where drivers pay.
import { $, fmtMoney, h, render } from './dom.js';
import { message } from './notices.js';

/** @import { DebtsReply } from '../types.js' */
/** @import { Ctx } from './state.js' */

/** @param {Ctx} ctx */
export async function loadDebts(ctx) {
  const root = $('debts');
  try {
    render(root, debtsView(await ctx.api.debts()));
  } catch (err) {
    render(root, h('p', { class: 'form-error' }, message(err)));
  }
}

/**
 * The cloud sent a new money state: re-read the list if the attendant is looking at it.
 * @param {Ctx} ctx
 */
export function refreshDebtsIfShown(ctx) {
  if (!$('panel-debts').hidden) loadDebts(ctx);
}

/** @param {DebtsReply} r */
function debtsView(r) {
  const policy =
    r.debtPolicy === 'refuse'
      ? 'Entry lanes refuse a plate that owes until it is paid.'
      : 'Entry lanes admit a plate that owes and show what it owes.';
  const where = r.payUrl
    ? ['Drivers pay at ', h('a', { href: r.payUrl, target: '_blank' }, r.payUrl), '.']
    : '';
  if (r.debts.length === 0)
    return [h('p', {}, policy, ' ', where), h('p', { class: 'empty-note' }, 'No plate owes.')];
  return [
    h('p', {}, policy, ' ', where),
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
            ['Plate', 'Owes', 'Unpaid fees'].map((t) => h('th', {}, t)),
          ),
        ),
        h(
          'tbody',
          {},
          r.debts.map((d) =>
            h(
              'tr',
              {},
              h('td', {}, h('span', { class: 'plate' }, d.plate)),
              h('td', {}, fmtMoney(d.amount)),
              h('td', {}, String(d.count)),
            ),
          ),
        ),
      ),
    ),
  ];
}
