// parkedge attendant console. Plain ES modules, no build step, no third-party code: the page is served
// by the lot controller itself and must work with the internet down. Live data arrives by server push
// (EventSource on /api/events); the page fetches snapshots only at start, after a reconnect of the stream,
// and after the attendant's own actions. There is no polling loop.
import { ApiError, createApi } from './api.js';
import { $, fmtDateTime, fmtMoney, fmtTime, h, isoDay, parseAmount, pct, render, toDate } from './dom.js';

const FEED_MAX = 100;
const ARM_BY_STATE = {
  IDLE: 'down',
  IDENTIFYING: 'down',
  REFUSED: 'down',
  OPENING: 'raising',
  OPEN: 'up',
  PASSING: 'up',
  PASSED: 'up',
  CLOSING: 'lowering',
};
const ALARM_LABELS = {
  tailgate: 'Tailgate',
  barrier_fault: 'Barrier fault',
  device_fault: 'Device lost',
  device_lost: 'Device lost',
  passback_violation: 'Passback violation',
  clock_skew: 'Clock skew',
};
const LINK_TEXT = {
  online: 'Online',
  degraded: 'Degraded',
  offline: 'Offline',
  unknown: 'Connection: unknown',
};
const LINK_DETAIL = {
  degraded: 'the cloud is not answering',
  offline: 'no connection to the cloud',
};

const api = createApi({ onUnauthorized: () => showLogin('Your session has ended. Please log in again.') });

const state = {
  me: null,
  lot: null,
  lanes: new Map(),
  laneOrder: [],
  occupancy: null,
  link: { state: 'unknown', since: null, outboxDepth: null },
  alarms: [],
  showAllAlarms: false,
  stream: null,
  streamWasOpen: false,
  openLaneId: null,
  cashTarget: null,
  reasonAction: null,
  lastLookup: null,
  occupancyRefresh: null,
  ownAudit: null,
};

// ---------------------------------------------------------------------------------------------
// Start

document.addEventListener('DOMContentLoaded', () => {
  wireLogin();
  wireTabs();
  wireDialogs();
  wireLookup();
  wireAlarms();
  wireReport();
  $('audit-refresh').addEventListener('click', () => loadAudit());
  $('logout').addEventListener('click', async () => {
    await api.logout().catch(() => {});
    showLogin();
  });
  if (api.hasSession()) {
    api.me().then(
      (me) => enterApp(me),
      () => showLogin(),
    );
  } else {
    showLogin();
  }
});

// ---------------------------------------------------------------------------------------------
// Log-in

function wireLogin() {
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const username = $('login-user').value.trim();
    const password = $('login-pass').value;
    if (!username || !password) return formError('login-error', 'Enter your user name and password.');
    formError('login-error', null);
    const button = event.submitter ?? $('login-form').querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const r = await api.login(username, password);
      $('login-pass').value = '';
      await enterApp(r?.username ? r : await api.me());
    } catch (err) {
      formError(
        'login-error',
        err instanceof ApiError && err.status === 401 ? 'Wrong user name or password.' : message(err),
      );
      $('login-pass').select();
    } finally {
      button.disabled = false;
    }
  });
}

function showLogin(notice) {
  closeStream();
  state.me = null;
  $('app-view').hidden = true;
  $('user-box').hidden = true;
  $('link-banner').hidden = true;
  $('stream-warning').hidden = true;
  $('login-view').hidden = false;
  formError('login-error', notice ?? null);
  $('login-user').focus();
}

async function enterApp(me) {
  state.me = me ?? null;
  if (me?.lotId || me?.lotName) setLot({ id: me.lotId, name: me.lotName });
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('user-box').hidden = false;
  $('link-banner').hidden = false;
  $('user-name').textContent = me?.displayName || me?.username || '';
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86_400_000);
  if (!$('report-from').value) $('report-from').value = isoDay(weekAgo);
  if (!$('report-to').value) $('report-to').value = isoDay(today);
  updateCsvLink();
  openStream();
  await loadSnapshot();
  selectTab('tab-live', false);
}

// ---------------------------------------------------------------------------------------------
// Snapshot loading (start, stream reconnect, after own actions)

async function loadSnapshot() {
  const [lanes, occupancy, link, alarms] = await Promise.allSettled([
    api.lanes(),
    api.occupancy(),
    api.connectivity(),
    api.alarms(state.showAllAlarms),
  ]);
  if (lanes.status === 'fulfilled') setLanes(listOf(lanes.value, 'lanes'));
  if (occupancy.status === 'fulfilled') setOccupancy(occupancy.value?.occupancy ?? occupancy.value);
  if (link.status === 'fulfilled' && link.value) setLink(link.value);
  if (alarms.status === 'fulfilled') setAlarms(listOf(alarms.value, 'alarms'));
}

