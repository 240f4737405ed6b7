import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0, type TestCloud } from './helpers.js';

/**
 * Changing a lot without stopping it (docs/permits.md#changing-a-lot): spots removed or moved take
 * their future bookings to another free spot in one transaction, or the change is refused with the
 * list; operating hours and closures refuse bookings with the reason. T0 is Monday 09:00 in Berlin.
 */

const DAY = 24 * HOUR;

async function setup(cloud: TestCloud, spots = 3) {
  const lotId = `layout-${Math.floor(Math.random() * 1e9)}`;
  const operator = await cloud.userWithToken('operator');
  const created = await cloud.call('POST', '/v1/lots', {
    token: operator.token,
    body: lotBody({ id: lotId }, spots),
  });
  if (created.status !== 201) throw new Error(`lot: ${created.status}`);
  const driver = await cloud.userWithToken('driver');
  let n = 0;
  const book = async (start: number, end: number) => {
    const r = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      headers: { 'idempotency-key': `layout-${lotId}-${++n}` },
      body: { lotId, vehicleType: 'car', plate: `B-LY ${n}`, start: iso(start), end: iso(end) },
    });
    if (r.status !== 201) return r;
    const token = await payCheckout(cloud, r.body.paymentUrl);
    const done = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken: token },
    });
    return done;
  };
  const spotOf = async (id: string) =>
    (await cloud.call('GET', `/v1/reservations/${id}`, { token: driver.token })).body as {
      spotId: string;
      spotLabel: string;
      credential: string;
    };
  return { lotId, operator, driver, book, spotOf };
}

t.test('removing a spot moves its future bookings, or refuses with the list', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const { lotId, operator, book, spotOf } = await setup(cloud, 3);
  const a = await book(T0 + HOUR, T0 + 3 * HOUR);
  const b = await book(T0 + HOUR, T0 + 3 * HOUR);
  t.equal(a.status, 200);
  t.equal(b.status, 200);
  const aSpot = (await spotOf(a.body.id)).spotId;
  const bSpot = (await spotOf(b.body.id)).spotId;
  const before = (await cloud.call('GET', `/v1/lots/${lotId}`, { token: operator.token })).body.version;

  const removed = await cloud.call('DELETE', `/v1/lots/${lotId}/spots/${aSpot}`, { token: operator.token });
  t.equal(removed.status, 200, JSON.stringify(removed.body));
  t.equal(removed.body.moved.length, 1);
  const moved = await spotOf(a.body.id);
  t.not(moved.spotId, aSpot, 'the booking moved');
  t.not(moved.spotId, bSpot, 'onto a free spot');
  t.same(await cloud.bitmapMismatches(), [], 'bits follow the rows');
  const lot = (await cloud.call('GET', `/v1/lots/${lotId}`, { token: operator.token })).body;
  t.equal(lot.spots.length, 2);
  t.ok(lot.version > before, 'the config version moved, so the edges get the new layout');
  const changes = await cloud.app.changes.changesSince(lotId, 0, 100);
  const last = changes.at(-1)!;
  t.match(
    last,
    { reason: 'updated', reservation: { id: a.body.id, spotId: moved.spotId } },
    'the edges see the move',
  );

  // Two spots left, both held in the window: removing one strands a booking.
  const refused = await cloud.call('DELETE', `/v1/lots/${lotId}/spots/${bSpot}`, { token: operator.token });
  t.equal(refused.status, 409);
  t.equal(refused.body.error, 'bookings_cannot_move');
  t.match(refused.body.message, b.body.id);
  t.match(refused.body.issues, [{ field: `reservations.${b.body.id}`, rule: 'no_free_spot' }]);
  t.equal((await spotOf(b.body.id)).spotId, bSpot, 'nothing changed');
  t.equal((await cloud.call('GET', `/v1/lots/${lotId}`, { token: operator.token })).body.spots.length, 2);

  const added = await cloud.call('POST', `/v1/lots/${lotId}/spots`, {
    token: operator.token,
    body: { spots: [{ id: 'n1', label: 'N-1', level: '0', type: 'car', pool: 'bookable' }] },
  });
  t.equal(added.status, 201);
  t.equal(added.body.spots.length, 3);
  const dup = await cloud.call('POST', `/v1/lots/${lotId}/spots`, {
    token: operator.token,
    body: { spots: [{ id: 'n2', label: 'N-1', level: '0', type: 'car', pool: 'bookable' }] },
  });
  t.equal(dup.status, 409);
  const now = await cloud.call('DELETE', `/v1/lots/${lotId}/spots/${bSpot}`, { token: operator.token });
  t.equal(now.status, 200, 'with a new spot the booking can move');
  t.match(now.body.moved, [{ reservationId: b.body.id, toSpot: 'N-1' }]);
  t.equal((await spotOf(b.body.id)).spotLabel, 'N-1');
  t.same(await cloud.bitmapMismatches(), []);
});

