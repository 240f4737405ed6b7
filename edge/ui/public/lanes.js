// @ts-check
// The lane cards of the Live tab: state, sign text, last plate read, arm and devices, and the
// manual-open button. Re-drawn whole on every update of their lane.
import { $, fmtTime, h, render } from './dom.js';
import { armOf, confidenceText, laneName, replaceLanes } from './lane-model.js';
import { openLaneDialog } from './open-lane.js';

/** @import { LaneStatus } from '../types.js' */
/** @import { Ctx, LaneView } from './state.js' */

/**
 * Take the server's lane list and draw it.
 * @param {Ctx} ctx
 * @param {LaneStatus[]} list
 */
export function setLanes(ctx, list) {
  replaceLanes(ctx.state, list);
  const root = $('lanes');
  render(root);
  for (const lane of ctx.state.lanes.values()) renderLane(ctx, lane);
  if (ctx.state.laneOrder.length === 0) render(root, h('p', { class: 'empty-note' }, 'No lanes configured.'));
}

/**
 * The QR the lane shows while a fee waits to be paid online (its display names the pay link): the
 * driver scans it; the attendant sees the same, and may take cash instead.
 * @param {LaneView} lane
 */
function payQr(lane) {
  const link = lane.display.find((l) => /^https?:\/\/\S+\/pay\//.test(l));
  if (!link) return '';
  return h('img', {
    class: 'pay-qr',
    src: `/api/lanes/${encodeURIComponent(lane.id)}/pay-qr.svg?link=${encodeURIComponent(link)}`,
    alt: `QR code for ${link}`,
    width: 120,
    height: 120,
  });
}

/**
 * Draw (or re-draw in place) one lane's card.
 * @param {Ctx} ctx
 * @param {LaneView} lane
 */
export function renderLane(ctx, lane) {
  const root = $('lanes');
  root.querySelector('.empty-note')?.remove();
  const display = lane.display.join('\n');
  const card = h(
    'article',
    {
      class: 'card lane',
      id: `lane-${lane.id}`,
      dataset: { laneId: lane.id },
      'aria-labelledby': `lane-title-${lane.id}`,
    },
    h(
      'div',
      { class: 'lane-head' },
      h(
        'h3',
        { class: 'lane-title', id: `lane-title-${lane.id}` },
        h('span', { class: 'lane-direction', 'data-testid': 'lane-direction' }, directionWord(lane)),
        ' ',
        h('span', { class: 'lane-name', 'data-testid': 'lane-name' }, laneName(lane)),
      ),
      h('span', { class: 'state', dataset: { state: lane.state }, 'data-testid': 'lane-state' }, lane.state),
    ),
    h('div', { class: 'sign', 'aria-label': 'Lane display', 'data-testid': 'lane-display' }, display || ' '),
    payQr(lane),
    laneFacts(lane),
    h(
      'div',
      { class: 'actions' },
      // The rarest and riskiest action: present but quiet (outlined, small); the dialog asks why.
      h(
        'button',
        {
          type: 'button',
          class: 'btn btn-outline btn-small',
          'aria-label': `Open the ${laneName(lane)} barrier by hand…`,
          onclick: () => openLaneDialog(ctx, lane.id),
        },
        'Open barrier…',
      ),
    ),
  );
  placeCard(root, card, `lane-${lane.id}`);
}

/**
 * "Entry", "Exit", or "Lane" while the direction is not known yet.
 * @param {LaneView} lane
 */
function directionWord(lane) {
  if (lane.direction === 'entry') return 'Entry';
  if (lane.direction === 'exit') return 'Exit';
  return 'Lane';
}

/** @param {LaneView} lane */
function laneFacts(lane) {
  return h(
    'dl',
    { class: 'lane-facts' },
    h('dt', {}, 'Last read'),
    h('dd', { 'data-testid': 'lane-last-read' }, lastReadText(lane.lastRead)),
    h('dt', {}, 'Arm'),
    armFact(lane),
    lane.devices ? [h('dt', {}, 'Devices'), devicesFact(lane.devices)] : null,
  );
}

/** @param {LaneView['lastRead']} read */
function lastReadText(read) {
  if (!read?.plate) return h('span', { class: 'muted' }, 'none yet');
  return [
    h('span', { class: 'plate' }, read.plate),
    ' ',
    h('span', { class: read.confidence < 0.8 ? 'conf-low' : '' }, confidenceText(read.confidence)),
    h('span', { class: 'muted' }, ` · ${fmtTime(read.at)}`),
  ];
}

/** @param {LaneView} lane */
function armFact(lane) {
  const arm = armOf(lane);
  return h(
    'dd',
    { class: 'arm', 'data-testid': 'lane-arm' },
    h(
      'span',
      { class: 'arm-graphic', 'aria-hidden': 'true' },
      h('span', { class: 'arm-bar', style: { transform: `rotate(${-80 * arm.position}deg)` } }),
    ),
    arm.word,
  );
}

/** @param {Record<string, string>} devices */
function devicesFact(devices) {
  return h(
    'dd',
    { class: 'devices' },
    Object.entries(devices).map(([name, health]) =>
      h('span', { class: 'device', dataset: { health: String(health) } }, `${name}: ${health}`),
    ),
  );
}

/**
 * Replace the card with this id, or add it at the end.
 * @param {HTMLElement} root
 * @param {HTMLElement} card
 * @param {string} id
 */
function placeCard(root, card, id) {
  const existing = document.getElementById(id);
  if (!existing) {
    root.appendChild(card);
    return;
  }
  // Keep keyboard focus on the open button when a live update re-renders the card.
  const hadFocus = existing.contains(document.activeElement);
  existing.replaceWith(card);
  if (hadFocus) card.querySelector('button')?.focus();
}
