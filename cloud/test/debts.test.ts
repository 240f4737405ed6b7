import t from 'tap';
import { TestClock } from '../../protocol/clock.js';
import { silentLogger } from '../../protocol/logger.js';
import { seededRandom } from '../../protocol/random.js';
import { err } from '../../protocol/result.js';
import { createSandboxProvider } from '../payments/sandbox.js';
import { gateEventEffects } from '../sync/effects.js';
import type { ReservationEffects, Sql } from '../sync/ports.js';
import { buildTestCloud, HOUR, iso, lotBody, MIN, payCheckout, T0, type TestCloud } from './helpers.js';

/** Debts: opened from uncollected fees once, seen by the right people, blocking bookings, settled. */

const noReservations = {} as ReservationEffects;

async function insertEntry(
  cloud: TestCloud,
  lotId: string,
  e: { eventId: number; sessionId: string; plate: string; at: number },
) {
  await cloud.db.rows(
    `insert into gate_events (lot_id, event_id, kind, at, body) values ($1, $2, 'entry', $3, $4)`,
    [
      lotId,
      e.eventId,
      iso(e.at),
      JSON.stringify({
        eventId: e.eventId,
        kind: 'entry',
        at: iso(e.at),
        sessionId: e.sessionId,
        plate: e.plate,
        reservationId: null,
      }),
    ],
  );
}

function unpaidExit(eventId: number, sessionId: string, plate: string, at: number, amount: number) {
  return {
    eventId,
    kind: 'unable_to_collect',
    at: iso(at),
    laneId: 'exit-1',
    correlationId: null,
    sessionId,
    reservationId: null,
    plate,
    amount: { amount, currency: 'EUR' },
  };
}

t.test('an unpaid exit becomes one debt, whatever the delivery', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'dl' }, 2) });
  await insertEntry(cloud, 'dl', { eventId: 1, sessionId: 's-1', plate: 'DEBT1', at: T0 - 2 * HOUR });
  const effects = gateEventEffects(noReservations, cloud.db.pooled as unknown as Sql, silentLogger());
  const event = unpaidExit(2, 's-1', 'DEBT1', T0, 800);
  await effects.apply('dl', event);
  await effects.apply('dl', event);
  const rows = await cloud.db.rows<{
    plate: string;
    amount: number;
    source: string;
    entered_at: Date;
    lane_id: string;
  }>('select plate, amount, source, entered_at, lane_id from debts');
  t.equal(rows.length, 1, 'delivered twice, one debt');
  t.match(rows[0], { plate: 'DEBT1', amount: 800, source: 'unpaid_exit', lane_id: 'exit-1' });
  t.equal(rows[0]!.entered_at.toISOString(), iso(T0 - 2 * HOUR), 'evidence: the entry time from the session');
  // A booking's owed overstay is charged by the departure, not opened here.
  await effects.apply('dl', { ...unpaidExit(3, 's-2', 'BOOK1', T0, 300), reservationId: 'r-1' });
  t.equal((await cloud.db.rows('select 1 from debts')).length, 1);
});

