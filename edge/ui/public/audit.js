// @ts-check
// The Audit tab: the attendant actions recorded on this lot, newest first.
import { $, fmtDateTime, h, render } from './dom.js';
import { message } from './notices.js';

/** @import { AuditView } from '../types.js' */
/** @import { Ctx } from './state.js' */

/** @param {Ctx} ctx */
export async function loadAudit(ctx) {
  const root = $('audit');
  try {
    const rows = (await ctx.api.audit()).entries;
    if (rows.length === 0) {
      render(root, h('p', { class: 'empty-note' }, 'No attendant actions recorded yet.'));
      return;
    }
    render(root, auditTable(rows));
  } catch (err) {
    render(root, h('p', { class: 'form-error' }, message(err)));
  }
}

/**
 * A new entry was recorded: re-read the table if the attendant is looking at it.
 * @param {Ctx} ctx
 */
export function refreshAuditIfShown(ctx) {
  if (!$('panel-audit').hidden) loadAudit(ctx);
}

/** @param {AuditView[]} rows */
function auditTable(rows) {
  return h(
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
          ['When', 'Attendant', 'Action', 'Target', 'Reason'].map((t) => h('th', {}, t)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((a) =>
          h(
            'tr',
            { dataset: { action: a.action } },
            h('td', {}, fmtDateTime(a.at)),
            h('td', {}, a.attendant),
            h('td', {}, String(a.action).replaceAll('_', ' ')),
            h('td', {}, a.target ?? '—'),
            h('td', {}, a.reason ?? '—'),
          ),
        ),
      ),
    ),
  );
}
