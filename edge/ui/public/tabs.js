// @ts-check
// The section tabs (WAI-ARIA tabs: arrow keys move between tabs, Tab moves into the panel). Opening
// Audit or Unable-to-collect loads it fresh.
import { loadAudit } from './audit.js';
import { loadDebts } from './debts.js';
import { $ } from './dom.js';
import { logFailure } from './notices.js';
import { loadReport } from './report.js';

/** @import { Ctx } from './state.js' */

/** @param {Ctx} ctx */
export function wireTabs(ctx) {
  const tabs = /** @type {HTMLElement[]} */ ([...document.querySelectorAll('[role=tab]')]);
  for (const tab of tabs) {
    tab.addEventListener('click', () => selectTab(ctx, tab.id, true));
    tab.addEventListener('keydown', (e) => {
      const next = neighbourTab(tabs, tabs.indexOf(tab), e.key);
      if (!next) return;
      e.preventDefault();
      selectTab(ctx, next.id, true);
      next.focus();
    });
  }
}

/**
 * The tab a key moves to, or null when the key is not for moving.
 * @param {HTMLElement[]} tabs
 * @param {number} i
 * @param {string} key
 */
function neighbourTab(tabs, i, key) {
  if (key === 'ArrowRight') return tabs[(i + 1) % tabs.length] ?? null;
  if (key === 'ArrowLeft') return tabs[(i - 1 + tabs.length) % tabs.length] ?? null;
  if (key === 'Home') return tabs[0] ?? null;
  if (key === 'End') return tabs[tabs.length - 1] ?? null;
  return null;
}

/**
 * @param {Ctx} ctx
 * @param {string} tabId
 * @param {boolean} userAction the attendant chose it (load its data, move focus)
 */
export function selectTab(ctx, tabId, userAction) {
  for (const tab of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[role=tab]'))) {
    const selected = tab.id === tabId;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute('aria-controls') ?? '').hidden = !selected;
  }
  if (!userAction) return;
  if (tabId === 'tab-audit') loadAudit(ctx);
  if (tabId === 'tab-debts') loadDebts(ctx);
  if (tabId === 'tab-report') loadReport(ctx).catch(logFailure('report'));
  if (tabId === 'tab-lookup') $('lookup-q').focus();
}
