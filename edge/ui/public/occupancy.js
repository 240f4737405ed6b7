// @ts-check
// Occupancy on the Live tab: the two pools (bookable, drive-up), vehicles inside, and use by level
// and by spot type.
import { $, fmtTime, h, pct, render } from './dom.js';
import { logFailure } from './notices.js';

/** @import { OccupancyGroup, OccupancyReply } from '../types.js' */
/** @import { Ctx } from './state.js' */

/** Passages come in bursts; one fetch after the burst is enough. */
const REFRESH_DELAY_MS = 250;

/**
 * @param {Ctx} ctx
 * @param {OccupancyReply | null} o
 */
export function setOccupancy(ctx, o) {
  ctx.state.occupancy = o ?? null;
  const root = $('occupancy');
  if (!o?.pools) {
    render(root, h('p', { class: 'empty-note' }, 'Occupancy not available.'));
    $('occ-full').hidden = true;
    return;
  }
  const { bookable, driveup } = o.pools;
  $('occ-full').hidden = !o.full;
  render(
    root,
    poolCard({ title: 'Bookable', used: bookable.held, usedWord: 'booked', ...bookable }),
    poolCard({ title: 'Drive-up', used: driveup.inside, usedWord: 'inside', ...driveup }),
    h(
      'section',
      { class: 'card' },
      h('h3', {}, 'Vehicles inside'),
      h('div', { style: { fontSize: '2rem', fontWeight: '700' } }, String(o.vehiclesInside ?? '—')),
      h('div', { class: 'muted' }, `as of ${fmtTime(o.at)}`),
    ),
    groupTable('By level', o.levels),
    groupTable('By spot type', o.spotTypes),
  );
}

/**
 * Passages change occupancy: fetch it again shortly (one fetch per burst).
 * @param {Ctx} ctx
 */
export function scheduleOccupancyRefresh(ctx) {
  const { state } = ctx;
  if (state.occupancyRefresh) return;
  state.occupancyRefresh = setTimeout(() => {
    state.occupancyRefresh = null;
    // On failure the next event or stream reconnect refreshes.
    ctx.api.occupancy().then((o) => setOccupancy(ctx, o), logFailure('occupancy refresh'));
  }, REFRESH_DELAY_MS);
}

/**
 * One pool's meter.
 * @param {{ title: string, used: number, total: number, free: number, full: boolean, usedWord: string }} pool
 */
function poolCard({ title, used, total, free, full, usedWord }) {
  return h(
    'section',
    { class: 'card', 'data-testid': `pool-${title.toLowerCase().replace(/\W+/g, '-')}` },
    h('h3', {}, title, ' ', full ? h('span', { class: 'badge badge-full' }, 'FULL') : null),
    h(
      'div',
      {
        class: 'meter',
        dataset: { full: String(Boolean(full)) },
        role: 'img',
        'aria-label': `${pct(used, total)}% ${usedWord}`,
      },
      h('span', { style: { width: `${pct(used, total)}%` } }),
    ),
    h('div', {}, h('strong', {}, String(free)), ` free of ${total} · ${used} ${usedWord}`),
  );
}

/**
 * @param {string} title "By level", "By spot type"
 * @param {OccupancyGroup[]} groups
 */
function groupTable(title, groups) {
  return h(
    'section',
    { class: 'card' },
    h('h3', {}, title),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h(
            'th',
            {},
            title.replace(/^By (.)/, (_, c) => c.toUpperCase()),
          ),
          h('th', { class: 'num' }, 'Booked now'),
          h('th', { class: 'num' }, 'Spots'),
        ),
      ),
      h('tbody', {}, (groups ?? []).map(groupRow)),
    ),
  );
}

/** @param {OccupancyGroup} g */
function groupRow(g) {
  const full = g.held >= g.total && g.total > 0;
  return h(
    'tr',
    {},
    h('td', {}, g.key),
    h('td', { class: 'num' }, String(g.held)),
    h(
      'td',
      { class: 'num' },
      String(g.total),
      full ? [' ', h('span', { class: 'badge badge-full' }, 'FULL')] : null,
    ),
  );
}
