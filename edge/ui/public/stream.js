// @ts-check
// Live data. A snapshot of everything at start, after a reconnect of the stream and on request;
// between snapshots, server push (EventSource on /api/events) keeps each section current. No polling.
import { alarmLabel, setAlarms, upsertAlarm } from './alarms.js';
import { refreshAuditIfShown } from './audit.js';
import { $, h } from './dom.js';
import { addFeed, auditKey, auditText, isSessionAction, shortCode } from './feed.js';
import { confidenceText, laneFor, laneLabel, laneName } from './lane-model.js';
import { renderLane, setLanes } from './lanes.js';
import { setLink, setOutboxDepth } from './link.js';
import { setLot } from './lot.js';
import { refreshDebtsIfShown } from './debts.js';
import { logFailure } from './notices.js';
import { scheduleOccupancyRefresh, setOccupancy } from './occupancy.js';

/** @import { StreamEventName, StreamEvents } from '../types.js' */
/** @import { Ctx } from './state.js' */

/** How long after our own action its pushed audit entry counts as the one we already showed. */
const OWN_AUDIT_MS = 10_000;
/** Wait before re-opening a stream the server refused, once the session is known to be valid. */
const REOPEN_MS = 2000;

/**
 * Lanes, occupancy, link and alarms as they are now.
 * @param {Ctx} ctx
 */
export async function loadSnapshot(ctx) {
  const { api, state } = ctx;
  const [lanes, occupancy, link, alarms] = await Promise.allSettled([
    api.lanes(),
    api.occupancy(),
    api.connectivity(),
    api.alarms(state.showAllAlarms),
  ]);
  if (lanes.status === 'fulfilled') setLanes(ctx, lanes.value.lanes);
  if (occupancy.status === 'fulfilled') setOccupancy(ctx, occupancy.value);
  if (link.status === 'fulfilled' && link.value) setLink(ctx, link.value);
  if (alarms.status === 'fulfilled') setAlarms(ctx, alarms.value.alarms);
}

/** @param {Ctx} ctx */
export function openStream(ctx) {
  closeStream(ctx);
  const { state } = ctx;
  const source = new EventSource(ctx.api.eventsUrl());
  state.stream = source;
  source.addEventListener('open', () => {
    $('stream-warning').hidden = true;
    // After a drop, events may have been missed: take a fresh snapshot once.
    if (state.streamWasOpen) loadSnapshot(ctx).catch(logFailure('snapshot after reconnect'));
    state.streamWasOpen = true;
  });
  source.addEventListener('error', () => onStreamError(ctx, source));
  for (const name of /** @type {StreamEventName[]} */ (Object.keys(HANDLERS))) {
    source.addEventListener(name, (e) => dispatch(ctx, name, /** @type {MessageEvent<string>} */ (e)));
  }
}

/** @param {Ctx} ctx */
export function closeStream(ctx) {
  ctx.state.stream?.close();
  ctx.state.stream = null;
  ctx.state.streamWasOpen = false;
}

/**
 * The browser retries a dropped stream by itself; one the server refused stays closed.
 * @param {Ctx} ctx
 * @param {EventSource} source
 */
function onStreamError(ctx, source) {
  const { state } = ctx;
  if (state.stream !== source) return;
  $('stream-warning').hidden = false;
  if (source.readyState !== EventSource.CLOSED) return;
  // Refused (e.g. session expired): check the session, retry once it is valid. An invalid session
  // already sent the attendant to the log-in form (the API's 401 handling).
  ctx.api
    .me()
    .then(
      () => setTimeout(() => state.stream === source && openStream(ctx), REOPEN_MS),
      logFailure('session check after the stream closed'),
    );
}

/**
 * @template {StreamEventName} K
 * @param {Ctx} ctx
 * @param {K} name
 * @param {MessageEvent<string>} e
 */
function dispatch(ctx, name, e) {
  /** @type {StreamEvents[K]} */
  let data;
  try {
    data = JSON.parse(e.data);
  } catch (err) {
    logFailure(`reading the ${name} event`)(err);
    return;
  }
  /** @type {(ctx: Ctx, ev: StreamEvents[K]) => void} */ (HANDLERS[name])(ctx, data);
}

