import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, MIN, payCheckout, T0, type TestCloud } from './helpers.js';

/** Everything that depends on time, driven by the injected TestClock: sweepers, departures, overstay. */

t.test('time-driven transitions', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  const lot = await cloud.call('POST', '/v1/lots', {
    token: op.token,
    body: lotBody(
      { id: 'timed', policy: { ...lotBody().policy, noShowGraceMinutes: 60, exitGraceMinutes: 10 } },
      2,
    ),
  });
  t.equal(lot.status, 201);
  const attendant = await cloud.userWithToken('attendant', ['timed']);
  const driver = await cloud.userWithToken('driver');
  let plates = 0;

  async function reserve(startMs: number, endMs: number) {
    const plate = `TM${++plates}`;
    const r = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { lotId: 'timed', vehicleType: 'car', plate, start: iso(startMs), end: iso(endMs) },
    });
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
    return { ...(r.body as { id: string; paymentUrl: string }), plate };
  }
  async function confirm(r: { id: string; paymentUrl: string }) {
    const paymentToken = await payCheckout(cloud, r.paymentUrl);
    const c = await cloud.call('POST', `/v1/reservations/${r.id}/complete`, {
      token: driver.token,
      body: { paymentToken },
    });
    if (c.status !== 200) throw new Error(JSON.stringify(c.body));
  }
  const status = async (id: string) =>
    (await cloud.call('GET', `/v1/reservations/${id}`, { token: driver.token })).body.status as string;
  const available = async (c: TestCloud, startMs: number, endMs: number) =>
    (
      await c.call('GET', `/v1/lots/timed/capacity?vehicleType=car&start=${iso(startMs)}&end=${iso(endMs)}`, {
        token: driver.token,
      })
    ).body.available as number;

  t.test('hold expiry', async (t) => {
    cloud.clock.set(T0);
    const a = await reserve(T0 + HOUR, T0 + 2 * HOUR);
    t.equal(await available(cloud, T0 + HOUR, T0 + 2 * HOUR), 1);
    t.equal(await cloud.app.sweepers.runHoldExpiry(T0 + 14 * MIN), 0, 'not yet');
    t.equal(await status(a.id), 'TENTATIVE');
    cloud.clock.set(T0 + 15 * MIN);
    t.equal(await cloud.app.sweepers.runHoldExpiry(), 1);
    t.equal(await status(a.id), 'EXPIRED');
    t.equal(await cloud.app.sweepers.runHoldExpiry(), 0, 'safe to run twice');
    t.equal(await available(cloud, T0 + HOUR, T0 + 2 * HOUR), 2, 'slots released');
    t.same(await cloud.bitmapMismatches(), []);
    const changes = await cloud.app.changes.changesSince('timed', 0, 100);
    t.same(
      changes.slice(-1).map((c) => [c.reason, 'reservation' in c ? c.reservation.status : null]),
      [['expired', 'EXPIRED']],
    );
  });

  t.test('paying an expired hold fails clearly and keeps nothing', async (t) => {
    cloud.clock.set(T0 + HOUR);
    const r = await reserve(T0 + 2 * HOUR, T0 + 3 * HOUR);
    cloud.clock.set(T0 + HOUR + 16 * MIN);
    // The driver pays on a checkout page left open past the hold: the capture confirms nothing.
    const paymentToken = await payCheckout(cloud, r.paymentUrl);
    const c = await cloud.call('POST', `/v1/reservations/${r.id}/complete`, {
      token: driver.token,
      body: { paymentToken },
    });
    t.equal(c.status, 410);
    t.equal(c.body.error, 'hold_expired');
    t.match(c.body.message, /refunded in full/);
    t.equal(await status(r.id), 'EXPIRED', 'expired on the spot, before the sweeper');
    const captures = await cloud.db.rows('select 1 from payments where reservation_id = $1', [r.id]);
    t.equal(captures.length, 0, 'the booking has no capture');
    const money = await cloud.db.rows<{ kind: string; status: string; amount: string }>(
      'select kind, status, amount from payments where reference = $1 order by kind',
      [r.id],
    );
    t.same(
      money.map((p) => [p.kind, p.status, Number(p.amount)]),
      [
        ['capture', 'succeeded', 400],
        ['refund', 'succeeded', 400],
      ],
      'the late capture is recorded and refunded in full',
    );
    t.same(await cloud.bitmapMismatches(), []);
  });

  t.test('no-show: no check-in by start + grace', async (t) => {
    cloud.clock.set(T0 + 2 * HOUR);
    const startMs = T0 + 3 * HOUR;
    const r = await reserve(startMs, startMs + 4 * HOUR);
    await confirm(r);
    t.equal(await cloud.app.sweepers.runNoShow(startMs + 59 * MIN), 0);
    t.equal(await status(r.id), 'CONFIRMED');
    t.equal(await cloud.app.sweepers.runNoShow(startMs + 60 * MIN), 1);
    t.equal(await status(r.id), 'NO_SHOW');
    t.equal(await cloud.app.sweepers.runNoShow(startMs + 61 * MIN), 0, 'idempotent');
    t.same(await cloud.bitmapMismatches(), []);
    cloud.clock.set(startMs + 60 * MIN);
    t.equal(
      await available(cloud, startMs + 2 * HOUR, startMs + 3 * HOUR),
      2,
      'rest of the window is free again',
    );
  });

  t.test('no-show: short booking ends before the grace', async (t) => {
    cloud.clock.set(T0 + 8 * HOUR);
    const startMs = T0 + 9 * HOUR;
    const r = await reserve(startMs, startMs + 30 * MIN);
    await confirm(r);
    t.equal(await cloud.app.sweepers.runNoShow(startMs + 30 * MIN), 1, 'by end, even inside the grace');
    t.equal(await status(r.id), 'NO_SHOW');
  });

  t.test('a checked-in reservation is never a no-show', async (t) => {
    cloud.clock.set(T0 + 10 * HOUR);
    const startMs = T0 + 11 * HOUR;
    const r = await reserve(startMs, startMs + 2 * HOUR);
    await confirm(r);
    cloud.clock.set(startMs);
    const a = await cloud.call('POST', '/v1/lots/timed/arrivals', {
      token: attendant.token,
      body: { reservationId: r.id },
    });
    t.equal(a.status, 200);
    t.equal(await cloud.app.sweepers.runNoShow(startMs + 5 * HOUR), 0);
    t.equal(await status(r.id), 'CHECKED_IN');
  });

  t.test('early departure releases future slots', async (t) => {
    cloud.clock.set(T0 + 20 * HOUR);
    const startMs = T0 + 21 * HOUR;
    const endMs = startMs + 4 * HOUR;
    const r = await reserve(startMs, endMs);
    await confirm(r);
    cloud.clock.set(startMs + 5 * MIN);
    await cloud.call('POST', '/v1/lots/timed/arrivals', {
      token: attendant.token,
      body: { reservationId: r.id },
    });
    t.equal(await available(cloud, startMs + HOUR, endMs), 1);
    cloud.clock.set(startMs + 50 * MIN);
    const d = await cloud.call('POST', '/v1/lots/timed/departures', {
      token: attendant.token,
      body: { reservationId: r.id },
    });
    t.equal(d.status, 200);
    t.equal(d.body.reservation.status, 'COMPLETED');
    t.equal(d.body.charge, null);
    t.equal(d.body.overstayMinutes, 0);
    t.equal(await available(cloud, startMs + HOUR, endMs), 2, 'the rest of the window is for sale again');
    t.same(await cloud.bitmapMismatches(), []);
    const again = await cloud.call('POST', '/v1/lots/timed/departures', {
      token: attendant.token,
      body: { reservationId: r.id },
    });
    t.equal(again.status, 409);
    t.equal(again.body.error, 'not_checked_in');
  });

  t.test('overstay within the exit grace is free; past it every started slot is charged', async (t) => {
    cloud.clock.set(T0 + 30 * HOUR);
    const startMs = T0 + 31 * HOUR;
    const endMs = startMs + HOUR;
    const inGrace = await reserve(startMs, endMs);
    const late = await reserve(startMs, endMs);
    await confirm(inGrace);
    await confirm(late);
    cloud.clock.set(startMs);
    for (const r of [inGrace, late]) {
      await cloud.call('POST', '/v1/lots/timed/arrivals', {
        token: attendant.token,
        body: { reservationId: r.id },
      });
    }
    cloud.clock.set(endMs + 10 * MIN);
    const d1 = await cloud.call('POST', '/v1/lots/timed/departures', {
      token: attendant.token,
      body: { reservationId: inGrace.id },
    });
    t.equal(d1.body.overstayMinutes, 10);
    t.equal(d1.body.charge, null);
    cloud.clock.set(endMs + 31 * MIN);
    const d2 = await cloud.call('POST', '/v1/lots/timed/departures', {
      token: attendant.token,
      body: { reservationId: late.id },
      headers: { 'idempotency-key': 'leave-late-1' },
    });
    t.equal(d2.status, 200);
    t.same(d2.body.charge, { amount: 300, currency: 'EUR' }, '3 started slots × 100');
    t.same(d2.body.reservation.overstayCharge, { amount: 300, currency: 'EUR' });
    const replay = await cloud.call('POST', '/v1/lots/timed/departures', {
      token: attendant.token,
      body: { reservationId: late.id },
      headers: { 'idempotency-key': 'leave-late-1' },
    });
    t.same(replay.body, d2.body, 'the same key returns the first response');
    const charges = await cloud.db.rows<{ status: string; amount: number }>(
      `select status, amount from payments where reservation_id = $1 and kind = 'overstay'`,
      [late.id],
    );
    t.same(charges, [{ status: 'succeeded', amount: 300 }], 'charged once, through the provider');
  });

  t.test('gate facts with a fact key apply exactly once', async (t) => {
    cloud.clock.set(T0 + 40 * HOUR);
    const startMs = T0 + 41 * HOUR;
    const r = await reserve(startMs, startMs + HOUR);
    await confirm(r);
    const first = await cloud.app.reservations.checkIn({
      lotId: 'timed',
      reservationId: r.id,
      atMs: startMs + 2 * HOUR,
      factKey: 'edge:7',
      enforceWindow: false,
    });
    t.ok(first.ok, 'an edge fact is recorded even outside the window');
    const again = await cloud.app.reservations.checkIn({
      lotId: 'timed',
      reservationId: r.id,
      atMs: startMs + 2 * HOUR,
      factKey: 'edge:7',
      enforceWindow: false,
    });
    t.same(again, first, 'replayed, not re-applied');
    const fact = { lotId: 'timed', plate: r.plate, atMs: startMs + 3 * HOUR, factKey: 'edge:8' };
    const d = await cloud.app.reservations.depart(fact);
    t.ok(d.ok);
    const d2 = await cloud.app.reservations.depart(fact);
    t.same(d2, d);
    const charges = await cloud.db.rows(
      `select 1 from payments where reservation_id = $1 and kind = 'overstay'`,
      [r.id],
    );
    t.equal(charges.length, 1, 'one overstay charge');
    const reasons = (await cloud.app.changes.changesSince('timed', 0, 1000))
      .filter((c) => 'reservation' in c && c.reservation.id === r.id)
      .map((c) => c.reason);
    t.same(reasons, ['created', 'confirmed', 'checked_in', 'completed']);
  });

  t.test('drive-up overflow: exactly once, released by cancel', async (t) => {
    const now = T0 + 50 * HOUR;
    cloud.clock.set(now + 5 * MIN);
    const ask = {
      lotId: 'timed',
      plate: 'DU 1',
      vehicleType: 'car' as const,
      startMs: now + 5 * MIN,
      endMs: now + 4 * HOUR,
      requestKey: 'overflow:c1',
    };
    const first = await cloud.app.reservations.reserveDriveUp(ask);
    t.ok(first.ok);
    if (!first.ok) return;
    t.equal(first.value.kind, 'driveup');
    t.equal(first.value.status, 'CONFIRMED');
    t.equal(first.value.start, iso(now), 'widened to the slot');
    t.same(await cloud.app.reservations.reserveDriveUp(ask), first, 'the same request, the same answer');
    t.equal(await available(cloud, now + HOUR, now + 2 * HOUR), 1);
    const reasons = (await cloud.app.changes.changesSince('timed', 0, 1000))
      .filter((c) => 'reservation' in c && c.reservation.id === first.value.id)
      .map((c) => c.reason);
    t.same(reasons, ['driveup_granted']);
    const cancelled = await cloud.app.reservations.cancel(first.value.id);
    t.ok(cancelled.ok);
    t.equal(await available(cloud, now + HOUR, now + 2 * HOUR), 2);
    t.same(await cloud.bitmapMismatches(), []);
  });

  t.test('one sweeper at a time', async (t) => {
    if (cloud.kind !== 'postgres') {
      t.comment('SKIP: needs a second connection: real PostgreSQL only (set DATABASE_URL)');
      t.pass('skipped on PGlite');
      return;
    }
    const holder = await cloud.db.pool.connect();
    try {
      await holder.query(
        `select pg_advisory_lock(hashtext('parkedge.sweep.hold_expiry:' || current_schema()))`,
      );
      t.equal(
        await cloud.app.sweepers.runHoldExpiry(T0 + 100 * HOUR),
        null,
        'skipped while another runner holds the lock',
      );
      await holder.query(
        `select pg_advisory_unlock(hashtext('parkedge.sweep.hold_expiry:' || current_schema()))`,
      );
      t.not(await cloud.app.sweepers.runHoldExpiry(T0 + 100 * HOUR), null);
    } finally {
      holder.release();
    }
  });

  t.test('the change log stays gapless', async (t) => {
    const changes = await cloud.app.changes.changesSince('timed', 0, 10_000);
    t.same(
      changes.map((c) => c.seq),
      changes.map((_, i) => i + 1),
    );
    t.equal(await cloud.app.changes.headSeq('timed'), changes.length);
  });
});
