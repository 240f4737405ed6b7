// @ts-check
// How the console tells the attendant something: a form's error line, a passing toast, and the words
// for a failed request.
import { ApiError } from './api.js';
import { $ } from './dom.js';

const TOAST_MS = 4000;

/**
 * Show (text) or clear (null) the error line of a form.
 * @param {string} id
 * @param {string | null} text
 */
export function formError(id, text) {
  const el = $(id);
  el.textContent = text ?? '';
  el.hidden = !text;
}

/**
 * What to tell the attendant about a failed request.
 * @param {unknown} err
 */
export function message(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return err.message;
    if (err.status === 403) return 'You are not allowed to do this.';
    return err.message || `Request failed (${err.status})`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * A toast in `el` that hides itself after a few seconds; a new one replaces the current one.
 * @param {HTMLElement} el
 * @returns {(text: string, kind?: 'info' | 'error') => void}
 */
export function createToast(el) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return (text, kind = 'info') => {
    el.textContent = text;
    el.dataset.kind = kind;
    el.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => {
      el.hidden = true;
    }, TOAST_MS);
  };
}

/**
 * For promises nobody awaits: a failure is logged, never silently dropped.
 * @param {string} what
 * @returns {(err: unknown) => void}
 */
export function logFailure(what) {
  return (err) => console.warn(`${what} failed:`, err);
}
