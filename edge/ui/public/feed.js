// @ts-check
// The live event feed beside the lanes: newest first, bounded.
import { $, fmtTime, h, toDate } from './dom.js';

/** @import { Child } from '../types.js' */
/** @import { Ctx } from './state.js' */

const FEED_MAX = 100;
/** Characters of a reservation id the feed shows; the whole id is in the tooltip. */
const SHORT_CODE = 8;
/** Staff session actions: they belong to the audit view, not the traffic feed. */
const SESSION_ACTIONS = new Set(['login', 'login_failed', 'logout']);
/** A UUID (reservation ids), anywhere in a text. */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * The fields of an audit entry the feed shows (pushed entries and our own actions alike).
 * @typedef {object} AuditLine
 * @property {string | undefined} attendant
 * @property {string} action
 * @property {string | null} [target]
 * @property {string | null} [reason]
 */

/**
 * @param {Ctx} ctx
 * @param {string} kind `data-kind` of the item (styling, tests)
 * @param {string | Date | null | undefined} at when it happened (now, if unknown)
 * @param {Child} content
 */
export function addFeed(ctx, kind, at, content) {
  const feed = $('feed');
  feed.querySelector('.empty')?.remove();
  const when = toDate(at) ?? new Date(ctx.now());
  const item = h(
    'li',
    { dataset: { kind } },
    h('time', { datetime: when.toISOString() }, fmtTime(when)),
    h('span', {}, content),
  );
  feed.prepend(item);
  while (feed.children.length > FEED_MAX) feed.lastElementChild?.remove();
}

/**
 * A reservation id as a short code (its first characters; the full id in the tooltip), so a feed
 * entry stays on one or two lines.
 * @param {string} id
 */
export function shortCode(id) {
  const short = id.length > SHORT_CODE + 1 ? `${id.slice(0, SHORT_CODE)}…` : id;
  return h('code', { class: 'code', title: id, 'data-testid': 'short-code' }, short);
}

/**
 * Text with every UUID in it shown as a short code.
 * @param {string} text
 * @returns {Child[]}
 */
function withShortCodes(text) {
  /** @type {Child[]} */
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(UUID)) {
    parts.push(text.slice(last, m.index), shortCode(m[0]));
    last = (m.index ?? 0) + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

/**
 * Log-ins, failed log-ins and log-outs are audit, not traffic: the feed leaves them out.
 * @param {{ action: string }} a
 */
export function isSessionAction(a) {
  return SESSION_ACTIONS.has(a.action);
}

/**
 * Same attendant, action and reason: the same entry.
 * @param {AuditLine} a
 */
export function auditKey(a) {
  return `${a.attendant}|${a.action}|${a.reason ?? ''}`;
}

/** @param {AuditLine} a */
export function auditText(a) {
  const action = String(a.action ?? 'action').replaceAll('_', ' ');
  /** @type {Child[]} */
  const parts = [h('strong', {}, a.attendant ?? 'attendant'), ` ${action}`];
  if (a.target) parts.push(' ', ...withShortCodes(a.target));
  if (a.reason) parts.push(` — “${a.reason}”`);
  return parts;
}
