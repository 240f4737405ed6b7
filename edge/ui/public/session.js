// @ts-check
// Log-in and log-out: the form, and switching between it and the console.
import { ApiError } from './api.js';
import { $ } from './dom.js';
import { hideLotBanners, setLot } from './lot.js';
import { formError, logFailure, message } from './notices.js';
import { initReportRange } from './report.js';
import { closeStream, loadSnapshot, openStream } from './stream.js';
import { selectTab } from './tabs.js';

/** @import { LoginReply, MeReply } from '../types.js' */
/** @import { Ctx } from './state.js' */

/** @param {Ctx} ctx */
export function wireLogin(ctx) {
  const form = $('login-form', HTMLFormElement);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const username = $('login-user', HTMLInputElement).value.trim();
    const password = $('login-pass', HTMLInputElement).value;
    if (!username || !password) return formError('login-error', 'Enter your user name and password.');
    formError('login-error', null);
    const button = /** @type {HTMLButtonElement} */ (
      event.submitter ?? form.querySelector('button[type=submit]')
    );
    button.disabled = true;
    try {
      const r = await ctx.api.login(username, password);
      $('login-pass', HTMLInputElement).value = '';
      await enterApp(ctx, r?.username ? r : await ctx.api.me());
    } catch (err) {
      const wrong = err instanceof ApiError && err.status === 401;
      formError('login-error', wrong ? 'Wrong user name or password.' : message(err));
      $('login-pass', HTMLInputElement).select();
    } finally {
      button.disabled = false;
    }
  });
  $('logout').addEventListener('click', async () => {
    // Whatever the answer (an expired session is logged out already), go to the log-in form.
    await ctx.api.logout().catch(logFailure('log-out'));
    showLogin(ctx);
  });
}

/**
 * Resume the session the browser's cookie holds, or ask for a log-in.
 * @param {Ctx} ctx
 */
export function start(ctx) {
  if (!ctx.api.hasSession()) {
    showLogin(ctx);
    return;
  }
  ctx.api.me().then(
    (me) => enterApp(ctx, me),
    // No session, or an expired one: ask for a (new) log-in.
    () => showLogin(ctx),
  );
}

/**
 * @param {Ctx} ctx
 * @param {string} [notice] why (e.g. the session ended)
 */
export function showLogin(ctx, notice) {
  closeStream(ctx);
  ctx.state.me = null;
  $('app-view').hidden = true;
  $('user-box').hidden = true;
  $('link-banner').hidden = true;
  hideLotBanners();
  $('stream-warning').hidden = true;
  $('login-view').hidden = false;
  formError('login-error', notice ?? null);
  $('login-user').focus();
}

/**
 * @param {Ctx} ctx
 * @param {LoginReply | MeReply} me
 */
async function enterApp(ctx, me) {
  ctx.state.me = me ?? null;
  if (me?.lotId || me?.lotName)
    setLot(ctx, { id: me.lotId, name: me.lotName, currency: me.currency, simulatedLanes: me.simulatedLanes });
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('user-box').hidden = false;
  $('link-banner').hidden = false;
  $('user-name').textContent = me?.displayName || me?.username || '';
  initReportRange(ctx);
  openStream(ctx);
  await loadSnapshot(ctx);
  selectTab(ctx, 'tab-live', false);
}
