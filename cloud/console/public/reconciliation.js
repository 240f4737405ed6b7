// @ts-check
// A lot's reconciliation for the last 7 days (docs/money.md): per day, fees due against what was
// captured, refunded, owed and written off, and the difference — money nobody accounts for.
import { api, ApiError } from './api.js';
import { fmtMoney, h, render } from './dom.js';

const DAY = 86_400_000;
const COLUMNS = /** @type {const} */ ([
  ['due', 'due'],
  ['captured', 'captured'],
  ['refunded', 'refunded'],
  ['owed', 'owed'],
  ['writtenOff', 'written off'],
  ['difference', 'difference'],
]);

/**
 * @param {HTMLElement} el
 * @param {string} lotId
 */
export async function showReconciliation(el, lotId) {
  const to = new Date().toISOString().slice(0, 10);
  const from = new Date(Date.now() - 6 * DAY).toISOString().slice(0, 10);
  const path = `/v1/lots/${encodeURIComponent(lotId)}/reconciliation?${new URLSearchParams({ from, to })}`;
  /** @type {any} */
  let report;
  try {
    report = await api('GET', path);
  } catch (e) {
    // Attendants see the dashboard but not the money.
    if (e instanceof ApiError && (e.status === 403 || e.status === 404)) return;
    throw e;
  }
  const money = (/** @type {number} */ v) => fmtMoney(v, report.currency);
  const row = (/** @type {string} */ label, /** @type {any} */ d) =>
    h(
      'tr',
      { class: d.difference === 0 ? null : 'attention' },
      h('td', null, label),
      ...COLUMNS.map(([key]) => h('td', null, money(d[key]))),
    );
  render(
    el,
    h(
      'section',
      { class: 'card', 'data-testid': 'reconciliation' },
      h('h2', null, 'Reconciliation — last 7 days ', h('a', { href: `${path}&format=csv` }, 'CSV')),
      h(
        'table',
        null,
        h(
          'thead',
          null,
          h('tr', null, h('th', null, 'day'), ...COLUMNS.map(([, label]) => h('th', null, label))),
        ),
        h(
          'tbody',
          null,
          ...report.days.map((/** @type {any} */ d) => row(d.day, d)),
          row('total', report.totals),
        ),
      ),
    ),
  );
}
