// @ts-check
// Operator commands to a lot (POST /v1/lots/{lotId}/commands): open a lane, reset passback —
// each with a reason; and the recent commands with their acknowledgement.
import { api } from './api.js';
import { fmtTime, h, render } from './dom.js';

/**
 * @param {HTMLElement} host
 * @param {string} lotId
 * @param {any} presence the lot's presence (for its lane ids), or null
 */
export async function showCommands(host, lotId, presence) {
  const path = `/v1/lots/${encodeURIComponent(lotId)}/commands`;
  const list = h('tbody');
  const status = h('p', { role: 'status', id: 'command-status' });
  const refresh = async () => {
    const { commands } = await api('GET', path).catch(() => ({ commands: [] }));
    render(
      list,
      commands.map((/** @type {any} */ c) =>
        h(
          'tr',
          null,
          h('td', null, fmtTime(c.sentAt)),
          h('td', null, c.kind),
          h('td', null, c.laneId ?? c.reservationId ?? ''),
          h('td', null, c.reason),
          h('td', null, c.ackedAt ? (c.ok ? 'done' : `failed: ${c.detail ?? ''}`) : 'sent'),
        ),
      ),
    );
  };
  /** @param {Record<string, string>} body */
  const send = async (body) => {
    try {
      await api('POST', path, body);
      status.textContent = 'Command sent.';
      await refresh();
    } catch (e) {
      status.textContent = `Not sent: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const lanes = (presence?.lanes ?? []).map((/** @type {any} */ l) => h('option', { value: l.id }, l.id));
  const laneInput = lanes.length
    ? h('select', { name: 'laneId', 'aria-label': 'Lane' }, lanes)
    : h('input', { name: 'laneId', 'aria-label': 'Lane', placeholder: 'lane id', required: true });
  const openForm = h(
    'form',
    { class: 'inline', id: 'open-lane' },
    h('label', null, 'Lane', laneInput),
    h('label', null, 'Reason', h('input', { name: 'reason', required: true, maxlength: 200 })),
    h('button', { type: 'submit' }, 'Open lane'),
  );
  const resetForm = h(
    'form',
    { class: 'inline', id: 'reset-passback' },
    h('label', null, 'Booking id', h('input', { name: 'reservationId', required: true })),
    h('label', null, 'Reason', h('input', { name: 'reason', required: true, maxlength: 200 })),
    h('button', { type: 'submit' }, 'Reset passback'),
  );
  for (const [form, kind] of /** @type {const} */ ([
    [openForm, 'open_lane'],
    [resetForm, 'reset_passback'],
  ])) {
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const data = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v)]));
      void send({ kind, ...data });
    });
  }
  render(
    host,
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Commands'),
      openForm,
      resetForm,
      status,
      h(
        'table',
        { id: 'commands-list' },
        h(
          'thead',
          null,
          h('tr', null, ...['Sent', 'Command', 'Target', 'Reason', 'State'].map((t) => h('th', null, t))),
        ),
        list,
      ),
    ),
  );
  await refresh();
}