function setLot(lot) {
  state.lot = { ...(state.lot ?? {}), ...lot };
  const name = state.lot.name ?? state.lot.lotName ?? state.lot.id ?? state.lot.lotId;
  if (name) {
    $('lot-name').textContent = name;
    document.title = `Attendant — ${name}`;
  }
}

function listOf(value, key) {
  if (Array.isArray(value)) return value;
  if (value && Array.isArray(value[key])) return value[key];
  return [];
}

function scheduleOccupancyRefresh() {
  // Passages change occupancy; coalesce bursts into one fetch.
  if (state.occupancyRefresh) return;
  state.occupancyRefresh = setTimeout(async () => {
    state.occupancyRefresh = null;
    try {
      const o = await api.occupancy();
      setOccupancy(o?.occupancy ?? o);
    } catch {
      /* the next event or reconnect refreshes */
    }
  }, 250);
}

// ---------------------------------------------------------------------------------------------
// Live stream (Server-Sent Events)

const STREAM_TYPES = [
  'hello',
  'lane',
  'read',
  'passage',
  'alarm',
  'alarm_ack',
  'connectivity',
  'outbox',
  'audit',
  'occupancy',
  'device',
  'snapshot',
];

function openStream() {
  closeStream();
  const source = new EventSource(api.eventsUrl());
  state.stream = source;
  source.addEventListener('open', () => {
    $('stream-warning').hidden = true;
    // After a drop, events may have been missed: take a fresh snapshot once.
    if (state.streamWasOpen) loadSnapshot().catch(() => {});
    state.streamWasOpen = true;
  });
  source.addEventListener('error', () => {
    if (state.stream !== source) return;
    $('stream-warning').hidden = false;
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream (e.g. session expired): check the session, retry once it is valid.
      api.me().then(
        () => setTimeout(() => state.stream === source && openStream(), 2000),
        () => {},
      );
    }
  });
  const handler = (name) => (e) => {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    handleEvent(data?.type ?? name, data);
  };
  source.addEventListener('message', handler('message'));
  for (const type of STREAM_TYPES) source.addEventListener(type, handler(type));
}

function closeStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
  state.streamWasOpen = false;
}

