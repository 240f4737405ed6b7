// Tiny DOM and formatting helpers. Data from the server is only ever set as text (never as HTML).

/**
 * h('div', { class: 'x', onclick: fn, 'aria-label': 'y' }, child, 'text', [more])
 * Attributes: `class`, `dataset` (object), `on<event>` (function), booleans, strings.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

export const $ = (id) => document.getElementById(id);

/** Milliseconds, ISO string or Date → Date (null when missing or invalid). */
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

/** "14:03:21" today, "12 Apr, 14:03" otherwise. */
export function fmtTime(value) {
  const d = toDate(value);
  if (!d) return '—';
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function fmtDateTime(value) {
  const d = toDate(value);
  return d ? dateTimeFmt.format(d) : '—';
}

/** Money as the protocol carries it: { amount (minor units), currency }. */
export function fmtMoney(money) {
  if (!money || typeof money.amount !== 'number') return '—';
  const currency = money.currency || 'EUR';
  let digits = 2;
  try {
    digits = new Intl.NumberFormat(undefined, { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return `${(money.amount / 100).toFixed(2)} ${currency}`;
  }
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(
    money.amount / 10 ** digits,
  );
}

/** "12.50" or "12,5" → minor units for a 2-decimal currency; null when not a valid amount. */
export function parseAmount(text, fractionDigits = 2) {
  const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(String(text));
  if (!m) return null;
  const frac = (m[2] ?? '').padEnd(fractionDigits, '0').slice(0, fractionDigits);
  return Number(m[1]) * 10 ** fractionDigits + Number(frac || 0);
}

export function pct(part, total) {
  if (!total) return 0;
  return Math.max(0, Math.min(100, Math.round((part / total) * 100)));
}

/** Local yyyy-mm-dd for <input type=date>. */
export function isoDay(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
