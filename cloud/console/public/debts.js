// @ts-check
// Debts: every uncollected fee owned by a plate (unpaid exits, failed overstay charges) with its
// evidence; staff settle one as cash taken or write it off, each with a reason (audited).
import { api } from './api.js';
import { fmtMoney, fmtTime, h, render } from './dom.js';

const STATUSES = ['open', 'paid', 'written_off', ''];

/** @param {HTMLElement} view */
export async function showDebts(view) {
  const rows = h('tbody');
  const total = h('p', { id: 'debts-total' });
  const form = h(
    'form',
    { class: 'inline', id: 'debt-search', role: 'search' },
    h('label', null, 'Plate', h('input', { name: 'plate', maxlength: 24 })),
    h(
      'label',
      null,
      'Status',
      h(
        'select',
        { name: 'status' },
        STATUSES.map((s) => h('option', { value: s }, s ? s.replace('_', ' ') : 'any')),
      ),
    ),
    h('button', { type: 'submit' }, 'Search'),
  );
  const load = async () => {
    const q = new URLSearchParams({ limit: '200' });
    for (const [k, v] of new FormData(form)) if (String(v).trim()) q.set(k, String(v).trim());
    const { debts, total: owed } = await api('GET', `/v1/debts?${q}`);
    render(total, owed ? `Open in this list: ${fmtMoney(owed.amount, owed.currency)}` : '');
    render(
      rows,
      debts.length === 0
        ? h('tr', null, h('td', { colspan: 8 }, 'No debts found.'))
        : debts.map((/** @type {any} */ d) => debtRow(d, load)),
    );
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    load().catch((e) => render(total, `Could not load: ${e.message}`));
  });
  render(
    view,
    h('h1', null, 'Debts'),
    form,
    total,
    h(
      'table',
      { class: 'data' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Plate', 'Lot', 'Source', 'Amount', 'In / out', 'Status', 'Settled', ''].map((t) =>
            h('th', null, t),
          ),
        ),
      ),
      rows,
    ),
  );
  await load();
}

/**
 * @param {any} d
 * @param {() => Promise<void>} reload
 */
function debtRow(d, reload) {
  /** @param {'cash' | 'write_off'} method */
  const settle = async (method) => {
    const reason = window.prompt(
      method === 'cash' ? 'Cash taken — note (who paid, where):' : 'Write off — reason:',
    );
    if (!reason) return;
    try {
      await api('POST', `/v1/debts/${encodeURIComponent(d.id)}/settle`, { method, reason });
      await reload();
    } catch (e) {
      window.alert(e instanceof Error ? e.message : String(e));
    }
  };
  const times = [d.enteredAt ? fmtTime(d.enteredAt) : '?', d.exitedAt ? fmtTime(d.exitedAt) : '?'].join(
    ' – ',
  );
  return h(
    'tr',
    { dataset: { id: d.id } },
    h('td', null, d.plate),
    h('td', null, d.lotId),
    h('td', null, String(d.source).replaceAll('_', ' ')),
    h('td', null, fmtMoney(d.amount.amount, d.amount.currency)),
    h('td', null, times),
    h('td', null, String(d.status).replace('_', ' ')),
    h('td', null, d.settledAt ? `${fmtTime(d.settledAt)} by ${d.settledBy}: ${d.settledReason ?? ''}` : ''),
    h(
      'td',
      null,
      d.status === 'open'
        ? [
            h('button', { type: 'button', onclick: () => settle('cash') }, 'Cash taken'),
            ' ',
            h('button', { type: 'button', onclick: () => settle('write_off') }, 'Write off'),
          ]
        : '',
    ),
  );
}
