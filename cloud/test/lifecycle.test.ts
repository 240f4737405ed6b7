import t from 'tap';
import { verifyCredential } from '../../protocol/credential.js';
import { ChangeSchema } from '../../protocol/mqtt.js';
import { buildTestCloud, HOUR, iso, lotBody, MIN, payCheckout, T0 } from './helpers.js';

/** The whole booking lifecycle over HTTP, plus the change log it leaves behind. */

t.test('lifecycle', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  t.comment(`database: ${cloud.kind}`);

  // ---- auth: register, log in, refresh with rotation ----
  const reg = await cloud.call('POST', '/v1/auth/register', {
    body: { email: 'Driver@Example.com', password: 'a long enough password' },
  });
  t.equal(reg.status, 201);
  t.equal(reg.body.user.role, 'driver');
  t.equal(reg.body.user.email, 'driver@example.com');
  const dup = await cloud.call('POST', '/v1/auth/register', {
    body: { email: 'driver@example.com', password: 'a long enough password' },
  });
  t.equal(dup.status, 409);
  t.equal(dup.body.error, 'email_taken');

  const bad = await cloud.call('POST', '/v1/auth/token', {
    body: { email: 'driver@example.com', password: 'nope' },
  });
  t.equal(bad.status, 401);
  const login = await cloud.call('POST', '/v1/auth/token', {
    body: { email: 'driver@example.com', password: 'a long enough password' },
  });
  t.equal(login.status, 200);
  const driverToken: string = login.body.accessToken;
  t.equal((await cloud.call('GET', '/v1/me', { token: driverToken })).body.email, 'driver@example.com');

  const refreshed = await cloud.call('POST', '/v1/auth/refresh', {
    body: { refreshToken: login.body.refreshToken },
  });
  t.equal(refreshed.status, 200);
  t.not(refreshed.body.refreshToken, login.body.refreshToken, 'rotated');
  const reused = await cloud.call('POST', '/v1/auth/refresh', {
    body: { refreshToken: login.body.refreshToken },
  });
  t.equal(reused.status, 401);
  t.equal(reused.body.error, 'refresh_token_reused');
  const afterTheft = await cloud.call('POST', '/v1/auth/refresh', {
    body: { refreshToken: refreshed.body.refreshToken },
  });
  t.equal(afterTheft.status, 401, 'reuse revoked the whole family');

  // ---- the first admin from configuration, and users with roles ----
  t.equal(await cloud.app.users.ensureAdmin('boss@example.com', 'admin password 123'), 'created');
  t.equal(await cloud.app.users.ensureAdmin('boss@example.com', 'other password 123'), 'exists');
  const adminLogin = await cloud.call('POST', '/v1/auth/token', {
    body: { email: 'boss@example.com', password: 'admin password 123' },
  });
  const adminToken: string = adminLogin.body.accessToken;
  const opUser = await cloud.call('POST', '/v1/users', {
    token: adminToken,
    body: { email: 'op@example.com', password: 'operator password', role: 'operator' },
  });
  t.equal(opUser.status, 201);
  const opToken = (
    await cloud.call('POST', '/v1/auth/token', {
      body: { email: 'op@example.com', password: 'operator password' },
    })
  ).body.accessToken as string;

  // ---- lots ----
  const body = lotBody({ id: 'berlin-central' }, 3);
  const created = await cloud.call('POST', '/v1/lots', { token: opToken, body });
  t.equal(created.status, 201);
  t.equal(created.body.spots.length, 3);
  t.equal((await cloud.call('POST', '/v1/lots', { token: opToken, body })).body.error, 'lot_exists');
  t.equal((await cloud.call('POST', '/v1/lots', { token: driverToken, body })).status, 403);
  await cloud.call('POST', '/v1/lots', {
    token: opToken,
    body: lotBody({ id: 'potsdam', name: 'Potsdam', location: { lat: 52.39, lng: 13.06 } }, 1),
  });

  const near = await cloud.call('GET', '/v1/lots?lat=52.39&lng=13.07&radiusKm=50', { token: driverToken });
  t.equal(near.status, 200);
  t.same(
    near.body.lots.map((l: { id: string }) => l.id),
    ['potsdam', 'berlin-central'],
    'nearest first',
  );
  t.ok(near.body.lots[1].distanceKm > 20 && near.body.lots[1].distanceKm < 30);
  const few = await cloud.call('GET', '/v1/lots?lat=52.39&lng=13.07&radiusKm=5', { token: driverToken });
  t.same(
    few.body.lots.map((l: { id: string }) => l.id),
    ['potsdam'],
  );
  t.equal(
    (await cloud.call('GET', '/v1/lots/berlin-central', { token: driverToken })).body.name,
    'Central Garage',
  );
  t.equal((await cloud.call('GET', '/v1/lots/nope', { token: driverToken })).status, 404);

  const patched = await cloud.call('PATCH', '/v1/lots/berlin-central', {
    token: opToken,
    body: { policy: { refund: 'full_before_start' } },
  });
  t.equal(patched.status, 200);
  t.equal(patched.body.policy.refund, 'full_before_start');
  t.equal(patched.body.policy.holdMinutes, 15, 'other policy fields kept');
  t.equal(patched.body.version, 2);
  const stranger = await cloud.userWithToken('operator');
  t.equal(
    (await cloud.call('PATCH', '/v1/lots/berlin-central', { token: stranger.token, body: { name: 'x' } }))
      .status,
    404,
    'an operator of other lots cannot change this one',
  );

  // ---- capacity and reservation ----
  const start = T0 + 2 * HOUR;
  const end = T0 + 4 * HOUR;
  const capUrl = `/v1/lots/berlin-central/capacity?vehicleType=car&start=${iso(start)}&end=${iso(end)}`;
  t.same((await cloud.call('GET', capUrl, { token: driverToken })).body, {
    available: 3,
    price: { amount: 800, currency: 'EUR' },
  });
  const evCap = await cloud.call(
    'GET',
    `/v1/lots/berlin-central/capacity?vehicleType=van&start=${iso(start)}&end=${iso(end)}`,
    { token: driverToken },
  );
  t.equal(evCap.body.available, 0, 'no van spots');

  const reserve = await cloud.call('POST', '/v1/reservations', {
    token: driverToken,
    body: { lotId: 'berlin-central', vehicleType: 'ev', plate: 'B-XY 42', start: iso(start), end: iso(end) },
  });
  t.equal(reserve.status, 201);
  t.equal(reserve.body.status, 'TENTATIVE');
  t.match(reserve.body.spot, /^A-\d$/);
  t.same(reserve.body.price, { amount: 800, currency: 'EUR' });
  t.equal(reserve.body.holdExpiresAt, iso(T0 + 15 * MIN));
  t.match(reserve.body.paymentUrl, /^http:\/\/localhost\/v1\/sandbox\/checkout\//);
  const id: string = reserve.body.id;
  t.equal((await cloud.call('GET', capUrl, { token: driverToken })).body.available, 2);

  const overlap = await cloud.call('POST', '/v1/reservations', {
    token: driverToken,
    body: {
      lotId: 'potsdam',
      vehicleType: 'car',
      plate: 'bxy42',
      start: iso(start + HOUR),
      end: iso(end + HOUR),
    },
  });
  t.equal(overlap.status, 409);
  t.equal(overlap.body.error, 'plate_overlap', 'one car, one reservation, in any lot');

  const checkout = await cloud.call(
    'GET',
    `/v1/sandbox/checkout/${reserve.body.paymentUrl.split('/').pop()}`,
  );
  t.equal(checkout.status, 200);
  t.match(String(checkout.headers['content-type']), /text\/html/);

  // Invalid token: stays TENTATIVE.
  const wrong = await cloud.call('POST', `/v1/reservations/${id}/complete`, {
    token: driverToken,
    body: { paymentToken: 'garbage.token' },
  });
  t.equal(wrong.status, 402);
  t.equal(wrong.body.error, 'payment_invalid');
  t.equal(
    (await cloud.call('GET', `/v1/reservations/${id}`, { token: driverToken })).body.status,
    'TENTATIVE',
  );

  const paymentToken = await payCheckout(cloud, reserve.body.paymentUrl);
  const other = await cloud.userWithToken('driver');
  t.equal(
    (
      await cloud.call('POST', `/v1/reservations/${id}/complete`, {
        token: other.token,
        body: { paymentToken },
      })
    ).status,
    404,
    'others cannot even see it',
  );
  const done = await cloud.call('POST', `/v1/reservations/${id}/complete`, {
    token: driverToken,
    body: { paymentToken },
  });
  t.equal(done.status, 200);
  t.equal(done.body.status, 'CONFIRMED');
  t.equal(done.body.plate, 'BXY42');

  // The credential verifies with the published key.
  const keys = await cloud.call('GET', '/v1/keys');
  const verified = verifyCredential(done.body.credential, keys.body.keys, {
    lotId: 'berlin-central',
    nowMs: start,
    earlyArrivalMinutes: 15,
  });
  t.ok(verified.ok, 'credential verifies');
  if (verified.ok) t.equal(verified.value.rid, id);

  const png = await cloud.app.inject({
    method: 'GET',
    url: `/v1/reservations/${id}/qr`,
    headers: { authorization: `Bearer ${driverToken}` },
  });
  t.equal(png.statusCode, 200);
  t.equal(png.headers['content-type'], 'image/png');
  t.same([...png.rawPayload.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'PNG magic');
  const svg = await cloud.call('GET', `/v1/reservations/${id}/qr?format=svg`, { token: driverToken });
  t.equal(svg.status, 200);
  t.match(svg.body, /<svg/);

  // ---- listing ----
  const mine = await cloud.call('GET', '/v1/reservations', { token: driverToken });
  t.equal(mine.body.reservations.length, 1);
  const opList = await cloud.call('GET', '/v1/reservations?lotId=berlin-central&status=CONFIRMED', {
    token: opToken,
  });
  t.equal(opList.body.reservations.length, 1);
  t.equal(
    (await cloud.call('GET', '/v1/reservations?lotId=berlin-central', { token: stranger.token })).status,
    404,
  );

  // ---- gate facts: arrival, departure ----
  const attendant = await cloud.userWithToken('attendant', ['berlin-central']);
  cloud.clock.set(start - 30 * MIN);
  const early = await cloud.call('POST', '/v1/lots/berlin-central/arrivals', {
    token: attendant.token,
    body: { plate: 'BXY 42' },
  });
  t.equal(early.status, 409);
  t.equal(early.body.error, 'too_early');
  cloud.clock.set(start - 10 * MIN);
  const arrived = await cloud.call('POST', '/v1/lots/berlin-central/arrivals', {
    token: attendant.token,
    body: { plate: 'BXY 42' },
  });
  t.equal(arrived.status, 200);
  t.equal(arrived.body.reservation.status, 'CHECKED_IN');
  const again = await cloud.call('POST', '/v1/lots/berlin-central/arrivals', {
    token: attendant.token,
    body: { reservationId: id },
  });
  t.equal(again.body.error, 'already_checked_in', 'anti-passback');
  t.equal(
    (
      await cloud.call('POST', '/v1/lots/berlin-central/arrivals', {
        token: driverToken,
        body: { reservationId: id },
      })
    ).status,
    403,
  );

  cloud.clock.set(end + 20 * MIN);
  const left = await cloud.call('POST', '/v1/lots/berlin-central/departures', {
    token: attendant.token,
    body: { reservationId: id },
  });
  t.equal(left.status, 200);
  t.equal(left.body.reservation.status, 'COMPLETED');
  t.equal(left.body.overstayMinutes, 20);
  t.same(left.body.charge, { amount: 200, currency: 'EUR' }, '2 started slots × 400/4');
  t.same(await cloud.bitmapMismatches(), []);

  // ---- change log: gapless per lot, on the MQTT contract ----
  const changes = await cloud.app.changes.changesSince('berlin-central', 0, 100);
  t.same(
    changes.map((c) => c.seq),
    [1, 2, 3, 4],
  );
  t.same(
    changes.map((c) => c.reason),
    ['created', 'confirmed', 'checked_in', 'completed'],
  );
  for (const c of changes) t.ok(ChangeSchema.safeParse(c).success);
  t.equal(await cloud.app.changes.headSeq('berlin-central'), 4);
  t.same(
    (await cloud.app.changes.changesSince('berlin-central', 2, 1)).map((c) => c.seq),
    [3],
  );
  t.equal(await cloud.app.changes.headSeq('potsdam'), 0);

  // ---- ops endpoints ----
  const metrics = await cloud.call('GET', '/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.body, /parkedge_cloud_reservations_total\{outcome="created"\} 1/);
  const doc = await cloud.call('GET', '/openapi.json');
  for (const path of [
    '/v1/auth/register',
    '/v1/auth/token',
    '/v1/auth/refresh',
    '/v1/lots',
    '/v1/lots/{lotId}',
    '/v1/lots/{lotId}/capacity',
    '/v1/reservations',
    '/v1/reservations/{id}/complete',
    '/v1/reservations/{id}/cancel',
    '/v1/reservations/{id}/qr',
    '/v1/keys',
    '/v1/lots/{lotId}/arrivals',
    '/v1/lots/{lotId}/departures',
  ]) {
    t.ok(doc.body.paths[path], `OpenAPI has ${path}`);
  }
  t.ok(doc.body.components.schemas.Reservation, 'shared schemas are components');
  const docs = await cloud.app.inject({ method: 'GET', url: '/docs/' });
  t.equal(docs.statusCode, 200);
});

t.test('cancel refunds per lot policy', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  await cloud.call('POST', '/v1/lots', {
    token: op.token,
    body: lotBody({ id: 'refunding', policy: { ...lotBody().policy, refund: 'full_before_start' } }, 2),
  });
  await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'strict' }, 2) });
  const driver = await cloud.userWithToken('driver');

  async function confirmed(lotId: string, plate: string) {
    const r = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { lotId, vehicleType: 'car', plate, start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) },
    });
    const paymentToken = await payCheckout(cloud, r.body.paymentUrl);
    await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken },
    });
    return r.body.id as string;
  }

  const a = await confirmed('refunding', 'AA11');
  const ca = await cloud.call('POST', `/v1/reservations/${a}/cancel`, { token: driver.token });
  t.equal(ca.status, 200);
  t.equal(ca.body.reservation.status, 'CANCELLED');
  t.same(ca.body.refund, { amount: 400, currency: 'EUR' });
  const refunds = await cloud.db.rows<{ status: string; amount: number }>(
    `select status, amount from payments where reservation_id = $1 and kind = 'refund'`,
    [a],
  );
  t.same(refunds, [{ status: 'succeeded', amount: 400 }], 'refund went through the provider');

  const b = await confirmed('strict', 'BB22');
  const cb = await cloud.call('POST', `/v1/reservations/${b}/cancel`, { token: driver.token });
  t.same(cb.body.refund, { amount: 0, currency: 'EUR' }, 'policy none: no refund');
  const twice = await cloud.call('POST', `/v1/reservations/${b}/cancel`, { token: driver.token });
  t.equal(twice.status, 200, 'cancel is safe to repeat');

  // Cancelling a tentative hold frees the spot too.
  const tentative = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: {
      lotId: 'strict',
      vehicleType: 'car',
      plate: 'CC33',
      start: iso(T0 + HOUR),
      end: iso(T0 + 2 * HOUR),
    },
  });
  t.equal(
    (await cloud.call('POST', `/v1/reservations/${tentative.body.id}/cancel`, { token: driver.token }))
      .status,
    200,
  );
  const cap = await cloud.call(
    'GET',
    `/v1/lots/strict/capacity?vehicleType=car&start=${iso(T0 + HOUR)}&end=${iso(T0 + 2 * HOUR)}`,
    { token: driver.token },
  );
  t.equal(cap.body.available, 2);
  t.same(await cloud.bitmapMismatches(), []);
  t.same(
    (await cloud.app.changes.changesSince('strict', 0, 100)).map((c) => c.reason),
    ['created', 'confirmed', 'cancelled', 'created', 'cancelled'],
  );
});