t.test('moving a spot to another pool or type takes the bookings it can no longer hold', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const { lotId, operator, book, spotOf } = await setup(cloud, 2);
  const a = await book(T0 + HOUR, T0 + 2 * HOUR);
  const spot = (await spotOf(a.body.id)).spotId;
  const relabel = await cloud.call('PATCH', `/v1/lots/${lotId}/spots/${spot}`, {
    token: operator.token,
    body: { label: 'Z-9' },
  });
  t.same(relabel.body.moved, [], 'a relabel moves nothing');
  const toPermit = await cloud.call('PATCH', `/v1/lots/${lotId}/spots/${spot}`, {
    token: operator.token,
    body: { pool: 'permit' },
  });
  t.equal(toPermit.status, 200);
  t.equal(toPermit.body.moved.length, 1);
  t.not((await spotOf(a.body.id)).spotId, spot);
  const other = (await spotOf(a.body.id)).spotId;
  const toVan = await cloud.call('PATCH', `/v1/lots/${lotId}/spots/${other}`, {
    token: operator.token,
    body: { type: 'van' },
  });
  t.equal(toVan.status, 409, 'a car booking has nowhere to go');
  t.equal(toVan.body.error, 'bookings_cannot_move');
  t.same(await cloud.bitmapMismatches(), []);
  const stranger = await cloud.userWithToken('operator');
  t.equal(
    (await cloud.call('DELETE', `/v1/lots/${lotId}/spots/${other}`, { token: stranger.token })).status,
    404,
    'only the lot’s operators',
  );
});

t.test('operating hours and closures refuse bookings with the reason', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const { lotId, operator, book } = await setup(cloud, 2);
  const hours = await cloud.call('PUT', `/v1/lots/${lotId}/hours`, {
    token: operator.token,
    body: { operatingHours: [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '20:00' }] },
  });
  t.equal(hours.status, 200);
  t.same(hours.body.policy.operatingHours, [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '20:00' }]);
  t.equal((await book(T0 + HOUR, T0 + 3 * HOUR)).status, 200, 'Monday 10:00–12:00 is open');
  const saturday = await book(T0 + 5 * DAY, T0 + 5 * DAY + HOUR);
  t.equal(saturday.status, 409);
  t.equal(saturday.body.error, 'outside_operating_hours');
  t.match(saturday.body.message, /2030-01-12 09:00/);
  const late = await book(T0 + 10 * HOUR, T0 + 12 * HOUR);
  t.equal(late.body.error, 'outside_operating_hours', 'a window running past closing time');

  const closure = await cloud.call('POST', `/v1/lots/${lotId}/closures`, {
    token: operator.token,
    body: { from: '2030-01-08', to: '2030-01-09', reason: 'Resurfacing' },
  });
  t.equal(closure.status, 201);
  const closed = await book(T0 + DAY + HOUR, T0 + DAY + 2 * HOUR);
  t.equal(closed.status, 409);
  t.equal(closed.body.error, 'lot_closed');
  t.match(closed.body.message, /Resurfacing/);
  const reopened = await cloud.call('DELETE', `/v1/lots/${lotId}/closures/${closure.body.id}`, {
    token: operator.token,
  });
  t.equal(reopened.status, 200);
  t.equal((await book(T0 + DAY + HOUR, T0 + DAY + 2 * HOUR)).status, 200, 'open again');
  const bad = await cloud.call('POST', `/v1/lots/${lotId}/closures`, {
    token: operator.token,
    body: { from: '2030-01-09', to: '2030-01-08', reason: 'x' },
  });
  t.equal(bad.status, 400);
  t.equal(bad.body.field, 'body.to');
});
