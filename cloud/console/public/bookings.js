// @ts-check
// Bookings: search (plate, code, status, window), a booking's story, cancel and refund.
import { api } from './api.js';
import { fmtMoney, fmtTime, h, render } from './dom.js';

const STATUSES = ['', 'TENTATIVE', 'CONFIRMED', 'CHECKED_IN', 'COMPLETED', 'CANCELLED', 'EXPIRED', 'NO_SHOW'];

/** @param {HTMLElement} view */
export async function showBookings(view) {
  const results = h('tbody');
  const detail = h('div', { id: 'booking-detail' });
  const form = h(
    'form',
    { class: 'inline', id: 'booking-search', role: 'search' },
    h('label', null, 'Plate', h('input', { name: 'plate', maxlength: 24 })),
    h('label', null, 'Code', h('input', { name: 'code', maxlength: 64 })),
    h(
      'label',
      null,
      'Status',
      h(
        'select',
        { name: 'status' },
        STATUSES.map((s) => h('option', { value: s }, s || 'any')),
      ),
    ),
    h('label', null, 'From', h('input', { name: 'from', type: 'date' })),
    h('label', null, 'To', h('input', { name: 'to', type: 'date' })),
    h('button', { type: 'submit' }, 'Search'),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      const s = String(v).trim();
      if (!s) continue;
      q.set(k, k === 'from' || k === 'to' ? new Date(`${s}T00:00:00`).toISOString() : s);
    }
    const { reservations } = await api('GET', `/v1/console/reservations?${q}`);
    render(
      results,
      reservations.length === 0
        ? h('tr', null, h('td', { colspan: 6 }, 'No bookings found.'))
        : reservations.map((/** @type {any} */ r) =>
            h(
              'tr',
              { dataset: { id: r.id } },
              h(
                'td',
                null,
                h('button', { type: 'button', class: 'link', onclick: () => showStory(detail, r.id) }, r.id),
              ),
              h('td', null, r.plate),
              h('td', null, r.lotId),
              h('td', null, r.status),
              h('td', null, `${fmtTime(r.start)} – ${fmtTime(r.end)}`),
              h('td', null, fmtMoney(r.price.amount, r.price.currency)),
            ),
          ),
    );
  });
  render(
    view,
    h(
      'section',
      { class: 'card' },
      h('h1', null, 'Bookings'),
      form,
      h(
        'table',
        { id: 'booking-results' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ...['Code', 'Plate', 'Lot', 'Status', 'Window', 'Price'].map((t) => h('th', null, t)),
          ),
        ),
        results,
      ),
    ),
    detail,
  );
}

/**
 * @param {HTMLElement} host
 * @param {string} id
 */
async function showStory(host, id) {
  const s = await api('GET', `/v1/console/reservations/${encodeURIComponent(id)}/story`);
  const r = s.reservation;
  const message = h('p', { role: 'status', id: 'booking-message' });
  const act = async (/** @type {() => Promise<unknown>} */ fn, /** @type {string} */ done) => {
    try {
      await fn();
      await showStory(host, id);
      const m = host.querySelector('#booking-message');
      if (m) m.textContent = done;
    } catch (e) {
      message.textContent = e instanceof Error ? e.message : String(e);
    }
  };
  const reason = h('input', {
    name: 'reason',
    'aria-label': 'Refund reason',
    required: true,
    maxlength: 200,
  });
  const amount = h('input', {
    name: 'amount',
    'aria-label': 'Refund amount',
    type: 'number',
    min: '0.01',
    step: '0.01',
    placeholder: (s.refundable / 100).toFixed(2),
  });
  const refundForm = h(
    'form',
    { class: 'inline', id: 'refund' },
    h('label', null, 'Amount', amount),
    h('label', null, 'Reason', reason),
    h('button', { type: 'submit', disabled: s.refundable <= 0 }, 'Refund'),
  );
  refundForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = {
      reason: reason.value,
      ...(amount.value ? { amount: Math.round(Number(amount.value) * 100) } : {}),
    };
    void act(() => api('POST', `/v1/reservations/${encodeURIComponent(id)}/refund`, body), 'Refunded.');
  });
  const cancellable = ['TENTATIVE', 'CONFIRMED'].includes(r.status);
  render(
    host,
    h(
      'section',
      { class: 'card', dataset: { id } },
      h('h2', null, `Booking ${r.id}`),
      h(
        'p',
        null,
        `${r.plate} · ${r.lotId} · spot ${r.spotLabel ?? r.spotId} · `,
        h('strong', { 'data-testid': 'status' }, r.status),
      ),
      h(
        'ol',
        { class: 'story' },
        s.story.map((/** @type {any} */ e) =>
          h('li', { dataset: { what: e.what } }, `${fmtTime(e.at)} — ${e.what}: ${e.detail}`),
        ),
      ),
      h('h3', null, 'Payments'),
      h(
        'table',
        { id: 'payments' },
        h(
          'thead',
          null,
          h('tr', null, ...['Kind', 'Amount', 'Status', 'Detail', 'Receipt'].map((t) => h('th', null, t))),
        ),
        h(
          'tbody',
          null,
          s.payments.map((/** @type {any} */ p) =>
            h(
              'tr',
              { dataset: { kind: p.kind, status: p.status } },
              h('td', null, p.kind),
              h('td', null, fmtMoney(p.amount, p.currency)),
              h('td', null, p.status),
              h('td', null, p.detail ?? ''),
              h(
                'td',
                null,
                p.status === 'succeeded' &&
                  h(
                    'a',
                    {
                      href: `/v1/payments/${encodeURIComponent(p.id)}/receipt?format=html`,
                      target: '_blank',
                    },
                    p.kind === 'refund' ? 'credit note' : 'receipt',
                  ),
              ),
            ),
          ),
        ),
      ),
      cancellable &&
        h(
          'button',
          {
            type: 'button',
            id: 'cancel-booking',
            onclick: () =>
              act(() => api('POST', `/v1/reservations/${encodeURIComponent(id)}/cancel`), 'Cancelled.'),
          },
          'Cancel booking',
        ),
      h('h3', null, 'Refund'),
      refundForm,
      message,
    ),
  );
}
