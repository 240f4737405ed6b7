import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0 } from './helpers.js';

/**
 * The operator console's API: the cookie session (HttpOnly, SameSite=Strict, CSRF header on every
 * state-changing cookie request), operators scoped to their lots, booking search, and the operator
 * refund (once, at most what was captured, reason recorded, the provider's refund).
 */

const cookieOf = (setCookie: unknown) => String(setCookie).split(';')[0]!;

t.test('console session, search and refund', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  for (const id of ['north', 'south']) {
    t.equal(
      (await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id }) })).status,
      201,
    );
  }
  const operator = await cloud.userWithToken('operator', ['north']);
  const driver = await cloud.userWithToken('driver');
  const book = async (lotId: string, plate: string) => {
    const start = T0 + 2 * HOUR;
    const r = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { lotId, vehicleType: 'car', plate, start: iso(start), end: iso(start + HOUR) },
    });
    const paymentToken = await payCheckout(cloud, r.body.paymentUrl);
    const done = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken },
    });
    t.equal(done.body.status, 'CONFIRMED');
    return done.body as { id: string; price: { amount: number } };
  };
  const north = await book('north', 'NO 1');
  const south = await book('south', 'SO 2');

  const login = (email: string, headers: Record<string, string> = { 'x-parkedge-console': '1' }) =>
    cloud.app.inject({
      method: 'POST',
      url: '/v1/console/session',
      headers,
      payload: { email, password: 'correct horse battery' },
    });
  t.equal(
    (await login(operator.user.email, {})).statusCode,
    403,
    'log-in without the console header: refused',
  );
  t.equal((await login(driver.user.email)).statusCode, 403, 'a driver may not use the console');
  const ok = await login(operator.user.email);
  t.equal(ok.statusCode, 200);
  const setCookie = String(ok.headers['set-cookie']);
  t.match(setCookie, /HttpOnly/);
  t.match(setCookie, /SameSite=Strict/);
  t.notMatch(setCookie, /Secure/, 'not Secure over plain http');
  const cookie = cookieOf(setCookie);
  const call = (method: 'GET' | 'POST', url: string, payload?: object, csrf = true) =>
    cloud.app.inject({
      method,
      url,
      headers: { cookie, ...(csrf ? { 'x-parkedge-console': '1' } : {}) },
      ...(payload ? { payload } : {}),
    });

  t.equal(
    (await call('GET', '/v1/console/session')).json().user.email,
    operator.user.email,
    'the cookie authenticates',
  );
  t.same(
    (await call('GET', '/v1/console/lots')).json().lots.map((l: { id: string }) => l.id),
    ['north'],
    'own lots only',
  );

  const found = (await call('GET', '/v1/console/reservations?plate=no-1')).json().reservations;
  t.same(
    found.map((r: { id: string }) => r.id),
    [north.id],
    'found by plate, however typed',
  );
  t.same(
    (await call('GET', '/v1/console/reservations?plate=SO')).json().reservations,
    [],
    "not another lot's",
  );
  const byCode = (
    await call('GET', `/v1/console/reservations?code=${north.id.slice(0, 6)}&status=CONFIRMED`)
  ).json();
  t.same(
    byCode.reservations.map((r: { id: string }) => r.id),
    [north.id],
    'found by code and status',
  );
  t.equal(
    (await call('GET', `/v1/console/reservations/${south.id}/story`)).statusCode,
    404,
    "another lot's story: 404",
  );

  const refundUrl = `/v1/reservations/${north.id}/refund`;
  const forged = await call('POST', refundUrl, { reason: 'x' }, false);
  t.equal(forged.statusCode, 403, 'a cookie request without the console header is refused (CSRF)');
  t.equal(forged.json().error, 'csrf');
  t.equal(
    (await call('POST', refundUrl, { reason: 'too much', amount: north.price.amount + 1 })).statusCode,
    409,
  );
  const refunded = await call('POST', refundUrl, { reason: 'barrier fault', amount: 100 });
  t.equal(refunded.statusCode, 200);
  t.match(refunded.json().payment, {
    kind: 'refund',
    amount: 100,
    status: 'succeeded',
    detail: /barrier fault/,
  });
  const story = (await call('GET', `/v1/console/reservations/${north.id}/story`)).json();
  t.same(
    story.story.map((e: { what: string }) => e.what),
    ['created', 'paid', 'refunded'],
    'the story: created, paid, refunded',
  );
  t.equal(story.refundable, north.price.amount - 100, 'what is left to refund');
  const rest = await call('POST', refundUrl, { reason: 'again, the rest' });
  t.equal(rest.statusCode, 200, 'a second, partial refund: the rest');
  t.equal(rest.json().payment.amount, north.price.amount - 100);
  t.equal(
    (await call('POST', refundUrl, { reason: 'once more' })).statusCode,
    409,
    'never more than captured',
  );

  const other = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: {
      lotId: 'north',
      vehicleType: 'car',
      plate: 'NO 3',
      start: iso(T0 + 5 * HOUR),
      end: iso(T0 + 6 * HOUR),
    },
  });
  const cancelled = await call('POST', `/v1/reservations/${other.body.id}/cancel`);
  t.equal(cancelled.statusCode, 200, 'the operator cancels a booking of their lot with the cookie');
  t.equal(cancelled.json().reservation.status, 'CANCELLED');

  const out = await call('POST', '/v1/console/session', undefined);
  t.equal(out.statusCode, 400, 'log-in needs a body');
  const logout = await cloud.app.inject({
    method: 'DELETE',
    url: '/v1/console/session',
    headers: { cookie, 'x-parkedge-console': '1' },
  });
  t.match(String(logout.headers['set-cookie']), /pe_console=;.*Max-Age=0/, 'log-out clears the cookie');
  t.equal(
    (await cloud.app.inject({ method: 'GET', url: '/v1/console/lots' })).statusCode,
    401,
    'no cookie: 401',
  );
});
