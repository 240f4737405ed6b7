// @ts-check
// Fleet: every lot's presence from GET /v1/fleet, with the lots the user operates.
import { api } from './api.js';
import { fmtTime, h, render } from './dom.js';

/** A lot not heard from for longer than this stands out. */
export const STALE_MS = 3 * 60_000;

/**
 * online / degraded (online with a clock-skew alarm, an unsupported protocol or a device not ok) / offline.
 * @param {any} p a LotPresence
 */
export function healthOf(p) {
  if (p.state !== 'online') return 'offline';
  const faulty = (p.lanes ?? []).some((/** @type {any} */ l) =>
    Object.values(l.devices ?? {}).some((s) => s !== 'ok' && s !== 'online'),
  );
  return p.skewAlarm || !p.protocolSupported || faulty ? 'degraded' : 'online';
}

/** @param {any} p */
function faults(p) {
  /** @type {string[]} */
  const out = [];
  for (const l of p.lanes ?? []) {
    for (const [d, s] of Object.entries(l.devices ?? {}))
      if (s !== 'ok' && s !== 'online') out.push(`${l.id}/${d}: ${s}`);
  }
  if (p.skewAlarm) out.push('clock skew');
  if (!p.protocolSupported) out.push('protocol unsupported');
  return out.join(', ') || '—';
}

/** @param {HTMLElement} view */
export async function showFleet(view) {
  const [{ lots }, fleet] = await Promise.all([
    api('GET', '/v1/console/lots'),
    api('GET', '/v1/fleet').catch(() => ({ lots: [] })),
  ]);
  /** @type {Map<string, any>} */
  const presence = new Map(fleet.lots.map((/** @type {any} */ p) => [p.lotId, p]));
  const now = Date.now();
  const rows = lots.map((/** @type {any} */ lot) => {
    const p = presence.get(lot.id);
    const health = p ? healthOf(p) : 'offline';
    const stale = !p || now - Date.parse(p.lastSeen) > STALE_MS;
    return h(
      'tr',
      { dataset: { lotId: lot.id, health }, class: stale && health === 'offline' ? 'stale' : '' },
      h(
        'td',
        null,
        h('a', { href: `#lot/${encodeURIComponent(lot.id)}` }, lot.name),
        h('div', { class: 'muted' }, lot.id),
      ),
      h('td', { class: `state-${health}`, 'data-testid': 'health' }, health),
      h('td', null, p ? fmtTime(p.lastSeen) : 'never'),
      h('td', null, p?.skewMs == null ? '—' : `${p.skewMs} ms`),
      h('td', null, p?.outboxDepth ?? '—'),
      h('td', null, p?.edgeVersion ?? '—'),
      h('td', null, p ? faults(p) : '—'),
    );
  });
  render(
    view,
    h(
      'section',
      { class: 'card' },
      h('h1', null, 'Fleet'),
      h(
        'table',
        { id: 'fleet' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ...['Lot', 'State', 'Last seen', 'Clock skew', 'Outbox', 'Version', 'Alarms'].map((t) =>
              h('th', null, t),
            ),
          ),
        ),
        h('tbody', null, rows),
      ),
    ),
  );
}
