// @ts-check
// Tiny DOM and formatting helpers. Data from the server is only ever set as text (never as HTML).

/** @import { Child, Money } from '../types.js' */
/** @typedef {Record<string, unknown>} Attrs */

/**
 * h('div', { class: 'x', onclick: fn, 'aria-label': 'y' }, child, 'text', [more])
 * Attributes: `class`, `dataset` (object), `style` (object), `on<event>` (function), booleans, strings.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {Child[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) setAttr(el, key, value);
  append(el, children);
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {string} key
 * @param {unknown} value
 */
function setAttr(el, key, value) {
  if (value === undefined || value === null || value === false) return;
  if (key === 'class') el.className = String(value);
  else if (key === 'dataset') Object.assign(el.dataset, value);
  else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
  else if (key.startsWith('on') && typeof value === 'function')
    el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
  else if (value === true) el.setAttribute(key, '');
  else el.setAttribute(key, String(value));
}

/**
 * @param {HTMLElement} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/**
 * Replace an element's children.
 * @param {HTMLElement} el
 * @param {Child[]} children
 */
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * The element with this id, of the expected kind (default: any HTML element). The page's ids are
 * fixed in index.html, so a missing one is a bug: fail loudly rather than with a null later.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {{ new (): T }} [kind]
 * @returns {T}
 */
export function $(id, kind) {
  const el = document.getElementById(id);
  if (!(el instanceof (kind ?? HTMLElement))) throw new Error(`#${id}: missing or of the wrong kind`);
  return /** @type {T} */ (el);
}

/**
 * Milliseconds, ISO string or Date → Date (null when missing or invalid).
 * @param {number | string | Date | null | undefined} value
 * @returns {Date | null}
 */
export function toDate(value) {
  if (value === undefined || value === null || value === '') return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

/**
 * "14:03:21" today, "12 Apr, 14:03" otherwise.
 * @param {number | string | Date | null | undefined} value
 */
export function fmtTime(value) {
  const d = toDate(value);
  if (!d) return '—';
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? timeFmt.format(d) : dateTimeFmt.format(d);
}

/** @param {number | string | Date | null | undefined} value */
export function fmtDateTime(value) {
  const d = toDate(value);
  return d ? dateTimeFmt.format(d) : '—';
}

/**
 * Money as the protocol carries it: { amount (minor units), currency }.
 * @param {Money | null | undefined} money
 */
export function fmtMoney(money) {
  if (!money || typeof money.amount !== 'number') return '—';
  const currency = money.currency || 'EUR';
  let digits = 2;
  try {
    digits =
      new Intl.NumberFormat(undefined, { style: 'currency', currency }).resolvedOptions()
        .maximumFractionDigits ?? 2;
  } catch {
    // Not a currency this browser knows: plain figures beat no figures.
    return `${(money.amount / 100).toFixed(2)} ${currency}`;
  }
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(
    money.amount / 10 ** digits,
  );
}

/**
 * "12.50" or "12,5" → minor units for a 2-decimal currency; null when not a valid amount.
 * @param {string} text
 * @param {number} [fractionDigits]
 */
export function parseAmount(text, fractionDigits = 2) {
  const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(String(text));
  if (!m) return null;
  const frac = (m[2] ?? '').padEnd(fractionDigits, '0').slice(0, fractionDigits);
  return Number(m[1]) * 10 ** fractionDigits + Number(frac || 0);
}

/**
 * @param {number} part
 * @param {number} total
 */
export function pct(part, total) {
  if (!total) return 0;
  return Math.max(0, Math.min(100, Math.round((part / total) * 100)));
}

/**
 * Local yyyy-mm-dd for <input type=date>.
 * @param {Date} date
 */
export function isoDay(date) {
  /** @param {number} n */
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
