import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, MIN, T0 } from '../../cloud/test/helpers.js';
import { timeFormatter } from '../../edge/lane/messages.js';
import { type DecisionContext, driveupPlan, exitCharge } from '../../edge/lane/decision.js';
import { LOT_ID, openTestStore, testKey } from '../../edge/test/support.js';

/**
 * The cloud's quote, its booking price and the edge's exit fee come from one pricing function and
 * agree to the cent: the lot config the cloud ships to the edge is opened in a real edge store, a
 * drive-up is entered at a booking's start and leaves at its end, and the lane's exit charge is
 * compared with the cloud's capacity quote, booking price and /price answer for the same stay.
 */

const PLAN = {
  currency: 'EUR',
  hourlyRate: 250,
  dailyMax: 2900,
  rules: [
    {
      kind: 'band',
      name: 'Day',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      from: '08:00',
      to: '18:00',
      hourlyRate: 350,
    },
    { kind: 'band', name: 'Saturday', days: ['sat'], from: '09:00', to: '14:00', hourlyRate: 450 },
    {
      kind: 'early_bird',
      name: 'Early bird',
      enterFrom: '06:00',
      enterBefore: '09:00',
      leaveAfter: '15:00',
      price: 1400,
    },
    { kind: 'evening', name: 'Evening', enterFrom: '18:00', leaveBefore: '08:00', price: 700 },
    { kind: 'event', name: 'Expo', from: '2030-01-10', to: '2030-01-10', multiplierPct: 140 },
  ],
};

t.test('cloud quote, booking price and edge exit fee agree to the cent', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  const driver = await cloud.userWithToken('driver');
  t.equal(
    (await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: LOT_ID }, 12) })).status,
    201,
  );
  t.equal(
    (await cloud.call('PUT', `/v1/lots/${LOT_ID}/rate-plan`, { token: op.token, body: PLAN })).status,
    200,
  );
  const shipped = await cloud.app.lots.config(LOT_ID);
  if (shipped === null) throw new Error('no config');
  const { store, cleanup } = openTestStore({ lot: shipped.lot });
  t.teardown(cleanup);
  const lot = store.mirror.config().lot;
  t.same(lot.ratePlan, shipped.lot.ratePlan, 'the edge holds the plan the cloud shipped');
  const ctx: DecisionContext = {
    lot,
    publicKeys: [testKey().publicEntry],
    laneId: 'out-1',
    direction: 'exit',
    overflowAvailable: false,
    driveupCapacity: 2,
    spotsById: new Map(lot.spots.map((s) => [s.id, s])),
    times: timeFormatter(lot.timeZone),
  };

  // T0 = Monday 2030-01-07 08:00Z (09:00 Berlin). Windows cover bands, flats, the event, caps and
  // the spring DST change (2030-03-31).
  const windows: Array<[number, number]> = [
    [T0, T0 + 2 * HOUR],
    [T0 - 45 * MIN, T0 + 7 * HOUR],
    [T0 + 9 * HOUR, T0 + 22 * HOUR],
    [T0 + 9 * HOUR, T0 + 26 * HOUR],
    [T0 + 3 * 24 * HOUR - 2 * HOUR, T0 + 3 * 24 * HOUR + 5 * HOUR],
    [T0 + 4 * 24 * HOUR, T0 + 6 * 24 * HOUR + 45 * MIN],
    [Date.UTC(2030, 2, 30, 20), Date.UTC(2030, 2, 31, 6, 15)],
  ];
  let n = 0;
  for (const [start, end] of windows) {
    n++;
    const q = `vehicleType=car&start=${iso(start)}&end=${iso(end)}`;
    const price = (await cloud.call('GET', `/v1/lots/${LOT_ID}/price?${q}`)).body.total;
    if (start >= T0) {
      const quote = await cloud.call('GET', `/v1/lots/${LOT_ID}/capacity?${q}`, { token: driver.token });
      t.same(quote.body.price, price, `window ${n}: quote = stay price`);
      const booked = await cloud.call('POST', '/v1/reservations', {
        token: driver.token,
        body: { lotId: LOT_ID, vehicleType: 'car', plate: `AG${n}`, start: iso(start), end: iso(end) },
      });
      t.equal(booked.status, 201, `booked window ${n}`);
      t.same(booked.body.price, price, `window ${n}: booking price = stay price`);
    }
    const session = store.ledger.recordEntry({
      sessionId: `s${n}`,
      atMs: start,
      laneId: 'in-1',
      correlationId: null,
      ...driveupPlan({ plate: `DU${n}` }),
    }).session;
    const fee = exitCharge(ctx, store.gateView, session, end);
    t.same(fee.charge ?? { amount: 0, currency: 'EUR' }, price, `window ${n}: edge exit fee = cloud price`);
  }
});
