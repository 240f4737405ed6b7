// @ts-check
// Which lot this console belongs to: its name in the header and the tab title, and a persistent
// banner when some of its lanes run on simulated devices rather than real ones.
import { $ } from './dom.js';

/** @import { Ctx, LotView } from './state.js' */

/**
 * Merge what the server said about the lot (log-in, /api/me, the stream's `hello`).
 * @param {Ctx} ctx
 * @param {LotView} lot
 */
export function setLot(ctx, lot) {
  const { state } = ctx;
  state.lot = { ...(state.lot ?? {}), ...lot };
  const name = state.lot.name ?? state.lot.id;
  if (name) {
    $('lot-name').textContent = name;
    document.title = `Attendant — ${name}`;
  }
  renderSimulated(state.lot.simulatedLanes);
}

/** Hide the lot's banners (log-out: what they say belongs to the session). */
export function hideLotBanners() {
  $('sim-banner').hidden = true;
}

/**
 * Shown while the server names simulated lanes; the attendant must not mistake them for real gates.
 * @param {string[] | undefined} lanes
 */
function renderSimulated(lanes) {
  const banner = $('sim-banner');
  if (!lanes || lanes.length === 0) {
    banner.hidden = true;
    return;
  }
  const [first] = lanes;
  $('sim-text').textContent =
    lanes.length === 1
      ? `lane ${first} is not connected to real devices`
      : `lanes ${lanes.join(', ')} are not connected to real devices`;
  banner.hidden = false;
}