function handleEvent(type, ev) {
  switch (type) {
    case 'hello':
      // Sent first on every (re)connect: the state right now.
      if (ev.lotId || ev.lotName) setLot({ id: ev.lotId, name: ev.lotName });
      if (Array.isArray(ev.lanes)) setLanes(ev.lanes);
      if (ev.connectivity) setLink({ ...ev.connectivity, outboxDepth: ev.outboxDepth });
      break;
    case 'lane': {
      const lane = laneFor(ev.laneId);
      lane.state = ev.state ?? lane.state;
      if (Array.isArray(ev.display)) lane.display = ev.display;
      if (ev.arm !== undefined) lane.arm = ev.arm;
      else lane.armDerived = true;
      renderLane(lane);
      if (ev.state === 'REFUSED') {
        addFeed('refused', ev.at, `${laneName(lane)}: refused — ${(ev.display ?? []).join(' ')}`);
      }
      break;
    }
    case 'read': {
      const lane = laneFor(ev.laneId);
      lane.lastRead = { plate: ev.plate, confidence: ev.confidence, at: ev.at };
      renderLane(lane);
      addFeed('read', ev.at, [
        `${laneName(lane)}: plate `,
        h('span', { class: 'plate' }, ev.plate),
        ` read (${confidenceText(ev.confidence)})`,
      ]);
      break;
    }
    case 'passage': {
      const lane = laneFor(ev.laneId);
      const who = ev.plate ? h('span', { class: 'plate' }, ev.plate) : 'unidentified vehicle';
      const verb = ev.direction === 'exit' ? 'left' : 'entered';
      const extra = ev.reservationId ? ` (reservation ${ev.reservationId})` : '';
      addFeed('passage', ev.at, [who, ` ${verb} via ${laneName(lane)}${extra}`]);
      scheduleOccupancyRefresh();
      break;
    }
    case 'occupancy':
      setOccupancy(ev.occupancy ?? ev);
      break;
    case 'alarm': {
      const alarm = ev.alarm ?? ev;
      upsertAlarm(alarm);
      const lane = alarm.laneId ? state.lanes.get(alarm.laneId) : null;
      addFeed('alarm', alarm.raisedAt ?? ev.at, [
        h('strong', {}, alarmLabel(alarm.kind)),
        lane ? ` at ${laneName(lane)}` : '',
        alarm.detail ? ` — ${alarm.detail}` : '',
      ]);
      break;
    }
    case 'alarm_ack': {
      const alarm = ev.alarm ?? ev;
      upsertAlarm(alarm);
      break;
    }
    case 'connectivity':
      setLink({ state: ev.state, since: ev.since ?? ev.sinceMs ?? ev.at });
      addFeed('link', ev.since ?? ev.at, `Cloud link ${ev.state}`);
      break;
    case 'outbox':
      state.link.outboxDepth = ev.depth;
      renderLink();
      break;
    case 'audit': {
      const a = ev.audit ?? ev.entry ?? ev;
      // Our own action was already shown when the server accepted it.
      const own = state.ownAudit;
      if (own && own.key === auditKey(a) && Date.now() - own.at < 10_000) break;
      addFeed('audit', a.at, auditText(a));
      if (!$('panel-audit').hidden) loadAudit();
      break;
    }
    case 'device': {
      const lane = laneFor(ev.laneId);
      lane.devices = { ...(lane.devices ?? {}), [ev.device]: ev.health };
      renderLane(lane);
      break;
    }
    case 'snapshot':
      loadSnapshot().catch(() => {});
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Link banner

function setLink(value) {
  const s = value.state ?? value.connectivity ?? 'unknown';
  const since = value.since ?? value.sinceMs ?? value.changedAt ?? null;
  state.link = { ...state.link, state: s, since };
  if (value.outboxDepth !== undefined) state.link.outboxDepth = value.outboxDepth;
  renderLink();
}

function renderLink() {
  const { state: s, since, outboxDepth } = state.link;
  const banner = $('link-banner');
  banner.dataset.state = s in LINK_TEXT ? s : 'unknown';
  let text = LINK_TEXT[s] ?? LINK_TEXT.unknown;
  if (since !== null && since !== undefined && s !== 'unknown') text += ` since ${fmtTime(since)}`;
  if (LINK_DETAIL[s]) text += ` — ${LINK_DETAIL[s]}`;
  if (s !== 'online' && typeof outboxDepth === 'number' && outboxDepth > 0) {
    text += ` · ${outboxDepth} event${outboxDepth === 1 ? '' : 's'} to upload`;
  }
  $('link-text').textContent = text;
  banner.title =
    s === 'online'
      ? 'Bookings and payments are synchronised with the cloud.'
      : 'The gates keep admitting vehicles. Fees that cannot be charged are recorded as owed.';
}

// ---------------------------------------------------------------------------------------------
// Lanes

function laneFor(id) {
  let lane = state.lanes.get(id);
  if (!lane) {
    lane = { id, name: id, direction: null, state: 'IDLE', display: [], lastRead: null, arm: null };
    state.lanes.set(id, lane);
    state.laneOrder.push(id);
  }
  return lane;
}

function laneName(lane) {
  return lane?.name || lane?.id || 'lane';
}

function setLanes(list) {
  state.lanes.clear();
  state.laneOrder = [];
  for (const raw of list) {
    const id = raw.id ?? raw.laneId;
    if (!id) continue;
    const lane = laneFor(id);
    Object.assign(lane, {
      name: raw.name ?? raw.label ?? id,
      direction: raw.direction ?? null,
      state: raw.state ?? 'IDLE',
      display: raw.display ?? raw.displayText ?? [],
      lastRead: raw.lastRead ?? null,
      arm: raw.arm ?? raw.armPosition ?? null,
      limits: raw.limits ?? null,
      armDerived: false,
      devices: raw.devices ?? null,
    });
  }
  const root = $('lanes');
  render(root);
  for (const id of state.laneOrder) renderLane(state.lanes.get(id));
  if (state.laneOrder.length === 0) render(root, h('p', { class: 'empty-note' }, 'No lanes configured.'));
}

function armOf(lane) {
  // The arm as the lane reports it (commanded position + limit switches), else what the lane state implies.
  const a = lane.arm;
  if (!lane.armDerived && (a === 'up' || a === 'down') && lane.limits) {
    if (a === 'up')
      return lane.limits.open ? { word: 'up', position: 1 } : { word: 'raising', position: 0.5 };
    return lane.limits.closed ? { word: 'down', position: 0 } : { word: 'lowering', position: 0.5 };
  }
  if (a && typeof a === 'object') return armOf({ ...lane, arm: a.position ?? a.state ?? null });
  if (typeof a === 'number') {
    if (a >= 0.98) return { word: 'up', position: 1 };
    if (a <= 0.02) return { word: 'down', position: 0 };
    return { word: 'moving', position: a };
  }
  const word = typeof a === 'string' && !lane.armDerived ? a : (ARM_BY_STATE[lane.state] ?? 'down');
  const position = { up: 1, open: 1, raising: 0.5, lowering: 0.5, moving: 0.5 }[word] ?? 0;
  return { word, position };
}

function renderLane(lane) {
  const root = $('lanes');
  root.querySelector('.empty-note')?.remove();
  const arm = armOf(lane);
  const read = lane.lastRead;
  const display = Array.isArray(lane.display) ? lane.display.join('\n') : String(lane.display ?? '');
  const direction = lane.direction
    ? `${lane.direction[0].toUpperCase()}${lane.direction.slice(1)} lane`
    : 'Lane';
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
      h('h3', { class: 'lane-name', id: `lane-title-${lane.id}` }, laneName(lane)),
      h('span', { class: 'state', dataset: { state: lane.state }, 'data-testid': 'lane-state' }, lane.state),
    ),
    h('div', { class: 'muted' }, direction),
    h('div', { class: 'sign', 'aria-label': 'Lane display', 'data-testid': 'lane-display' }, display || ' '),
    h(
      'dl',
      { class: 'lane-facts' },
      h('dt', {}, 'Last read'),
      h(
        'dd',
        { 'data-testid': 'lane-last-read' },
        read?.plate
          ? [
              h('span', { class: 'plate' }, read.plate),
              ' ',
              h('span', { class: read.confidence < 0.8 ? 'conf-low' : '' }, confidenceText(read.confidence)),
              h('span', { class: 'muted' }, ` · ${fmtTime(read.at)}`),
            ]
          : h('span', { class: 'muted' }, 'none yet'),
      ),
      h('dt', {}, 'Arm'),
      h(
        'dd',
        { class: 'arm', 'data-testid': 'lane-arm' },
        h(
          'span',
          { class: 'arm-graphic', 'aria-hidden': 'true' },
          h('span', { class: 'arm-bar', style: { transform: `rotate(${-80 * arm.position}deg)` } }),
        ),
        arm.word,
      ),
      lane.devices
        ? [
            h('dt', {}, 'Devices'),
            h(
              'dd',
              { class: 'devices' },
              Object.entries(lane.devices).map(([name, health]) =>
                h('span', { class: 'device', dataset: { health: String(health) } }, `${name}: ${health}`),
              ),
            ),
          ]
        : null,
    ),
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        { type: 'button', class: 'btn btn-danger', onclick: () => openLaneDialog(lane.id) },
        `Open ${laneName(lane)}…`,
      ),
    ),
  );
  const existing = document.getElementById(`lane-${lane.id}`);
  if (existing) {
    // Keep keyboard focus on the open button when a live update re-renders the card.
    const hadFocus = existing.contains(document.activeElement);
    existing.replaceWith(card);
    if (hadFocus) card.querySelector('button')?.focus();
  } else {
    root.appendChild(card);
  }
}

