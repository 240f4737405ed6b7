// @ts-check
// The live event feed beside the lanes: newest first, bounded.
import { $, fmtTime, h, toDate } from './dom.js';

/** @import { Child } from '../types.js' */
/** @import { Ctx } from './state.js' */

const FEED_MAX = 100;

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
  if (a.target) parts.push(` ${a.target}`);
  if (a.reason) parts.push(` — “${a.reason}”`);
  return parts;
}
