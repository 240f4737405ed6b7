import fc from 'fast-check';
import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0 } from './helpers.js';

/**
 * Random and hostile bodies, params, query strings and headers at every route: never a 500, never
 * a crash, every refusal in the one error shape. Bounded runs keep the file well under 30 s.
 */

t.test('fuzz every route', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  const driver = await cloud.userWithToken('driver');
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'fuzz-lot' }, 3) });
  const reserved = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: {
      lotId: 'fuzz-lot',
      vehicleType: 'car',
      plate: 'FZ1',
      start: iso(T0 + HOUR),
      end: iso(T0 + 2 * HOUR),
    },
  });
  const rid: string = reserved.body.id;
  const checkout = String(reserved.body.paymentUrl).split('/').pop()!;
  const paymentToken = await payCheckout(cloud, reserved.body.paymentUrl);

  const validBodies: Record<string, Record<string, unknown>> = {
    register: { email: 'someone@example.com', password: 'long enough password' },
    token: { email: 'someone@example.com', password: 'x' },
    refresh: { refreshToken: 'a'.repeat(40) },
    user: {
      email: 'new@example.com',
      password: 'long enough password',
      role: 'operator',
      lotIds: ['fuzz-lot'],
    },
    lot: lotBody({ id: 'fuzz-new' }, 2) as unknown as Record<string, unknown>,
    patch: { rates: { currency: 'EUR', hourlyRate: 100 }, policy: { holdMinutes: 5 } },
    reserve: {
      lotId: 'fuzz-lot',
      vehicleType: 'car',
      plate: 'FZ2',
      start: iso(T0 + HOUR),
      end: iso(T0 + 2 * HOUR),
    },
    complete: { paymentToken },
    fact: { reservationId: rid, at: iso(T0) },
    pay: { checkout },
  };

  type Route = {
    method: 'GET' | 'POST' | 'PATCH';
    path: string;
    body?: keyof typeof validBodies;
    query?: string[];
  };
  const routes: Route[] = [
    { method: 'POST', path: '/v1/auth/register', body: 'register' },
    { method: 'POST', path: '/v1/auth/token', body: 'token' },
    { method: 'POST', path: '/v1/auth/refresh', body: 'refresh' },
    { method: 'GET', path: '/v1/me' },
    { method: 'POST', path: '/v1/users', body: 'user' },
    { method: 'POST', path: '/v1/lots', body: 'lot' },
    { method: 'GET', path: '/v1/lots', query: ['lat', 'lng', 'radiusKm', 'limit'] },
    { method: 'GET', path: '/v1/lots/:lotId' },
    { method: 'PATCH', path: '/v1/lots/:lotId', body: 'patch' },
    { method: 'GET', path: '/v1/lots/:lotId/capacity', query: ['vehicleType', 'start', 'end'] },
    { method: 'POST', path: '/v1/reservations', body: 'reserve' },
    { method: 'GET', path: '/v1/reservations', query: ['lotId', 'status', 'limit', 'cursor'] },
    { method: 'GET', path: '/v1/reservations/:id' },
    { method: 'POST', path: '/v1/reservations/:id/complete', body: 'complete' },
    { method: 'POST', path: '/v1/reservations/:id/cancel' },
    { method: 'GET', path: '/v1/reservations/:id/qr', query: ['format'] },
    { method: 'GET', path: '/v1/keys' },
    { method: 'POST', path: '/v1/lots/:lotId/arrivals', body: 'fact' },
    { method: 'POST', path: '/v1/lots/:lotId/departures', body: 'fact' },
    { method: 'GET', path: '/v1/sandbox/checkout/:checkout' },
    { method: 'POST', path: '/v1/sandbox/pay', body: 'pay' },
    { method: 'GET', path: '/health' },
    { method: 'GET', path: '/ready' },
  ];

  const hostileString = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.constantFrom(
      '',
      ' ',
      '..',
      '../../etc/passwd',
      '%00',
      '\u0000',
      '__proto__',
      'constructor',
      "' or 1=1 --",
      '"; drop table reservations; --',
      'x'.repeat(5000),
      '2030-01-07T09:00:00Z',
      '2030-02-30T09:00:00Z',
      '9999-12-31T23:45:00+14:00',
      '-1',
      '1e308',
      'NaN',
      'fuzz-lot',
      rid,
      '🚗',
    ),
  );
  const hostileValue = fc.oneof(
    fc.anything({ maxDepth: 3, withNullPrototype: true, withBigInt: false }),
    hostileString,
    fc.double(),
    fc.integer(),
    fc.constantFrom(null, true, [], {}, Number.MAX_SAFE_INTEGER + 2, -0),
  );
  const param = fc.oneof(fc.constantFrom('fuzz-lot', rid, checkout), hostileString);

  /** A valid body with some fields replaced, removed or added: reaches deeper than pure noise. */
  const mutatedBody = (base: Record<string, unknown>) =>
    fc
      .tuple(
        fc.array(fc.tuple(fc.constantFrom(...Object.keys(base), '__proto__', 'extra'), hostileValue), {
          maxLength: 3,
        }),
        fc.array(fc.constantFrom(...Object.keys(base)), { maxLength: 2 }),
      )
      .map(([sets, drops]) => {
        const b: Record<string, unknown> = { ...base };
        for (const [k, v] of sets) b[k] = v;
        for (const k of drops) delete b[k];
        return JSON.stringify(b);
      });

  const request = fc.constantFrom(...routes).chain((route) =>
    fc.record({
      route: fc.constant(route),
      params: fc.tuple(param, param),
      body: fc.oneof(
        route.body ? mutatedBody(validBodies[route.body]!) : fc.constant(undefined),
        fc.json({ maxDepth: 3 }),
        hostileString,
        fc.constant(undefined),
      ),
      query: fc.array(
        fc.tuple(fc.oneof(fc.constantFrom(...(route.query ?? ['q'])), hostileString), hostileString),
        { maxLength: 4 },
      ),
      // Mostly valid tokens, so requests get past authentication and into the handlers.
      auth: fc.oneof(
        { arbitrary: fc.constant(`Bearer ${admin.token}`), weight: 5 },
        { arbitrary: fc.constant(`Bearer ${driver.token}`), weight: 3 },
        { arbitrary: fc.constantFrom(undefined, 'Bearer ', 'Basic abc', 'Bearer a.b.c'), weight: 1 },
        { arbitrary: hostileString.map((s) => `Bearer ${s}`), weight: 1 },
      ),
      contentType: fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        '',
      ),
      idempotencyKey: fc.option(hostileString, { nil: undefined }),
    }),
  );

  let requests = 0;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      let url = r.route.path.replace(/:(lotId|id|checkout)/, encodeURIComponent(r.params[0]));
      url = url.replace(/:(lotId|id|checkout)/, encodeURIComponent(r.params[1]));
      if (r.query.length)
        url += `?${r.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
      const headers: Record<string, string> = {};
      if (r.auth !== undefined) headers.authorization = r.auth.replace(/[\r\n]/g, '');
      if (r.contentType) headers['content-type'] = r.contentType;
      if (r.idempotencyKey !== undefined)
        headers['idempotency-key'] = r.idempotencyKey.replace(/[^\x20-\x7e]/g, '');
      let res: Awaited<ReturnType<typeof cloud.app.inject>>;
      try {
        res = await cloud.app.inject({
          method: r.route.method,
          url,
          headers,
          ...(r.body !== undefined && r.route.method !== 'GET' ? { payload: r.body } : {}),
        });
      } catch (e) {
        // inject itself refuses some header values (as an HTTP client would); that is not the app.
        if (e instanceof TypeError && /header|character/i.test(e.message)) return;
        throw e;
      }
      requests++;
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500 && !(r.route.path === '/ready' && res.statusCode === 503)) {
        throw new Error(`${r.route.method} ${url} → ${res.statusCode}: ${res.body.slice(0, 300)}`);
      }
      if (res.statusCode >= 400) {
        const body = res.json() as { error?: unknown; message?: unknown };
        if (typeof body.error !== 'string' || typeof body.message !== 'string') {
          throw new Error(
            `${r.route.method} ${url} → ${res.statusCode} without the error shape: ${res.body.slice(0, 200)}`,
          );
        }
        if (/\bat .+:\d+:\d+/.test(res.body))
          throw new Error(`stack trace leaked: ${res.body.slice(0, 200)}`);
      }
    }),
    { numRuns: 1500, seed: 20300107, endOnFailure: true },
  );
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  t.ok(requests > 1000, `${requests} hostile requests served`);
  t.equal((await cloud.call('GET', '/health')).status, 200, 'still serving');
  t.same(await cloud.bitmapMismatches(), [], 'and the bitmaps are still right');
});
