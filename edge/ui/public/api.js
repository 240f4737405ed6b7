// The attendant JSON API of this lot's controller (edge/attendant). Every route the page uses is here.

const TOKEN_KEY = 'parkedge.attendant.token';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || body?.error || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? null;
    this.body = body;
  }
}

export function createApi({ onUnauthorized } = {}) {
  let token = sessionStorage.getItem(TOKEN_KEY);

  async function call(method, path, body) {
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { error: 'unreachable', message: 'The lot controller is not answering.' });
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { message: text };
      }
    }
    if (res.status === 401 && path !== '/api/login') {
      setToken(null);
      onUnauthorized?.();
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  function setToken(value) {
    token = value;
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  const enc = encodeURIComponent;

  return {
    get token() {
      return token;
    },
    hasSession: () => Boolean(token),
    async login(username, password) {
      const r = await call('POST', '/api/login', { username, password });
      setToken(r?.token ?? null);
      return r;
    },
    /** Sessions are signed tokens that expire by themselves: logging out forgets ours. */
    async logout() {
      setToken(null);
    },
    me: () => call('GET', '/api/me'),
    lanes: () => call('GET', '/api/lanes'),
    occupancy: () => call('GET', '/api/occupancy'),
    connectivity: () => call('GET', '/api/connectivity'),
    lookupPlate: (plate) => call('GET', `/api/lookup?plate=${enc(plate)}`),
    lookupReservation: (code) => call('GET', `/api/lookup?reservationId=${enc(code)}`),
    openLane: (laneId, reason) => call('POST', `/api/lanes/${enc(laneId)}/open`, { reason }),
    /** amount: minor units collected (omit: everything due now). */
    cashPayment: (sessionId, amount) => call('POST', `/api/sessions/${enc(sessionId)}/cash`, { amount }),
    resetPassback: (reservationId, reason) =>
      call('POST', `/api/passback/${enc(reservationId)}/reset`, { reason }),
    alarms: (all) => call('GET', `/api/alarms?status=${all ? 'all' : 'open'}`),
    ackAlarm: (id, note) => call('POST', `/api/alarms/${enc(id)}/ack`, { note: note || undefined }),
    unableToCollect: (from, to) =>
      call('GET', `/api/reports/unable-to-collect?from=${enc(from)}&to=${enc(to)}`),
    unableToCollectCsvUrl: (from, to) =>
      withToken(`/api/reports/unable-to-collect.csv?from=${enc(from)}&to=${enc(to)}`),
    audit: (limit = 100) => call('GET', `/api/audit?limit=${limit}`),
    /** SSE stream; EventSource cannot send headers, so the session token rides in the query. */
    eventsUrl: () => withToken('/api/events'),
  };

  function withToken(url) {
    if (!token) return url;
    return `${url}${url.includes('?') ? '&' : '?'}token=${enc(token)}`;
  }
}
