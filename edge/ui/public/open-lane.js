// @ts-check
// Manual open: the dialog that opens a lane's barrier once, with the attendant's reason (audited).
import { refreshAuditIfShown } from './audit.js';
import { $ } from './dom.js';
import { addFeed, auditKey, auditText } from './feed.js';
import { laneLabel, laneName } from './lane-model.js';
import { formError, logFailure, message } from './notices.js';

/** @import { Ctx } from './state.js' */

const MIN_REASON = 3;

/**
 * Ask for a reason to open this lane.
 * @param {Ctx} ctx
 * @param {string} laneId
 */
export function openLaneDialog(ctx, laneId) {
  ctx.state.openLaneId = laneId;
  const lane = ctx.state.lanes.get(laneId);
  $('open-title').textContent = `Open ${laneLabel(lane)}`;
  $('open-reason', HTMLTextAreaElement).value = '';
  $('open-preset', HTMLSelectElement).value = '';
  formError('open-error', null);
  $('open-dialog', HTMLDialogElement).showModal();
  $('open-reason').focus();
}

/**
 * The dialog's own controls: a preset fills the reason; submitting opens the barrier.
 * @param {Ctx} ctx
 */
export function wireOpenLane(ctx) {
  $('open-preset', HTMLSelectElement).addEventListener('change', (e) => {
    const preset = /** @type {HTMLSelectElement} */ (e.target).value;
    if (preset) $('open-reason', HTMLTextAreaElement).value = preset;
    $('open-reason').focus();
  });
  $('open-form').addEventListener('submit', (e) => {
    e.preventDefault();
    submitOpen(ctx).catch(logFailure('manual open'));
  });
}

/** @param {Ctx} ctx */
async function submitOpen(ctx) {
  const reason = $('open-reason', HTMLTextAreaElement).value.trim();
  if (reason.length < MIN_REASON) {
    formError('open-error', `A reason is required (at least ${MIN_REASON} characters).`);
    $('open-reason').focus();
    return;
  }
  const { state } = ctx;
  const laneId = state.openLaneId;
  if (laneId === null) return;
  const button = $('open-form').querySelector('button[type=submit]');
  if (!(button instanceof HTMLButtonElement)) return;
  button.disabled = true;
  try {
    const own = {
      attendant: state.me?.username,
      action: 'manual_open',
      target: laneName(state.lanes.get(laneId)),
      reason,
    };
    // The stream may announce the audit entry before this request returns: recognise it as ours.
    state.ownAudit = { key: auditKey(own), at: ctx.now() };
    await ctx.api.openLane(laneId, reason);
    $('open-dialog', HTMLDialogElement).close();
    ctx.toast(`Barrier opened at ${laneLabel(state.lanes.get(laneId))}`);
    addFeed(ctx, 'audit', new Date(ctx.now()), auditText(own));
    refreshAuditIfShown(ctx);
  } catch (err) {
    formError('open-error', message(err));
  } finally {
    button.disabled = false;
  }
}
