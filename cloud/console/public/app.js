// @ts-check
// The console shell: log in (the server sets an HttpOnly cookie), then route by the URL hash:
// #fleet, #lot/<id>, #bookings, #debts. Nothing secret is ever in the URL.
import { api, whenUnauthorized } from './api.js';
import { showBookings } from './bookings.js';
import { showDashboard } from './dashboard.js';
import { showDebts } from './debts.js';
import { $, render } from './dom.js';
import { showFleet } from './fleet.js';

const login = $('login', HTMLFormElement);
const view = $('view');

function loggedOut() {
  $('nav').hidden = true;
  $('user-box').hidden = true;
  view.hidden = true;
  login.hidden = false;
  $('email', HTMLInputElement).focus();
}

/** @param {{ email: string, role: string }} user */
function loggedIn(user) {
  login.hidden = true;
  $('nav').hidden = false;
  $('user-box').hidden = false;
  $('user-name').textContent = `${user.email} (${user.role})`;
  view.hidden = false;
  route();
}

async function route() {
  if (view.hidden) return;
  const hash = location.hash.slice(1);
  render(view);
  try {
    if (hash.startsWith('lot/')) await showDashboard(view, decodeURIComponent(hash.slice(4)));
    else if (hash === 'bookings') await showBookings(view);
    else if (hash === 'debts') await showDebts(view);
    else await showFleet(view);
  } catch (e) {
    render(view, `Could not load: ${e instanceof Error ? e.message : String(e)}`);
  }
}

login.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    const { user } = await api('POST', '/v1/console/session', {
      email: $('email', HTMLInputElement).value,
      password: $('password', HTMLInputElement).value,
    });
    $('password', HTMLInputElement).value = '';
    loggedIn(user);
  } catch (e) {
    $('login-error').textContent = e instanceof Error ? e.message : String(e);
  }
});

$('logout').addEventListener('click', async () => {
  await api('DELETE', '/v1/console/session').catch(() => {});
  loggedOut();
});

whenUnauthorized(loggedOut);
window.addEventListener('hashchange', route);
api('GET', '/v1/console/session').then(({ user }) => loggedIn(user), loggedOut);