t.test('debts: who sees them, blocking, paying, cash and write-off', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'dv' }, 4) });
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'other' }, 2) });
  const op = await cloud.userWithToken('operator', ['dv']);
  const otherOp = await cloud.userWithToken('operator', ['other']);
  const driver = await cloud.userWithToken('driver');
  const stranger = await cloud.userWithToken('driver');
  const effects = gateEventEffects(noReservations, cloud.db.pooled as unknown as Sql, silentLogger());
  await effects.apply('dv', unpaidExit(1, 's-a', 'BOWE1', T0 - HOUR, 600));
  await effects.apply('dv', unpaidExit(2, 's-b', 'BOWE1', T0 - 30 * MIN, 200));
  const window = { start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) };

  // A plate with open debt cannot book.
  const refused = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'dv', vehicleType: 'car', plate: 'B-OWE 1', ...window },
  });
  t.equal(refused.status, 409);
  t.equal(refused.body.error, 'debt_outstanding');
  t.same(refused.body.owed, { amount: 800, currency: 'EUR' }, 'the whole amount owed');
  t.match(refused.body.payUrl, /^http:\/\/localhost\/pay\/debt\//);
  t.match(refused.body.message, /€8\.00/);
  // The same on a demand-priced lot (its hold is a two-statement transaction), and nothing held.
  const demand = lotBody({ id: 'dd' }, 2);
  demand.rates = { ...demand.rates, dynamicPricing: [{ fromOccupancyPct: 50, multiplierPct: 150 }] };
  t.equal((await cloud.call('POST', '/v1/lots', { token: admin.token, body: demand })).status, 201);
  const refusedToo = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'dd', vehicleType: 'car', plate: 'B-OWE 1', ...window },
  });
  t.equal(refusedToo.status, 409);
  t.equal(refusedToo.body.error, 'debt_outstanding', 'a demand-priced lot refuses too');
  t.same(refusedToo.body.owed, { amount: 800, currency: 'EUR' });
  t.same(
    await cloud.db.rows("select id from reservations where plate = 'BOWE1'"),
    [],
    'no hold was written for the owing plate',
  );
  const page = await cloud.call('GET', new URL(refused.body.payUrl).pathname);
  t.equal(page.status, 200);
  t.match(page.body, /€6\.00/, 'the pay link shows the oldest debt');

  // Operators see their lots' debts, drivers their own plates'.
  const opList = await cloud.call('GET', '/v1/debts?status=open', { token: op.token });
  t.equal(opList.status, 200);
  t.equal(opList.body.debts.length, 2);
  t.same(opList.body.total, { amount: 800, currency: 'EUR' });
  t.equal((await cloud.call('GET', '/v1/debts', { token: otherOp.token })).body.debts.length, 0);
  t.equal((await cloud.call('GET', '/v1/debts?plate=BOWE1', { token: driver.token })).body.debts.length, 0);
  await cloud.db.rows(
    `insert into reservations (id, lot_id, spot_id, spot_label, user_id, kind, vehicle_type, plate, start_at, end_at,
       status, price_amount, currency, created_at, updated_at)
     select 'r-old', 'dv', id, label, $1, 'booking', 'car', 'BOWE1', $2, $3, 'COMPLETED', 100, 'EUR', $2, $2
       from spots where lot_id = 'dv' limit 1`,
    [driver.user.id, iso(T0 - 30 * 24 * HOUR), iso(T0 - 30 * 24 * HOUR + HOUR)],
  );
  const mine = await cloud.call('GET', '/v1/debts', { token: driver.token });
  t.equal(mine.body.debts.length, 2, 'a driver sees the debts of a plate they booked with');
  t.equal((await cloud.call('GET', '/v1/debts', { token: stranger.token })).body.debts.length, 0);
  const [older, newer] = [...opList.body.debts].sort((a, b) => a.amount.amount - b.amount.amount).reverse();

  // Pay one through the provider: the amount is the debt's.
  const settle = await cloud.call('POST', `/v1/debts/${older.id}/settle`, {
    token: driver.token,
    body: { method: 'provider' },
  });
  t.equal(settle.status, 200);
  t.same(settle.body.checkout.amount, { amount: 600, currency: 'EUR' });
  t.equal(settle.body.checkout.reference, `debt:${older.id}`);
  const tampered = await cloud.call('POST', `/v1/debts/${older.id}/settle`, {
    token: driver.token,
    body: { method: 'provider', amount: 1 },
  });
  t.equal(tampered.status, 400, 'no amount may be given');
  // A token for another amount under the same reference is refused.
  const cheap = await cloud.app.payments.createCheckout({
    reference: `debt:${older.id}`,
    amount: { amount: 1, currency: 'EUR' },
    description: 'tampered',
  });
  const cheapToken = await payCheckout(cloud, cheap.paymentUrl);
  const bad = await cloud.call('POST', '/v1/pay/complete', {
    body: { reference: `debt:${older.id}`, paymentToken: cheapToken },
  });
  t.equal(bad.status, 402);
  const stillOpen = await cloud.call('GET', `/v1/debts?status=open`, { token: op.token });
  t.ok(
    stillOpen.body.debts.some((d: { id: string }) => d.id === older.id),
    'the wrong amount (already captured through the provider webhook) settles nothing',
  );
  // Paying the checkout raises the provider's webhook, which settles the debt; the return says so.
  const token = await payCheckout(cloud, settle.body.checkout.paymentUrl);
  const done = await cloud.call('POST', '/v1/pay/complete', {
    body: { reference: `debt:${older.id}`, paymentToken: token },
  });
  t.equal(done.status, 200);
  t.equal(done.body.outcome, 'duplicate', 'the webhook applied it first');
  const again = await cloud.call('POST', '/v1/pay/complete', {
    body: { reference: `debt:${older.id}`, paymentToken: token },
  });
  t.equal(again.body.outcome, 'duplicate', 'paid twice → applied once');
  const payments = await cloud.db.rows<{ kind: string; amount: number; status: string }>(
    `select kind, amount, status from payments where debt_id = $1 order by amount, kind`,
    [older.id],
  );
  t.same(
    payments.map((p) => [p.kind, Number(p.amount), p.status]),
    [
      ['debt', 1, 'succeeded'],
      ['refund', 1, 'succeeded'],
      ['debt', 600, 'succeeded'],
    ],
    'the wrong amount is recorded and refunded in full; the debt is paid once',
  );
  const paid = await cloud.call('GET', `/v1/debts?status=paid`, { token: op.token });
  t.equal(paid.body.debts[0].id, older.id);
  t.equal(paid.body.debts[0].settledBy, 'provider');

  // Cash and write-off are staff-only, audited, once.
  const byDriver = await cloud.call('POST', `/v1/debts/${newer.id}/settle`, {
    token: driver.token,
    body: { method: 'cash', reason: 'paid at the booth' },
  });
  t.equal(byDriver.status, 403);
  const noReason = await cloud.call('POST', `/v1/debts/${newer.id}/settle`, {
    token: op.token,
    body: { method: 'cash' },
  });
  t.equal(noReason.status, 400);
  const cash = await cloud.call('POST', `/v1/debts/${newer.id}/settle`, {
    token: op.token,
    body: { method: 'cash', reason: 'paid at the booth' },
  });
  t.equal(cash.status, 200);
  t.equal(cash.body.debt.status, 'paid');
  t.equal(cash.body.debt.settledBy, `operator:${op.user.id}`);
  t.equal(cash.body.debt.settledReason, 'paid at the booth');
  const cashRow = await cloud.db.rows<{ method: string; actor: string; reason: string }>(
    `select method, actor, reason from payments where debt_id = $1`,
    [newer.id],
  );
  t.same(cashRow, [{ method: 'cash', actor: `operator:${op.user.id}`, reason: 'paid at the booth' }]);
  const twice = await cloud.call('POST', `/v1/debts/${newer.id}/settle`, {
    token: op.token,
    body: { method: 'write_off', reason: 'again' },
  });
  t.equal(twice.status, 409);
  t.equal(twice.body.error, 'debt_not_open');

  // Settled: the plate books again.
  const booked = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'dv', vehicleType: 'car', plate: 'BOWE1', ...window },
  });
  t.equal(booked.status, 201);

  // A write-off, by staff of the lot only.
  await effects.apply('dv', unpaidExit(3, 's-c', 'WOFF1', T0, 400));
  const woff = (await cloud.call('GET', '/v1/debts?plate=WOFF1', { token: op.token })).body.debts[0];
  t.equal(
    (
      await cloud.call('POST', `/v1/debts/${woff.id}/settle`, {
        token: otherOp.token,
        body: { method: 'write_off', reason: 'goodwill' },
      })
    ).status,
    404,
    'another lot’s operator does not even see it',
  );
  const written = await cloud.call('POST', `/v1/debts/${woff.id}/settle`, {
    token: op.token,
    body: { method: 'write_off', reason: 'goodwill' },
  });
  t.equal(written.body.debt.status, 'written_off');
  t.equal(
    (await cloud.db.rows('select 1 from payments where debt_id = $1', [woff.id])).length,
    0,
    'no money moved',
  );
});

