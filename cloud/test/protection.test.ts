import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0 } from './helpers.js';

/** Idempotency keys, roles on every route, rate limits, validation errors. */

t.test('protection', async (t) => {
  const cloud = await buildTestCloud({
    config: { rateLimits: { capacityPerUserPerMinute: 5, reservePerLotPerMinute: 1000 } },
  });
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'guarded' }, 3) });
  const driver = await cloud.userWithToken('driver');
  const window = { start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) };

  t.test('Idempotency-Key on reserve', async (t) => {
    const body = { lotId: 'guarded', vehicleType: 'car', plate: 'ID1', ...window };
    const headers = { 'idempotency-key': 'reserve-1' };
    const first = await cloud.call('POST', '/v1/reservations', { token: driver.token, body, headers });
    t.equal(first.status, 201);
    const second = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      // Same body, other key order: still the same request.
      body: { end: body.end, start: body.start, plate: 'ID1', vehicleType: 'car', lotId: 'guarded' },
      headers,
    });
    t.equal(second.status, 201);
    t.same(second.body, first.body, 'the first response again');
    t.equal(second.headers['idempotent-replayed'], 'true');
    const rows = await cloud.db.rows('select 1 from reservations where plate = $1', ['ID1']);
    t.equal(rows.length, 1, 'one reservation');

    const different = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { ...body, plate: 'ID2' },
      headers,
    });
    t.equal(different.status, 422);
    t.equal(different.body.error, 'idempotency_key_reused');

    const otherUser = await cloud.userWithToken('driver');
    const scoped = await cloud.call('POST', '/v1/reservations', {
      token: otherUser.token,
      body: { ...body, plate: 'ID3' },
      headers,
    });
    t.equal(scoped.status, 201, 'keys are per user');

    // A refusal is a response too: replayed as is.
    const full = { ...body, plate: 'ID4' };
    const r1 = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { ...full, vehicleType: 'van' },
      headers: { 'idempotency-key': 'van-1' },
    });
    t.equal(r1.status, 409);
    const r2 = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { ...full, vehicleType: 'van' },
      headers: { 'idempotency-key': 'van-1' },
    });
    t.equal(r2.status, 409);
    t.same(r2.body, r1.body);
  });

  t.test('Idempotency-Key on complete and cancel', async (t) => {
    const r = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { lotId: 'guarded', vehicleType: 'car', plate: 'ID9', ...window },
    });
    const paymentToken = await payCheckout(cloud, r.body.paymentUrl);
    const headers = { 'idempotency-key': 'pay-1' };
    const c1 = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken },
      headers,
    });
    const c2 = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken },
      headers,
    });
    t.equal(c1.status, 200);
    t.same(c2.body, c1.body);
    const captures = await cloud.db.rows(
      `select 1 from payments where reservation_id = $1 and kind = 'capture'`,
      [r.body.id],
    );
    t.equal(captures.length, 1, 'captured once');
    const other = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken: 'something else' },
      headers,
    });
    t.equal(other.status, 422);
    const x1 = await cloud.call('POST', `/v1/reservations/${r.body.id}/cancel`, {
      token: driver.token,
      headers: { 'idempotency-key': 'cancel-1' },
    });
    const x2 = await cloud.call('POST', `/v1/reservations/${r.body.id}/cancel`, {
      token: driver.token,
      headers: { 'idempotency-key': 'cancel-1' },
    });
    t.equal(x1.status, 200);
    t.same(x2.body, x1.body);
    const bad = await cloud.call('POST', `/v1/reservations/${r.body.id}/cancel`, {
      token: driver.token,
      headers: { 'idempotency-key': 'has spaces' },
    });
    t.equal(bad.status, 400);
    t.equal(bad.body.field, 'headers.idempotency-key');
  });

  t.test('roles on every route', async (t) => {
    const routes = cloud.app.printRoutes({ commonPrefix: false });
    t.ok(routes.length > 0);
    // Browsing lots needs no account (docs/pricing.md); an invalid token is refused even there.
    t.equal((await cloud.call('GET', '/v1/lots')).status, 200);
    const unauth = await cloud.call('GET', '/v1/me');
    t.equal(unauth.status, 401);
    t.equal(unauth.body.error, 'unauthorized');
    t.equal((await cloud.call('GET', '/v1/lots', { token: 'not.a.jwt' })).status, 401);
    const attendant = await cloud.userWithToken('attendant', ['guarded']);
    const partner = await cloud.userWithToken('partner');
    const checks: [string, 'GET' | 'POST' | 'PATCH', string, number, unknown?][] = [
      [driver.token, 'POST', '/v1/lots', 403, lotBody()],
      [attendant.token, 'POST', '/v1/lots', 403, lotBody()],
      [partner.token, 'PATCH', '/v1/lots/guarded', 403, { name: 'x' }],
      [driver.token, 'POST', '/v1/users', 403, { email: 'a@b.co', password: 'abcdefghijk', role: 'admin' }],
      [
        attendant.token,
        'POST',
        '/v1/reservations',
        403,
        { lotId: 'guarded', vehicleType: 'car', plate: 'X1', ...window },
      ],
      [driver.token, 'POST', '/v1/lots/guarded/arrivals', 403, { plate: 'X1' }],
      [partner.token, 'POST', '/v1/lots/guarded/departures', 403, { plate: 'X1' }],
    ];
    for (const [token, method, url, status, body] of checks) {
      const r = await cloud.call(method, url, { token, body });
      t.equal(r.status, status, `${method} ${url}`);
    }
    const p = await cloud.call('POST', '/v1/reservations', {
      token: partner.token,
      body: { lotId: 'guarded', vehicleType: 'car', plate: 'PARTNER1', ...window },
    });
    t.equal(p.status, 201, 'partners book');
    // An attendant of another lot sees nothing of this one.
    const elsewhere = await cloud.userWithToken('attendant', []);
    const r = await cloud.call('POST', '/v1/lots/guarded/arrivals', {
      token: elsewhere.token,
      body: { plate: 'X1' },
    });
    t.equal(r.status, 404);
    t.equal(
      (await cloud.call('GET', `/v1/reservations/${p.body.id}`, { token: attendant.token })).status,
      200,
      'staff of the lot see its reservations',
    );
    t.equal((await cloud.call('GET', `/v1/reservations/${p.body.id}`, { token: driver.token })).status, 404);
  });

  t.test('expired access tokens are refused', async (t) => {
    const u = await cloud.userWithToken('driver');
    const now = cloud.clock.now();
    cloud.clock.set(now + cloud.config.auth.accessTokenTtlSeconds * 1000 + 1000);
    t.equal((await cloud.call('GET', '/v1/me', { token: u.token })).status, 401);
    cloud.clock.set(now);
    t.equal((await cloud.call('GET', '/v1/me', { token: u.token })).status, 200);
  });

  t.test('per-user rate limit on capacity', async (t) => {
    const u = await cloud.userWithToken('driver');
    const url = `/v1/lots/guarded/capacity?vehicleType=car&start=${window.start}&end=${window.end}`;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await cloud.call('GET', url, { token: u.token })).status);
    t.same(statuses, [200, 200, 200, 200, 200, 429, 429]);
    const limited = await cloud.call('GET', url, { token: u.token });
    t.equal(limited.body.error, 'rate_limited');
    const other = await cloud.userWithToken('driver');
    t.equal(
      (await cloud.call('GET', url, { token: other.token })).status,
      200,
      'another user is not limited',
    );
  });

  t.test('validation errors name the field and the rule', async (t) => {
    const cases: [unknown, string, string][] = [
      [
        { lotId: 'guarded', vehicleType: 'car', plate: 'V1', start: 'tomorrow', end: window.end },
        'body.start',
        'invalid_format',
      ],
      [{ lotId: 'guarded', vehicleType: 'bus', plate: 'V1', ...window }, 'body.vehicleType', 'invalid_value'],
      [
        {
          lotId: 'guarded',
          vehicleType: 'car',
          plate: 'V1',
          start: iso(T0 + HOUR + 60_000),
          end: window.end,
        },
        'body.start',
        'unaligned',
      ],
      [
        { lotId: 'guarded', vehicleType: 'car', plate: 'V1', start: window.end, end: window.start },
        'body.end',
        'not_after_start',
      ],
      [
        { lotId: 'guarded', vehicleType: 'car', plate: 'V1', start: iso(T0 - HOUR), end: window.end },
        'body.start',
        'in_past',
      ],
      [
        {
          lotId: 'guarded',
          vehicleType: 'car',
          plate: 'V1',
          start: window.start,
          end: iso(T0 + 8 * 24 * HOUR),
        },
        'body.end',
        'too_long',
      ],
      [
        {
          lotId: 'guarded',
          vehicleType: 'car',
          plate: 'V1',
          start: iso(T0 + 100 * 24 * HOUR),
          end: iso(T0 + 100 * 24 * HOUR + HOUR),
        },
        'body.start',
        'beyond_horizon',
      ],
      [{ lotId: 'guarded', vehicleType: 'car', plate: '!!', ...window }, 'body.plate', 'invalid_plate'],
      [{ vehicleType: 'car', plate: 'V1', ...window }, 'body.lotId', 'invalid_type'],
    ];
    for (const [body, field, rule] of cases) {
      const r = await cloud.call('POST', '/v1/reservations', { token: driver.token, body });
      t.equal(r.status, 400, `${field} ${rule}`);
      t.equal(r.body.field, field);
      t.equal(r.body.rule, rule);
    }
    const q = await cloud.call(
      'GET',
      '/v1/lots/guarded/capacity?vehicleType=car&start=2030-01-07T09:07:00Z&end=x',
      {
        token: driver.token,
      },
    );
    t.equal(q.status, 400);
    t.equal(q.body.field, 'query.end');
    const notJson = await cloud.app.inject({
      method: 'POST',
      url: '/v1/reservations',
      headers: { authorization: `Bearer ${driver.token}`, 'content-type': 'application/json' },
      payload: '{"lotId":',
    });
    t.equal(notJson.statusCode, 400);
    t.notMatch(notJson.body, /at .*\.js/, 'no stack trace');
    const lotDup = lotBody();
    lotDup.spots.push({ ...lotDup.spots[0]!, label: 'other' });
    const dup = await cloud.call('POST', '/v1/lots', { token: op.token, body: lotDup });
    t.equal(dup.status, 400);
    t.equal(dup.body.field, 'body.spots.4.id');
  });
});
