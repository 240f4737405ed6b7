// @ts-check
// The "Unable to collect" tab: fees owed by vehicles let out while a payment could not be taken,
// for a range of local days, on screen and as a CSV download.
import { $, fmtDateTime, fmtMoney, h, isoDay, render } from './dom.js';
import { laneName } from './lane-model.js';
import { formError, logFailure, message } from './notices.js';

/** @import { UnableToCollectView } from '../types.js' */
/** @import { Ctx } from './state.js' */

const DAY_MS = 86_400_000;

/**
 * Default range: the last seven days, today included (kept if the attendant chose one already).
 * @param {Ctx} ctx
 */
export function initReportRange(ctx) {
  const today = new Date(ctx.now());
  const weekAgo = new Date(today.getTime() - 6 * DAY_MS);
  const from = $('report-from', HTMLInputElement);
  const to = $('report-to', HTMLInputElement);
  if (!from.value) from.value = isoDay(weekAgo);
  if (!to.value) to.value = isoDay(today);
  updateCsvLink(ctx);
}

/** @param {Ctx} ctx */
export function wireReport(ctx) {
  $('report-from').addEventListener('change', () => updateCsvLink(ctx));
  $('report-to').addEventListener('change', () => updateCsvLink(ctx));
  $('report-form').addEventListener('submit', (event) => {
    event.preventDefault();
    loadReport(ctx).catch(logFailure('report'));
  });
}

/** @param {Ctx} ctx */
export async function loadReport(ctx) {
  const range = reportRange();
  if (!range) return formError('report-error', 'Choose a valid date range.');
  formError('report-error', null);
  updateCsvLink(ctx);
  try {
    const rows = (await ctx.api.unableToCollect(range.from, range.to)).records;
    const root = $('report');
    if (rows.length === 0) {
      render(root, h('p', { class: 'empty-note' }, 'Nothing owed in this period.'));
      return;
    }
    render(root, reportTable(ctx, rows));
  } catch (err) {
    formError('report-error', message(err));
  }
}

/** Local days → an instant range [from 00:00, day after `to` 00:00); null when not a valid range. */
function reportRange() {
  const from = $('report-from', HTMLInputElement).value;
  const to = $('report-to', HTMLInputElement).value;
  if (!from || !to) return null;
  const start = new Date(`${from}T00:00:00`);
  const end = new Date(`${to}T00:00:00`);
  end.setDate(end.getDate() + 1);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) return null;
  return { from: start.toISOString(), to: end.toISOString() };
}

/** @param {Ctx} ctx */
function updateCsvLink(ctx) {
  const range = reportRange();
  const link = $('report-csv', HTMLAnchorElement);
  if (!range) {
    link.removeAttribute('href');
    link.setAttribute('aria-disabled', 'true');
    return;
  }
  link.removeAttribute('aria-disabled');
  link.href = ctx.api.unableToCollectCsvUrl(range.from, range.to);
  link.download = `unable-to-collect-${$('report-from', HTMLInputElement).value}-to-${$('report-to', HTMLInputElement).value}.csv`;
}

/**
 * @param {Ctx} ctx
 * @param {UnableToCollectView[]} rows
 */
function reportTable(ctx, rows) {
  /** @type {Map<string, number>} */
  const totals = new Map();
  for (const row of rows) {
    const c = row.amount.currency;
    totals.set(c, (totals.get(c) ?? 0) + (row.amount?.amount ?? 0));
  }
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
          ['When', 'Plate', 'Reservation', 'Lane', 'Amount owed'].map((t, i) =>
            h('th', { class: i === 4 ? 'num' : '' }, t),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((row) => reportRow(ctx, row)),
        [...totals].map(([currency, amount]) =>
          h(
            'tr',
            { class: 'total-row' },
            h('td', { colspan: '4' }, `Total (${rows.length})`),
            h('td', { class: 'num' }, fmtMoney({ amount, currency })),
          ),
        ),
      ),
    ),
  );
}

/**
 * @param {Ctx} ctx
 * @param {UnableToCollectView} row
 */
function reportRow(ctx, row) {
  const lane = row.laneId ? laneName(ctx.state.lanes.get(row.laneId) ?? { id: row.laneId }) : '—';
  return h(
    'tr',
    {},
    h('td', {}, fmtDateTime(row.at)),
    h('td', {}, row.plate ? h('span', { class: 'plate' }, row.plate) : '—'),
    h('td', {}, row.reservationId ?? '—'),
    h('td', {}, lane),
    h('td', { class: 'num' }, fmtMoney(row.amount)),
  );
}