function confidenceText(c) {
  return typeof c === 'number' ? `${Math.round(c * 100)}%` : '';
}

// ---------------------------------------------------------------------------------------------
// Occupancy

function setOccupancy(o) {
  state.occupancy = o ?? null;
  const root = $('occupancy');
  if (!o?.pools) {
    render(root, h('p', { class: 'empty-note' }, 'Occupancy not available.'));
    $('occ-full').hidden = true;
    return;
  }
  const { bookable, driveup } = o.pools;
  $('occ-full').hidden = !o.full;
  const pool = (title, used, total, free, full, usedWord) =>
    h(
      'section',
      { class: 'card', 'data-testid': `pool-${title.toLowerCase().replace(/\W+/g, '-')}` },
      h('h3', {}, title, ' ', full ? h('span', { class: 'badge badge-full' }, 'FULL') : null),
      h(
        'div',
        {
          class: 'meter',
          dataset: { full: String(Boolean(full)) },
          role: 'img',
          'aria-label': `${pct(used, total)}% ${usedWord}`,
        },
        h('span', { style: { width: `${pct(used, total)}%` } }),
      ),
      h('div', {}, h('strong', {}, String(free)), ` free of ${total} · ${used} ${usedWord}`),
    );
  const groupTable = (title, groups) =>
    h(
      'section',
      { class: 'card' },
      h('h3', {}, title),
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h(
              'th',
              {},
              title.replace(/^By (.)/, (_, c) => c.toUpperCase()),
            ),
            h('th', { class: 'num' }, 'Booked now'),
            h('th', { class: 'num' }, 'Spots'),
          ),
        ),
        h(
          'tbody',
          {},
          (groups ?? []).map((g) =>
            h(
              'tr',
              {},
              h('td', {}, g.key),
              h('td', { class: 'num' }, String(g.held)),
              h(
                'td',
                { class: 'num' },
                String(g.total),
                g.held >= g.total && g.total > 0
                  ? [' ', h('span', { class: 'badge badge-full' }, 'FULL')]
                  : null,
              ),
            ),
          ),
        ),
      ),
    );
  render(
    root,
    pool('Bookable', bookable.held, bookable.total, bookable.free, bookable.full, 'booked'),
    pool('Drive-up', driveup.inside, driveup.total, driveup.free, driveup.full, 'inside'),
    h(
      'section',
      { class: 'card' },
      h('h3', {}, 'Vehicles inside'),
      h('div', { style: { fontSize: '2rem', fontWeight: '700' } }, String(o.vehiclesInside ?? '—')),
      h('div', { class: 'muted' }, `as of ${fmtTime(o.at)}`),
    ),
    groupTable('By level', o.levels),
    groupTable('By spot type', o.spotTypes),
  );
}

