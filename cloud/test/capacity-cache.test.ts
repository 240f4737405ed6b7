import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, T0 } from './helpers.js';

/**
 * Capacity from memory (cloud/repositories/reservations/capacity.ts): this instance's own bookings
 * and cancellations show at once; a change written by someone else (another cloud instance) shows
 * within one second, never later; booking itself never trusts the cached answer.
 */

t.test('capacity answers: own changes at once, others within a second', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  const driver = await cloud.userWithToken('driver');
  await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'cap' }, 3) });
  const window = { start: iso(T0 + HOUR), end: iso(T0 + 3 * HOUR) };
  const capacity = async () => {
    const r = await cloud.call(
      'GET',
      `/v1/lots/cap/capacity?vehicleType=car&start=${window.start}&end=${window.end}`,
      { token: driver.token },
    );
    t.equal(r.status, 200);
    return r.body.available as number;
  };
  t.equal(await capacity(), 3, 'an empty lot');

  const booked = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'cap', vehicleType: 'car', plate: 'OWN1', ...window },
  });
  t.equal(booked.status, 201);
  t.equal(await capacity(), 2, 'an own booking shows at once');

  const cancelled = await cloud.call('POST', `/v1/reservations/${booked.body.id}/cancel`, {
    token: driver.token,
  });
  t.equal(cancelled.status, 200);
  t.equal(await capacity(), 3, 'an own cancellation shows at once');

  // Another instance holds the window on two spots (written straight to the bitmaps).
  await cloud.db.pooled.query(
    `update spots set bits = repeat('1', 4 * 24 * 30)::varbit where lot_id = 'cap' and id in (
       select id from spots where lot_id = 'cap' order by id limit 2)`,
  );
  t.equal(await capacity(), 3, 'another instance’s change may be up to a second old…');

  const third = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'cap', vehicleType: 'car', plate: 'OWN2', ...window },
  });
  t.equal(third.status, 201, 'booking decides on the database: one spot is left');
  const refused = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'cap', vehicleType: 'car', plate: 'OWN3', ...window },
  });
  t.equal(refused.status, 409, 'while the cached answer still said three were free');
  t.equal(await capacity(), 2, 'the cached answer, with the own booking applied');
  cloud.clock.advance(1000);
  t.equal(await capacity(), 0, '…and never older than a second');
});
