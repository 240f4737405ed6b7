// @ts-check
// What every dialog shares (Cancel buttons, Enter to submit a reason), and the reason dialog: one
// confirmation with a reason or note, used by passback reset and alarm acknowledgement.
import { $ } from './dom.js';
import { formError, logFailure, message } from './notices.js';

/** @import { Ctx } from './state.js' */

const MIN_REASON = 3;

/**
 * @typedef {object} ReasonRequest
 * @property {string} title
 * @property {string} [what] what will happen, in a sentence
 * @property {string} [label] the text box's label (default "Reason (required)")
 * @property {boolean} [optional] the text may be empty (a note rather than a reason)
 * @property {string} [submit] the confirm button's text
 * @property {(text: string) => Promise<void>} run the action; a throw is shown in the dialog
 */

/** @param {Ctx} ctx */
export function wireDialogs(ctx) {
  for (const dialog of document.querySelectorAll('dialog')) {
    for (const close of dialog.querySelectorAll('[data-close]'))
      close.addEventListener('click', () => dialog.close());
  }
  // Enter in the reason box submits; Shift+Enter makes a new line.
  for (const id of ['open-reason', 'reason-text']) {
    $(id, HTMLTextAreaElement).addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        /** @type {HTMLTextAreaElement} */ (e.target).form?.requestSubmit();
      }
    });
  }
  $('reason-form').addEventListener('submit', (e) => {
    e.preventDefault();
    submitReason(ctx).catch(logFailure('confirmation'));
  });
}

/**
 * Open the reason dialog for one action.
 * @param {Ctx} ctx
 * @param {ReasonRequest} request
 */
export function askReason(ctx, { title, what, label, optional, submit, run }) {
  ctx.state.reasonAction = { run, optional: Boolean(optional) };
  $('reason-title').textContent = title;
  $('reason-what').textContent = what ?? '';
  $('reason-label').textContent = label ?? 'Reason (required)';
  const text = $('reason-text', HTMLTextAreaElement);
  text.required = !optional;
  text.value = '';
  $('reason-submit').textContent = submit ?? 'Confirm';
  formError('reason-error', null);
  $('reason-dialog', HTMLDialogElement).showModal();
  text.focus();
}

/** @param {Ctx} ctx */
async function submitReason(ctx) {
  const action = ctx.state.reasonAction;
  if (!action) return;
  const text = $('reason-text', HTMLTextAreaElement).value.trim();
  if (!action.optional && text.length < MIN_REASON) {
    formError('reason-error', `A reason is required (at least ${MIN_REASON} characters).`);
    $('reason-text').focus();
    return;
  }
  try {
    await action.run(text);
    $('reason-dialog', HTMLDialogElement).close();
  } catch (err) {
    formError('reason-error', message(err));
  }
}