// ---------------------------------------------------------------------------------------------
// Event feed

function addFeed(kind, at, content) {
  const feed = $('feed');
  feed.querySelector('.empty')?.remove();
  const when = toDate(at) ?? new Date();
  const item = h(
    'li',
    { dataset: { kind } },
    h('time', { datetime: when.toISOString() }, fmtTime(when)),
    h('span', {}, content),
  );
  feed.prepend(item);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
}

function auditKey(a) {
  return `${a.attendant}|${a.action}|${a.reason ?? ''}`;
}

function auditText(a) {
  const action = String(a.action ?? 'action').replaceAll('_', ' ');
  const parts = [h('strong', {}, a.attendant ?? 'attendant'), ` ${action}`];
  if (a.target) parts.push(` ${a.target}`);
  if (a.reason) parts.push(` — “${a.reason}”`);
  return parts;
}

// ---------------------------------------------------------------------------------------------
// Manual open

function openLaneDialog(laneId) {
  state.openLaneId = laneId;
  const lane = state.lanes.get(laneId);
  $('open-title').textContent = `Open ${laneName(lane)}`;
  $('open-reason').value = '';
  $('open-preset').value = '';
  formError('open-error', null);
  $('open-dialog').showModal();
  $('open-reason').focus();
}

async function submitOpen() {
  const reason = $('open-reason').value.trim();
  if (reason.length < 3) {
    formError('open-error', 'A reason is required (at least 3 characters).');
    $('open-reason').focus();
    return;
  }
  const laneId = state.openLaneId;
  const button = $('open-form').querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const own = {
      attendant: state.me?.username,
      action: 'manual_open',
      target: laneName(state.lanes.get(laneId)),
      reason,
    };
    // The stream may announce the audit entry before this request returns: recognise it as ours.
    state.ownAudit = { key: auditKey(own), at: Date.now() };
    await api.openLane(laneId, reason);
    $('open-dialog').close();
    toast(`Barrier opened at ${laneName(state.lanes.get(laneId))}`);
    addFeed('audit', new Date(), auditText(own));
    if (!$('panel-audit').hidden) loadAudit();
  } catch (err) {
    formError('open-error', message(err));
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Look-up, cash payment, passback reset

function wireLookup() {
  $('lookup-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const q = $('lookup-q').value.trim();
    const by = new FormData($('lookup-form')).get('by');
    if (!q) return formError('lookup-error', 'Enter a plate or a reservation code.');
    await runLookup(by, q);
  });
}

async function runLookup(by, q) {
  formError('lookup-error', null);
  state.lastLookup = { by, q };
  try {
    const r = by === 'reservation' ? await api.lookupReservation(q) : await api.lookupPlate(q);
    renderLookup(r, by, q);
  } catch (err) {
    render($('lookup-result'));
    formError(
      'lookup-error',
      err instanceof ApiError && err.status === 404 ? `Nothing found for “${q}”.` : message(err),
    );
  }
}