t.test('a failed overstay charge becomes a debt on the plate', async (t) => {
  const clock = new TestClock(T0);
  const payments = createSandboxProvider({
    secret: 'declining-sandbox-secret-0123456789',
    publicUrl: 'http://localhost',
    clock,
    random: seededRandom(5),
  });
  payments.chargeStoredMethod = async () => err({ reason: 'declined', message: 'card declined' });
  const cloud = await buildTestCloud({ payments, clock });
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'ov' }, 2) });
  const driver = await cloud.userWithToken('driver');
  const r = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'ov', vehicleType: 'car', plate: 'LATE1', start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) },
  });
  const tokenPaid = await payCheckout(cloud, r.body.paymentUrl);
  t.equal(
    (
      await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
        token: driver.token,
        body: { paymentToken: tokenPaid },
      })
    ).status,
    200,
  );
  cloud.clock.set(T0 + HOUR);
  await cloud.call('POST', '/v1/lots/ov/arrivals', {
    token: admin.token,
    body: { reservationId: r.body.id },
  });
  cloud.clock.set(T0 + 2 * HOUR + 20 * MIN);
  const left = await cloud.call('POST', '/v1/lots/ov/departures', {
    token: admin.token,
    body: { reservationId: r.body.id },
  });
  t.same(left.body.charge, { amount: 200, currency: 'EUR' });
  const debts = await cloud.db.rows<{
    plate: string;
    source: string;
    amount: number;
    reservation_id: string;
  }>('select plate, source, amount, reservation_id from debts');
  t.same(debts, [{ plate: 'LATE1', source: 'failed_overstay', amount: 200, reservation_id: r.body.id }]);
});