/** What each pushed event changes on the page. */
/** @type {{ [K in StreamEventName]: (ctx: Ctx, ev: StreamEvents[K]) => void }} */
const HANDLERS = {
  hello(ctx, ev) {
    // Sent first on every (re)connect: the state right now.
    if (ev.lotId || ev.lotName)
      setLot(ctx, {
        id: ev.lotId,
        name: ev.lotName,
        currency: ev.currency,
        simulatedLanes: ev.simulatedLanes,
      });
    if (Array.isArray(ev.lanes)) setLanes(ctx, ev.lanes);
    if (ev.connectivity) setLink(ctx, { ...ev.connectivity, outboxDepth: ev.outboxDepth });
  },
  lane(ctx, ev) {
    const lane = laneFor(ctx.state, ev.laneId);
    lane.state = ev.state ?? lane.state;
    if (Array.isArray(ev.display)) lane.display = ev.display;
    // The event says where the lane is, not where the arm is: derive the arm from the state.
    lane.armDerived = true;
    renderLane(ctx, lane);
    if (ev.state === 'REFUSED') {
      addFeed(ctx, 'refused', ev.at, `${laneLabel(lane)}: refused — ${(ev.display ?? []).join(' ')}`);
    }
  },
  read(ctx, ev) {
    const lane = laneFor(ctx.state, ev.laneId);
    lane.lastRead = { plate: ev.plate, confidence: ev.confidence, at: ev.at };
    renderLane(ctx, lane);
    addFeed(ctx, 'read', ev.at, [
      `${laneLabel(lane)}: plate `,
      h('span', { class: 'plate' }, ev.plate),
      ` read (${confidenceText(ev.confidence)})`,
    ]);
  },
  passage(ctx, ev) {
    const lane = laneFor(ctx.state, ev.laneId);
    const who = ev.plate ? h('span', { class: 'plate' }, ev.plate) : 'unidentified vehicle';
    const verb = ev.direction === 'exit' ? 'left' : 'entered';
    const booking = ev.reservationId ? [' · booking ', shortCode(ev.reservationId)] : '';
    // "entered"/"left" already says which way: the lane's name is enough.
    addFeed(ctx, 'passage', ev.at, [who, ` ${verb} via ${laneName(lane)}`, booking]);
    scheduleOccupancyRefresh(ctx);
  },
  alarm(ctx, alarm) {
    upsertAlarm(ctx, alarm);
    const lane = alarm.laneId ? ctx.state.lanes.get(alarm.laneId) : null;
    addFeed(ctx, 'alarm', alarm.raisedAt, [
      h('strong', {}, alarmLabel(alarm.kind)),
      lane ? ` at ${laneLabel(lane)}` : '',
      alarm.detail ? ` — ${alarm.detail}` : '',
    ]);
  },
  alarm_ack(ctx, alarm) {
    upsertAlarm(ctx, alarm);
  },
  connectivity(ctx, ev) {
    setLink(ctx, { state: ev.state, since: ev.since });
    addFeed(ctx, 'link', ev.since, `Cloud link ${ev.state}`);
  },
  outbox(ctx, ev) {
    setOutboxDepth(ctx, ev.depth);
  },
  audit(ctx, a) {
    refreshAuditIfShown(ctx);
    // Staff log-ins are audit only; our own action was already shown when the server accepted it.
    if (isSessionAction(a)) return;
    const own = ctx.state.ownAudit;
    if (own && own.key === auditKey(a) && ctx.now() - own.at < OWN_AUDIT_MS) return;
    addFeed(ctx, 'audit', a.at, auditText(a));
  },
  money(ctx) {
    refreshDebtsIfShown(ctx);
  },
  device(ctx, ev) {
    const lane = laneFor(ctx.state, ev.laneId);
    lane.devices = { ...(lane.devices ?? {}), [ev.device]: ev.health };
    renderLane(ctx, lane);
  },
};
