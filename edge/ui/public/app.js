// @ts-check
// parkedge attendant console: the composition root. Plain ES modules, no build step, no third-party
// code: the page is served by the lot controller itself and must work with the internet down. Live
// data arrives by server push (stream.js); each tab is its own module, wired here to one shared
// context (state.js).
import { wireAlarms } from './alarms.js';
import { createApi } from './api.js';
import { loadAudit } from './audit.js';
import { loadDebts } from './debts.js';
import { wireCash } from './cash.js';
import { wireDialogs } from './dialogs.js';
import { $ } from './dom.js';
import { wireLookup } from './lookup.js';
import { createToast } from './notices.js';
import { wireOpenLane } from './open-lane.js';
import { wireReport } from './report.js';
import { showLogin, start, wireLogin } from './session.js';
import { createState } from './state.js';
import { wireTabs } from './tabs.js';

/** @import { Ctx } from './state.js' */

document.addEventListener('DOMContentLoaded', () => {
  /** @type {Ctx} */
  const ctx = {
    api: createApi({
      onUnauthorized: () => showLogin(ctx, 'Your session has ended. Please log in again.'),
    }),
    state: createState(),
    now: () => Date.now(),
    toast: createToast($('toast')),
  };
  wireLogin(ctx);
  wireTabs(ctx);
  wireDialogs(ctx);
  wireOpenLane(ctx);
  wireCash(ctx);
  wireLookup(ctx);
  wireAlarms(ctx);
  wireReport(ctx);
  $('audit-refresh').addEventListener('click', () => loadAudit(ctx));
  $('debts-refresh').addEventListener('click', () => loadDebts(ctx));
  start(ctx);
});
