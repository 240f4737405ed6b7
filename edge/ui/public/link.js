// @ts-check
// The banner under the top bar that says whether this lot reaches the cloud, since when, and how
// many events wait to be uploaded (offline) or are being uploaded (after the link returns).
import { $, fmtTime } from './dom.js';

/** @import { ConnectivityReply } from '../types.js' */
/** @import { Ctx, LinkView } from './state.js' */

/** @type {Record<LinkView['state'], string>} */
const LINK_TEXT = {
  online: 'Online',
  degraded: 'Degraded',
  offline: 'Offline',
  unknown: 'Connection: unknown',
};
/** @type {Partial<Record<LinkView['state'], string>>} */
const LINK_DETAIL = {
  degraded: 'the cloud is not answering',
  offline: 'no connection to the cloud',
};

/**
 * @param {Ctx} ctx
 * @param {{ state: ConnectivityReply['state'], since: string, outboxDepth?: number }} value
 */
export function setLink(ctx, value) {
  const { state } = ctx;
  state.link = { ...state.link, state: value.state ?? 'unknown', since: value.since ?? null };
  if (value.outboxDepth !== undefined) state.link.outboxDepth = value.outboxDepth;
  renderLink(ctx);
}

/**
 * @param {Ctx} ctx
 * @param {number} depth events not yet uploaded
 */
export function setOutboxDepth(ctx, depth) {
  ctx.state.link.outboxDepth = depth;
  renderLink(ctx);
}

/** @param {Ctx} ctx */
function renderLink(ctx) {
  const { state: s, since, outboxDepth } = ctx.state.link;
  const banner = $('link-banner');
  banner.dataset.state = s in LINK_TEXT ? s : 'unknown';
  let text = LINK_TEXT[s] ?? LINK_TEXT.unknown;
  if (since !== null && since !== undefined && s !== 'unknown') text += ` since ${fmtTime(since)}`;
  if (LINK_DETAIL[s]) text += ` — ${LINK_DETAIL[s]}`;
  const backlog = typeof outboxDepth === 'number' && outboxDepth > 0 ? outboxDepth : 0;
  if (backlog > 0) {
    const events = `${backlog} event${backlog === 1 ? '' : 's'}`;
    // Back online, the backlog drains: say so (the count falls with every upload acknowledged).
    text += s === 'online' ? ` · uploading ${events}…` : ` · ${events} waiting to upload`;
  }
  banner.dataset.backlog = String(backlog);
  $('link-text').textContent = text;
  banner.title =
    s === 'online'
      ? 'Bookings and payments are synchronised with the cloud.'
      : 'The gates keep admitting vehicles. Fees that cannot be charged are recorded as owed.';
}