function renderLookup(r, by, q) {
  const reservations = r?.reservations ?? (r?.reservation ? [r.reservation] : []);
  const sessions = r?.sessions ?? [];
  const passback = r?.passback ?? null;
  const root = $('lookup-result');
  if (reservations.length === 0 && sessions.length === 0) {
    render(
      root,
      h(
        'p',
        { class: 'empty-note' },
        `Nothing found for ${by === 'plate' ? 'plate' : 'reservation'} “${q}”.`,
      ),
    );
    return;
  }
  render(
    root,
    reservations.length
      ? h(
          'div',
          { class: 'result-block' },
          h('h3', {}, 'Reservations'),
          h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              {},
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Code', 'Plate', 'Spot', 'From', 'To', 'Status', 'Passback', ''].map((t) =>
                    h('th', {}, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                reservations.map((res) => {
                  const pb =
                    res.passback ??
                    (passback && typeof passback === 'object' ? passback[res.id] : passback) ??
                    null;
                  return h(
                    'tr',
                    {},
                    h('td', {}, res.id),
                    h('td', {}, h('span', { class: 'plate' }, res.plate)),
                    h('td', {}, res.spotLabel ?? res.spotId ?? '—'),
                    h('td', {}, fmtDateTime(res.start ?? res.startMs)),
                    h('td', {}, fmtDateTime(res.end ?? res.endMs)),
                    h('td', {}, res.status),
                    h('td', {}, pb ?? '—'),
                    h(
                      'td',
                      {},
                      h(
                        'button',
                        {
                          type: 'button',
                          class: 'btn btn-small',
                          disabled: pb === 'neutral' ? true : undefined,
                          onclick: () => askPassbackReset(res),
                        },
                        'Reset passback…',
                      ),
                    ),
                  );
                }),
              ),
            ),
          ),
        )
      : null,
    sessions.length
      ? h(
          'div',
          { class: 'result-block' },
          h('h3', {}, 'Visits'),
          h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              {},
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Plate', 'Kind', 'Entered', 'Left', 'Spot', 'Cash paid', 'To pay now', ''].map((t) =>
                    h('th', {}, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                sessions.map((s) => {
                  const inside = s.exitedAt === null || s.exitedAt === undefined;
                  const cashPaid =
                    typeof s.cashPaid === 'number'
                      ? fmtMoney({ amount: s.cashPaid, currency: s.currency ?? lotCurrency() })
                      : fmtMoney(s.cashPaid);
                  return h(
                    'tr',
                    {},
                    h('td', {}, s.plate ? h('span', { class: 'plate' }, s.plate) : '—'),
                    h('td', {}, s.kind),
                    h('td', {}, fmtDateTime(s.enteredAt)),
                    h('td', {}, inside ? h('strong', {}, 'inside') : fmtDateTime(s.exitedAt)),
                    h('td', {}, s.spotLabel ?? '—'),
                    h('td', {}, cashPaid),
                    h('td', {}, outstandingOf(s) ? fmtMoney(outstandingOf(s)) : '—'),
                    h(
                      'td',
                      {},
                      inside && s.kind !== 'booking' && (outstandingOf(s)?.amount ?? 0) > 0
                        ? h(
                            'button',
                            {
                              type: 'button',
                              class: 'btn btn-small btn-primary',
                              onclick: () => openCashDialog(s),
                            },
                            'Cash payment…',
                          )
                        : null,
                    ),
                  );
                }),
              ),
            ),
          ),
        )
      : null,
  );
}

function dueOf(session) {
  return session.dueNow ?? session.due ?? null;
}

/** What is still to pay: the fee if the vehicle left now, less cash already taken. */
function outstandingOf(session) {
  const due = dueOf(session);
  if (!due) return null;
  const paid = typeof session.cashPaid === 'number' ? session.cashPaid : 0;
  return { amount: Math.max(0, due.amount - paid), currency: due.currency };
}

function lotCurrency() {
  return state.lot?.rates?.currency ?? state.lot?.currency ?? 'EUR';
}

function openCashDialog(session) {
  state.cashTarget = session;
  const outstanding = outstandingOf(session);
  $('cash-what').textContent = `Drive-up ${session.plate ?? ''} — entered ${fmtDateTime(session.enteredAt)}${
    outstanding ? ` — to pay now ${fmtMoney(outstanding)}` : ''
  }`;
  $('cash-amount').value = outstanding?.amount ? (outstanding.amount / 100).toFixed(2) : '';
  formError('cash-error', null);
  $('cash-dialog').showModal();
  $('cash-amount').focus();
}

async function submitCash() {
  const amount = parseAmount($('cash-amount').value);
  if (amount === null || amount <= 0) {
    formError('cash-error', 'Enter the amount received, e.g. 12.50');
    $('cash-amount').focus();
    return;
  }
  const session = state.cashTarget;
  const currency = dueOf(session)?.currency ?? lotCurrency();
  try {
    const r = await api.cashPayment(session.id, amount);
    $('cash-dialog').close();
    toast(`Cash payment of ${fmtMoney(r?.paid ?? { amount, currency })} recorded`);
    if (state.lastLookup) runLookup(state.lastLookup.by, state.lastLookup.q);
  } catch (err) {
    formError('cash-error', message(err));
  }
}

