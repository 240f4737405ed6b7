// @ts-check
// The Alarms tab and its badge: open alarms (or all), kept current by pushed events; acknowledge one
// with an optional note.
import { askReason } from './dialogs.js';
import { $, fmtDateTime, h, render } from './dom.js';
import { laneLabel } from './lane-model.js';
import { message } from './notices.js';

/** @import { AlarmView } from '../types.js' */
/** @import { Ctx } from './state.js' */

/** @type {Record<string, string>} */
const ALARM_LABELS = {
  tailgate: 'Tailgate',
  barrier_fault: 'Barrier fault',
  device_fault: 'Device lost',
  device_lost: 'Device lost',
  passback_violation: 'Passback violation',
  clock_skew: 'Clock skew',
};

/** @param {Ctx} ctx */
export function wireAlarms(ctx) {
  $('alarms-all', HTMLInputElement).addEventListener('change', async (e) => {
    ctx.state.showAllAlarms = /** @type {HTMLInputElement} */ (e.target).checked;
    try {
      setAlarms(ctx, (await ctx.api.alarms(ctx.state.showAllAlarms)).alarms);
    } catch (err) {
      ctx.toast(message(err), 'error');
    }
  });
}

/**
 * @param {Ctx} ctx
 * @param {AlarmView[]} list
 */
export function setAlarms(ctx, list) {
  ctx.state.alarms = list.slice();
  renderAlarms(ctx);
}

/**
 * A new or changed alarm (pushed, or our own acknowledgement).
 * @param {Ctx} ctx
 * @param {AlarmView} alarm
 */
export function upsertAlarm(ctx, alarm) {
  if (alarm?.id === undefined) return;
  const alarms = ctx.state.alarms;
  const i = alarms.findIndex((a) => a.id === alarm.id);
  if (i >= 0) alarms[i] = { ...alarms[i], ...alarm };
  else alarms.unshift(alarm);
  renderAlarms(ctx);
}

/** @param {string | null | undefined} kind */
export function alarmLabel(kind) {
  return ALARM_LABELS[kind ?? ''] ?? String(kind ?? 'alarm').replaceAll('_', ' ');
}

/** @param {Ctx} ctx */
function renderAlarms(ctx) {
  const { state } = ctx;
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
    shown.map((a) => alarmCard(ctx, a)),
  );
}

/**
 * @param {Ctx} ctx
 * @param {AlarmView} a
 */
function alarmCard(ctx, a) {
  const lane = a.laneId ? ctx.state.lanes.get(a.laneId) : null;
  const acked = a.ackedAt
    ? ` · acknowledged by ${a.ackedBy ?? '?'} ${fmtDateTime(a.ackedAt)}${a.ackNote ? ` — “${a.ackNote}”` : ''}`
    : '';
  return h(
    'div',
    { class: 'card alarm', dataset: { acked: String(Boolean(a.ackedAt)), alarmId: String(a.id) } },
    h(
      'div',
      {},
      h('div', { class: 'alarm-kind' }, alarmLabel(a.kind), lane ? ` — ${laneLabel(lane)}` : ''),
      a.detail ? h('div', {}, a.detail) : null,
      h('div', { class: 'muted' }, `Raised ${fmtDateTime(a.raisedAt)}`, acked),
    ),
    a.ackedAt
      ? null
      : h(
          'button',
          { type: 'button', class: 'btn btn-primary', onclick: () => askAck(ctx, a) },
          'Acknowledge…',
        ),
  );
}

/**
 * @param {Ctx} ctx
 * @param {AlarmView} alarm
 */
function askAck(ctx, alarm) {
  askReason(ctx, {
    title: `Acknowledge ${alarmLabel(alarm.kind).toLowerCase()}`,
    what: alarm.detail ?? '',
    label: 'Note (optional)',
    optional: true,
    submit: 'Acknowledge',
    run: async (note) => {
      // The answer is the acknowledged alarm.
      upsertAlarm(ctx, await ctx.api.ackAlarm(alarm.id, note));
      ctx.toast('Alarm acknowledged');
    },
  });
}
