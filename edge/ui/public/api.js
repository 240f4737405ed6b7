// @ts-check
// The attendant JSON API of this lot's controller (edge/attendant). Every route the page uses is here.

/**
 * @import {
 *   ActionReply, AlarmView, AlarmsReply, AuditReply, CashReply, DebtsReply, ConnectivityReply, ErrorBody, LanesReply,
 *   LoginReply, LookupReply, MeReply, OccupancyReply, PassbackResetReply, UnableToCollectReply,
 * } from '../types.js'
 */

/** Where older consoles kept the token; removed on load (the session is an HttpOnly cookie now). */
const LEGACY_TOKEN_KEY = 'parkedge.attendant.token';
/**
 * "This tab logged in" (no secret: the cookie is the session). A reload resumes the session; a page
 * without it shows the log-in form instead of asking the server and getting a 401.
 */
const SESSION_HINT_KEY = 'parkedge.attendant.session';

/** What an answer that is not JSON, or no answer at all, becomes. */
/** @typedef {Partial<ErrorBody> | null} ErrorData */

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the controller did not answer.
   * @param {ErrorData} body
   */
  constructor(status, body) {
    super(body?.message || body?.error || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? null;
    this.body = body;
  }
}

/** @typedef {ReturnType<typeof createApi>} Api */

const enc = encodeURIComponent;

/**
 * The one-request helper every route goes through. The session is an `HttpOnly` cookie the server
 * sets at log-in: the page never holds the token, and it never appears in a URL (the event stream
 * and the CSV download carry it like every other request).
 * @param {(() => void) | undefined} onUnauthorized
 */
function createTransport(onUnauthorized) {
  sessionStorage.removeItem(LEGACY_TOKEN_KEY);
  /** @param {boolean} on */
  const hint = (on) =>
    on ? sessionStorage.setItem(SESSION_HINT_KEY, '1') : sessionStorage.removeItem(SESSION_HINT_KEY);

  /**
   * One request. The answer is trusted to match the route's schema (the server validates it).
   * @template T
   * @param {'GET' | 'POST'} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<T>}
   */
  async function call(method, path, body) {
    const res = await send(method, path, body);
    const data = await readBody(res);
    if (res.status === 401 && path !== '/api/login') {
      hint(false);
      onUnauthorized?.();
    }
    if (!res.ok) throw new ApiError(res.status, /** @type {ErrorData} */ (data));
    return /** @type {T} */ (data);
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} body
   */
  async function send(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      // The network error itself says nothing more useful to an attendant than this.
      throw new ApiError(0, { error: 'unreachable', message: 'The lot controller is not answering.' });
    }
  }

  return { call, hint, hinted: () => sessionStorage.getItem(SESSION_HINT_KEY) === '1' };
}

/** @param {{ onUnauthorized?: () => void }} [options] */
export function createApi({ onUnauthorized } = {}) {
  const { call, hint, hinted } = createTransport(onUnauthorized);
  return {
    /** Whether this tab has logged in (and not out) since it opened. */
    hasSession: hinted,
    /**
     * The answer also sets the session cookie; the token in it is for API clients, not kept here.
     * @param {string} username
     * @param {string} password
     * @returns {Promise<LoginReply>}
     */
    async login(username, password) {
      /** @type {LoginReply} */
      const r = await call('POST', '/api/login', { username, password });
      hint(true);
      return r;
    },
    /** The server clears the session cookie (the signed token itself expires by itself). */
    async logout() {
      hint(false);
      /** @type {ActionReply} */
      const r = await call('POST', '/api/logout');
      return r;
    },
    /** @returns {Promise<MeReply>} */
    me: () => call('GET', '/api/me'),
    /** @returns {Promise<LanesReply>} */
    lanes: () => call('GET', '/api/lanes'),
    /** @returns {Promise<OccupancyReply>} */
    occupancy: () => call('GET', '/api/occupancy'),
    /** @returns {Promise<ConnectivityReply>} */
    connectivity: () => call('GET', '/api/connectivity'),
    /** @param {string} plate @returns {Promise<LookupReply>} */
    lookupPlate: (plate) => call('GET', `/api/lookup?plate=${enc(plate)}`),
    /** @param {string} code @returns {Promise<LookupReply>} */
    lookupReservation: (code) => call('GET', `/api/lookup?reservationId=${enc(code)}`),
    /** @param {string} laneId @param {string} reason @returns {Promise<ActionReply>} */
    openLane: (laneId, reason) => call('POST', `/api/lanes/${enc(laneId)}/open`, { reason }),
    /**
     * @param {string} sessionId
     * @param {number} [amount] minor units collected (omit: everything due now).
     * @returns {Promise<CashReply>}
     */
    cashPayment: (sessionId, amount) => call('POST', `/api/sessions/${enc(sessionId)}/cash`, { amount }),
    /** @param {string} reservationId @param {string} reason @returns {Promise<PassbackResetReply>} */
    resetPassback: (reservationId, reason) =>
      call('POST', `/api/passback/${enc(reservationId)}/reset`, { reason }),
    /** @param {boolean} all @returns {Promise<AlarmsReply>} */
    alarms: (all) => call('GET', `/api/alarms?status=${all ? 'all' : 'open'}`),
    /** @param {number} id @param {string} note @returns {Promise<AlarmView>} */
    ackAlarm: (id, note) => call('POST', `/api/alarms/${enc(id)}/ack`, { note: note || undefined }),
    /** @param {string} from @param {string} to @returns {Promise<UnableToCollectReply>} */
    unableToCollect: (from, to) =>
      call('GET', `/api/reports/unable-to-collect?from=${enc(from)}&to=${enc(to)}`),
    /** @param {string} from @param {string} to */
    unableToCollectCsvUrl: (from, to) => `/api/reports/unable-to-collect.csv?from=${enc(from)}&to=${enc(to)}`,
    /** @returns {Promise<AuditReply>} */
    audit: (limit = 100) => call('GET', `/api/audit?limit=${limit}`),
    /** @returns {Promise<DebtsReply>} */
    debts: () => call('GET', '/api/debts'),
    /** SSE stream; authenticated by the session cookie (EventSource sends it, same origin). */
    eventsUrl: () => '/api/events',
  };
}

/**
 * The answer's JSON; a body that is not JSON (a proxy's error page) becomes its message.
 * @param {Response} res
 * @returns {Promise<unknown>}
 */
async function readBody(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