function askPassbackReset(reservation) {
  askReason({
    title: 'Reset passback',
    what: `Reservation ${reservation.id} (${reservation.plate}) will be accepted at the next entry or exit as if neutral.`,
    submit: 'Reset passback',
    run: async (reason) => {
      await api.resetPassback(reservation.id, reason);
      toast(`Passback reset for ${reservation.id}`);
      if (state.lastLookup) runLookup(state.lastLookup.by, state.lastLookup.q);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Alarms

function wireAlarms() {
  $('alarms-all').addEventListener('change', async (e) => {
    state.showAllAlarms = e.target.checked;
    try {
      setAlarms(listOf(await api.alarms(state.showAllAlarms), 'alarms'));
    } catch (err) {
      toast(message(err), 'error');
    }
  });
}

function setAlarms(list) {
  state.alarms = list.slice();
  renderAlarms();
}

function upsertAlarm(alarm) {
  if (alarm?.id === undefined) return;
  const i = state.alarms.findIndex((a) => a.id === alarm.id);
  if (i >= 0) state.alarms[i] = { ...state.alarms[i], ...alarm };
  else state.alarms.unshift(alarm);
  renderAlarms();
}

function alarmLabel(kind) {
  return ALARM_LABELS[kind] ?? String(kind ?? 'alarm').replaceAll('_', ' ');
}

function renderAlarms() {
  const open = state.alarms.filter((a) => !a.ackedAt);
  const badge = $('alarm-count');
  badge.textContent = String(open.length);
  badge.hidden = open.length === 0;
  const shown = state.showAllAlarms ? state.alarms : open;
  const root = $('alarms');
  if (shown.length === 0) {
    render(root, h('p', { class: 'empty-note' }, 'No open alarms.'));
    return;
  }
  render(
    root,
    shown.map((a) => {
      const lane = a.laneId ? state.lanes.get(a.laneId) : null;
      return h(
        'div',
        { class: 'card alarm', dataset: { acked: String(Boolean(a.ackedAt)), alarmId: String(a.id) } },
        h(
          'div',
          {},
          h('div', { class: 'alarm-kind' }, alarmLabel(a.kind), lane ? ` — ${laneName(lane)}` : ''),
          a.detail ? h('div', {}, a.detail) : null,
          h(
            'div',
            { class: 'muted' },
            `Raised ${fmtDateTime(a.raisedAt)}`,
            a.ackedAt
              ? ` · acknowledged by ${a.ackedBy ?? '?'} ${fmtDateTime(a.ackedAt)}${a.ackNote ? ` — “${a.ackNote}”` : ''}`
              : '',
          ),
        ),
        a.ackedAt
          ? null
          : h(
              'button',
              { type: 'button', class: 'btn btn-primary', onclick: () => askAck(a) },
              'Acknowledge…',
            ),
      );
    }),
  );
}

function askAck(alarm) {
  askReason({
    title: `Acknowledge ${alarmLabel(alarm.kind).toLowerCase()}`,
    what: alarm.detail ?? '',
    label: 'Note (optional)',
    optional: true,
    submit: 'Acknowledge',
    run: async (note) => {
      const r = await api.ackAlarm(alarm.id, note);
      // The answer is the acknowledged alarm.
      upsertAlarm(
        (r?.id === alarm.id ? r : r?.alarm) ?? {
          ...alarm,
          ackedAt: new Date().toISOString(),
          ackedBy: state.me?.username,
          ackNote: note,
        },
      );
      toast('Alarm acknowledged');
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Unable-to-collect report

function reportRange() {
  const from = $('report-from').value;
  const to = $('report-to').value;
  if (!from || !to) return null;
  // Local days → an instant range [from 00:00, day after `to` 00:00).
  const start = new Date(`${from}T00:00:00`);
  const end = new Date(`${to}T00:00:00`);
  end.setDate(end.getDate() + 1);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) return null;
  return { from: start.toISOString(), to: end.toISOString() };
}

function updateCsvLink() {
  const range = reportRange();
  const link = $('report-csv');
  if (!range) {
    link.removeAttribute('href');
    link.setAttribute('aria-disabled', 'true');
    return;
  }
  link.removeAttribute('aria-disabled');
  link.href = api.unableToCollectCsvUrl(range.from, range.to);
  link.download = `unable-to-collect-${$('report-from').value}-to-${$('report-to').value}.csv`;
}

function wireReport() {
  $('report-from').addEventListener('change', updateCsvLink);
  $('report-to').addEventListener('change', updateCsvLink);
  $('report-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    await loadReport();
  });
}

async function loadReport() {
  const range = reportRange();
  if (!range) return formError('report-error', 'Choose a valid date range.');
  formError('report-error', null);
  updateCsvLink();
  try {
    const r = await api.unableToCollect(range.from, range.to);
    const rows = listOf(r, 'records').length ? listOf(r, 'records') : listOf(r, 'items');
    const root = $('report');
    if (rows.length === 0) {
      render(root, h('p', { class: 'empty-note' }, 'Nothing owed in this period.'));
      return;
    }
    const totals = new Map();
    for (const row of rows) {
      const c = row.amount?.currency ?? lotCurrency();
      totals.set(c, (totals.get(c) ?? 0) + (row.amount?.amount ?? 0));
    }
    render(
      root,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['When', 'Plate', 'Reservation', 'Lane', 'Amount owed'].map((t, i) =>
                h('th', { class: i === 4 ? 'num' : '' }, t),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            rows.map((row) =>
              h(
                'tr',
                {},
                h('td', {}, fmtDateTime(row.at)),
                h('td', {}, row.plate ? h('span', { class: 'plate' }, row.plate) : '—'),
                h('td', {}, row.reservationId ?? '—'),
                h('td', {}, row.laneId ? laneName(state.lanes.get(row.laneId) ?? { id: row.laneId }) : '—'),
                h('td', { class: 'num' }, fmtMoney(row.amount)),
              ),
            ),
            [...totals].map(([currency, amount]) =>
              h(
                'tr',
                { class: 'total-row' },
                h('td', { colspan: '4' }, `Total (${rows.length})`),
                h('td', { class: 'num' }, fmtMoney({ amount, currency })),
              ),
            ),
          ),
        ),
      ),
    );
  } catch (err) {
    formError('report-error', message(err));
  }
}

// ---------------------------------------------------------------------------------------------
// Audit

async function loadAudit() {
  const root = $('audit');
  try {
    const rows = listOf(await api.audit(), 'entries');
    if (rows.length === 0) {
      render(root, h('p', { class: 'empty-note' }, 'No attendant actions recorded yet.'));
      return;
    }
    render(
      root,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['When', 'Attendant', 'Action', 'Target', 'Reason'].map((t) => h('th', {}, t)),
            ),
          ),
          h(
            'tbody',
            {},
            rows.map((a) =>
              h(
                'tr',
                { dataset: { action: a.action } },
                h('td', {}, fmtDateTime(a.at)),
                h('td', {}, a.attendant),
                h('td', {}, String(a.action).replaceAll('_', ' ')),
                h('td', {}, a.target ?? '—'),
                h('td', {}, a.reason ?? '—'),
              ),
            ),
          ),
        ),
      ),
    );
  } catch (err) {
    render(root, h('p', { class: 'form-error' }, message(err)));
  }
}

