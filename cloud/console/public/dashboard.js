// @ts-check
// A lot's dashboard: occupancy now and over the last day and week (per pool), arrivals and
// departures per hour, revenue per day, no-shows, overstay, unable-to-collect — from the reports
// API — and the operator commands (open a lane, reset passback).
import { api } from './api.js';
import { lineChart } from './charts.js';
import { showCommands } from './commands.js';
import { fmtMoney, h, render } from './dom.js';
import { showReconciliation } from './reconciliation.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const POOLS = /** @type {const} */ (['bookable', 'driveup', 'unknown']);

/**
 * @param {string} lotId
 * @param {string} kind
 * @param {number} from
 * @param {number} to
 * @param {'hour' | 'day'} bucket
 */
function report(lotId, kind, from, to, bucket) {
  const q = new URLSearchParams({
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    bucket,
  });
  return api('GET', `/v1/lots/${encodeURIComponent(lotId)}/reports/${kind}?${q}`);
}

/** @param {any[]} buckets */
const times = (buckets) => buckets.map((b) => Date.parse(b.start));

/**
 * @param {HTMLElement} view
 * @param {string} lotId
 */
export async function showDashboard(view, lotId) {
  const now = Date.now();
  const hourEnd = Math.ceil(now / HOUR) * HOUR;
  const [day, week, usage, revenue, noShows, fleet, mine] = await Promise.all([
    report(lotId, 'occupancy', hourEnd - DAY, hourEnd, 'hour'),
    report(lotId, 'occupancy', hourEnd - 7 * DAY, hourEnd, 'hour'),
    report(lotId, 'usage', hourEnd - DAY, hourEnd, 'hour'),
    report(lotId, 'revenue', now - 30 * DAY, now, 'day'),
    report(lotId, 'no-shows', now - 30 * DAY, now, 'day'),
    api('GET', `/v1/lots/${encodeURIComponent(lotId)}/presence`).catch(() => null),
    api('GET', '/v1/console/lots'),
  ]);
  const name = mine.lots.find((/** @type {any} */ l) => l.id === lotId)?.name ?? lotId;
  const total = revenue.totals[0] ?? { currency: '—', net: 0, overstay: 0, owed: 0, refunds: 0 };
  const last = day.buckets[day.buckets.length - 1];
  const inside = fleet?.occupancy
    ? Object.entries(fleet.occupancy)
        .map(([pool, o]) => `${pool} ${/** @type {any} */ (o).held}/${/** @type {any} */ (o).total}`)
        .join(', ')
    : String(last?.vehicles.atEnd ?? 0);
  const figure = (
    /** @type {string} */ label,
    /** @type {string | number} */ value,
    /** @type {string} */ id,
  ) => h('div', { class: 'figure', 'data-testid': id }, h('strong', null, value), label);
  const chart = (/** @type {string} */ id) => h('div', { id: `chart-${id}`, class: 'card chart' });
  const charts = /** @type {const} */ ([
    chart('occ-day'),
    chart('occ-week'),
    chart('usage'),
    chart('revenue'),
  ]);
  render(
    view,
    h(
      'section',
      { class: 'card' },
      h('h1', { id: 'lot-title' }, name, ' ', h('span', { class: 'muted' }, lotId)),
      h(
        'div',
        { class: 'figures' },
        figure('inside now', inside, 'inside-now'),
        figure('net revenue, 30 days', fmtMoney(total.net, total.currency), 'net'),
        figure('overstay charged, 30 days', fmtMoney(total.overstay, total.currency), 'overstay'),
        figure('unable to collect, 30 days', fmtMoney(total.owed, total.currency), 'owed'),
        figure(
          'no-shows, 30 days',
          noShows.buckets.reduce((/** @type {number} */ a, /** @type {any} */ b) => a + b.noShows, 0),
          'no-shows',
        ),
      ),
    ),
    h('div', { class: 'charts' }, ...charts),
    h('div', { id: 'reconciliation' }),
    h('div', { id: 'commands' }),
  );
  const pools = (/** @type {any} */ r) =>
    POOLS.map((p) => ({ label: p, values: r.buckets.map((/** @type {any} */ b) => b.pools[p].max) }));
  await Promise.all([
    lineChart(charts[0], {
      title: 'Occupancy — last 24 h (max per hour)',
      times: times(day.buckets),
      series: pools(day),
    }),
    lineChart(charts[1], {
      title: 'Occupancy — last 7 days (max per hour)',
      times: times(week.buckets),
      series: pools(week),
    }),
    lineChart(charts[2], {
      title: 'Arrivals and departures per hour',
      times: times(usage.buckets),
      series: [
        { label: 'arrivals', values: usage.buckets.map((/** @type {any} */ b) => b.arrivals) },
        { label: 'departures', values: usage.buckets.map((/** @type {any} */ b) => b.departures) },
      ],
      bars: true,
    }),
    lineChart(charts[3], {
      title: `Net revenue per day (${total.currency})`,
      times: times(revenue.buckets),
      series: [
        {
          label: 'net',
          values: revenue.buckets.map(
            (/** @type {any} */ b) =>
              (b.currencies.find((/** @type {any} */ c) => c.currency === total.currency)?.net ?? 0) / 100,
          ),
        },
      ],
      bars: true,
    }),
  ]);
  await showReconciliation(/** @type {HTMLElement} */ (view.querySelector('#reconciliation')), lotId);
  await showCommands(/** @type {HTMLElement} */ (view.querySelector('#commands')), lotId, fleet);
}
