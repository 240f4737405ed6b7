// @ts-check
// Occupancy on the Live tab, in one vocabulary:
//   inside   = vehicles physically in the lot (drive-ups and vehicles with a booking),
//   reserved = bookable spots whose booking window is now,
//   free     = spots neither reserved nor taken by a drive-up.
// Three cards (vehicles inside, the bookable pool, the drive-up pool), then the same figures by
// level (only when the lot has more than one) and by spot type.
import { $, fmtTime, h, pct, render } from './dom.js';
import { logFailure } from './notices.js';

/** @import { OccupancyGroup, OccupancyReply } from '../types.js' */
/** @import { Ctx } from './state.js' */

/** Passages come in bursts; one fetch after the burst is enough. */
const REFRESH_DELAY_MS = 250;

/** @param {number} n @param {string} one @param {string} [many] */
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

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
  const spread = o.levels.filter((g) => g.driveupSpots > 0).length > 1;
  render(
    root,
    h(
      'div',
      { class: 'occ-summary' },
      insideCard(o),
      poolCard({
        title: 'Bookable',
        testId: 'pool-bookable',
        used: bookable.held,
        usedWord: 'reserved',
        ...bookable,
      }),
      poolCard({
        title: 'Drive-up',
        testId: 'pool-drive-up',
        used: driveup.inside,
        usedWord: 'inside',
        ...driveup,
      }),
    ),
    h(
      'div',
      { class: 'occ-tables' },
      // A one-level lot has nothing to break down by level (and no "Level 0" to puzzle over).
      o.levels.length > 1 ? groupTable('Level', o.levels, spread) : null,
      groupTable('Spot type', o.spotTypes, o.spotTypes.filter((g) => g.driveupSpots > 0).length > 1),
    ),
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

/** @param {OccupancyReply} o */
function insideCard(o) {
  const drive = o.pools.driveup.inside;
  const booked = Math.max(0, o.vehiclesInside - drive);
  return h(
    'section',
    { class: 'card', 'data-testid': 'occ-inside' },
    h('h3', {}, 'Vehicles inside'),
    h('div', { class: 'big-figure' }, String(o.vehiclesInside)),
    h('div', {}, `${plural(drive, 'drive-up')} · ${booked} with a booking`),
    h('div', { class: 'muted' }, `as of ${fmtTime(o.at)}`),
  );
}

/**
 * One pool's meter: "12 free of 24 · 12 reserved".
 * @param {{ title: string, testId: string, used: number, total: number, free: number, full: boolean, usedWord: string }} pool
 */
function poolCard({ title, testId, used, total, free, full, usedWord }) {
  return h(
    'section',
    { class: 'card', 'data-testid': testId },
    h('h3', {}, `${title} spots`, ' ', full ? h('span', { class: 'badge badge-full' }, 'FULL') : null),
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
 * Spots, reserved, drive-ups inside and free per level or spot type.
 * @param {string} what "Level", "Spot type"
 * @param {OccupancyGroup[]} groups
 * @param {boolean} spread drive-ups have no assigned spot: their count is spread over the groups
 */
function groupTable(what, groups, spread) {
  return h(
    'section',
    { class: 'card', 'data-testid': `occ-by-${what.toLowerCase().replace(/\W+/g, '-')}` },
    h('h3', {}, `By ${what.toLowerCase()}`),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, what),
          h('th', { class: 'num' }, 'Spots'),
          h('th', { class: 'num' }, 'Reserved'),
          h('th', { class: 'num' }, 'Drive-ups inside'),
          h('th', { class: 'num' }, 'Free'),
        ),
      ),
      h('tbody', {}, (groups ?? []).map(groupRow)),
    ),
    spread
      ? h(
          'p',
          { class: 'muted note' },
          'Drive-ups park in any drive-up spot: their count here is spread over the drive-up spots.',
        )
      : null,
  );
}

/** @param {OccupancyGroup} g */
function groupRow(g) {
  const full = g.free <= 0 && g.total > 0;
  return h(
    'tr',
    {},
    h('td', {}, g.key),
    h('td', { class: 'num' }, String(g.total)),
    h('td', { class: 'num' }, String(g.held)),
    h('td', { class: 'num' }, g.driveupSpots > 0 ? `${g.driveupInside} of ${g.driveupSpots}` : '—'),
    h(
      'td',
      { class: 'num' },
      String(g.free),
      full ? [' ', h('span', { class: 'badge badge-full' }, 'FULL')] : null,
    ),
  );
}