// ---------------------------------------------------------------------------------------------
// Tabs (WAI-ARIA tabs: arrow keys move between tabs, Tab moves into the panel)

function wireTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  for (const tab of tabs) {
    tab.addEventListener('click', () => selectTab(tab.id, true));
    tab.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(tab);
      let next = null;
      if (e.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
      else if (e.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (e.key === 'Home') next = tabs[0];
      else if (e.key === 'End') next = tabs[tabs.length - 1];
      if (next) {
        e.preventDefault();
        selectTab(next.id, true);
        next.focus();
      }
    });
  }
}

function selectTab(tabId, userAction) {
  for (const tab of document.querySelectorAll('[role=tab]')) {
    const selected = tab.id === tabId;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute('aria-controls')).hidden = !selected;
  }
  if (!userAction) return;
  if (tabId === 'tab-audit') loadAudit();
  if (tabId === 'tab-report') loadReport();
  if (tabId === 'tab-lookup') $('lookup-q').focus();
}

// ---------------------------------------------------------------------------------------------
// Dialogs

function wireDialogs() {
  for (const dialog of document.querySelectorAll('dialog')) {
    for (const close of dialog.querySelectorAll('[data-close]'))
      close.addEventListener('click', () => dialog.close());
  }
  $('open-preset').addEventListener('change', (e) => {
    if (e.target.value) $('open-reason').value = e.target.value;
    $('open-reason').focus();
  });
  $('open-form').addEventListener('submit', (e) => {
    e.preventDefault();
    submitOpen();
  });
  // Enter in the reason box submits; Shift+Enter makes a new line.
  for (const id of ['open-reason', 'reason-text']) {
    $(id).addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        e.target.form.requestSubmit();
      }
    });
  }
  $('cash-form').addEventListener('submit', (e) => {
    e.preventDefault();
    submitCash();
  });
  $('reason-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const action = state.reasonAction;
    if (!action) return;
    const text = $('reason-text').value.trim();
    if (!action.optional && text.length < 3) {
      formError('reason-error', 'A reason is required (at least 3 characters).');
      $('reason-text').focus();
      return;
    }
    try {
      await action.run(text);
      $('reason-dialog').close();
    } catch (err) {
      formError('reason-error', message(err));
    }
  });
}

function askReason({ title, what, label, optional, submit, run }) {
  state.reasonAction = { run, optional: Boolean(optional) };
  $('reason-title').textContent = title;
  $('reason-what').textContent = what ?? '';
  $('reason-label').textContent = label ?? 'Reason (required)';
  $('reason-text').required = !optional;
  $('reason-text').value = '';
  $('reason-submit').textContent = submit ?? 'Confirm';
  formError('reason-error', null);
  $('reason-dialog').showModal();
  $('reason-text').focus();
}

// ---------------------------------------------------------------------------------------------
// Small things

function formError(id, text) {
  const el = $(id);
  el.textContent = text ?? '';
  el.hidden = !text;
}

function message(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return err.message;
    if (err.status === 403) return 'You are not allowed to do this.';
    return err.message || `Request failed (${err.status})`;
  }
  return err?.message ?? String(err);
}

let toastTimer = null;
function toast(text, kind = 'info') {
  const el = $('toast');
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 4000);
}
