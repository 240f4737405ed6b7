import t from 'tap';
import type { LotConfig } from '../../protocol/domain.js';
import { type DecisionContext, decide, driveupPlan, exitCharge } from '../lane/decision.js';
import { timeFormatter } from '../lane/messages.js';
import type { EdgeStore } from '../store/store.js';
import { change, HOUR, MIN, openTestStore, qrFor, reservation, T0, testKey, testLot } from './support.js';

function ctx(
  store: EdgeStore,
  direction: 'entry' | 'exit',
  over: Partial<DecisionContext> = {},
): DecisionContext {
  const lot: LotConfig = store.mirror.config().lot;
  return {
    lot,
    publicKeys: [testKey().publicEntry],
    laneId: direction === 'entry' ? 'in-1' : 'out-1',
    direction,
    overflowAvailable: false,
    driveupCapacity: store.mirror.lotIndex().driveupCount,
    spotsById: new Map(lot.spots.map((s) => [s.id, s])),
    times: timeFormatter(lot.timeZone),
    ...over,
  };
}

function enter(
  store: EdgeStore,
  sessionId: string,
  plate: string,
  atMs: number,
  extra: Partial<Parameters<EdgeStore['ledger']['recordEntry']>[0]> = {},
) {
  return store.ledger.recordEntry({
    sessionId,
    atMs,
    laneId: 'in-1',
    correlationId: null,
    ...driveupPlan({ plate }),
    ...extra,
  }).session;
}

t.test('plates: exact, confusable, ambiguous, low confidence, unreadable', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  store.mirror.applyChanges([
    change(1, reservation({ id: 'r1', plate: 'B0B123', startMs: T0, endMs: T0 + HOUR })),
    change(2, reservation({ id: 'r2', plate: 'S12345', startMs: T0, endMs: T0 + HOUR, spotId: 'A2' })),
    change(3, reservation({ id: 'r3', plate: '512345', startMs: T0, endMs: T0 + HOUR, spotId: 'A3' })),
  ]);
  const c = ctx(store, 'entry');
  t.match(
    decide(c, store.gateView, { kind: 'plate', plate: 'b0b 123', confidence: 0.5 }, T0),
    {
      kind: 'admit',
      plan: { reservationId: 'r1', credential: 'plate' },
    },
    'exact match needs no confidence',
  );
  t.match(
    decide(c, store.gateView, { kind: 'plate', plate: '8OB123', confidence: 0.9 }, T0),
    { kind: 'wait' },
    'two confusions away: no match',
  );
  t.match(
    decide(c, store.gateView, { kind: 'plate', plate: 'B08123', confidence: 0.9 }, T0),
    {
      kind: 'admit',
      plan: { reservationId: 'r1' },
    },
    'one confusion away, confident',
  );
  t.match(decide(c, store.gateView, { kind: 'plate', plate: 'B08123', confidence: 0.5 }, T0), {
    kind: 'wait',
    reason: 'low_confidence',
  });
  t.match(
    decide(c, store.gateView, { kind: 'plate', plate: 'SI2345', confidence: 0.95 }, T0),
    {
      kind: 'admit',
      plan: { reservationId: 'r2' },
    },
    'I read for 1',
  );
  t.match(decide(c, store.gateView, { kind: 'plate', plate: '5I2345', confidence: 0.95 }, T0), {
    kind: 'admit',
    plan: { reservationId: 'r3' },
  });
  // With SI2345 booked too, 5I2345 is one confusion from two bookings: ambiguous, fall back to QR.
  store.mirror.applyChanges([
    change(4, reservation({ id: 'r4', plate: 'SI2345', startMs: T0, endMs: T0 + HOUR, spotId: 'A4' })),
  ]);
  t.match(decide(c, store.gateView, { kind: 'plate', plate: '5I2345', confidence: 0.95 }, T0), {
    kind: 'wait',
    reason: 'ambiguous',
  });
  t.match(
    decide(c, store.gateView, { kind: 'plate', plate: 'SI2345', confidence: 0.95 }, T0),
    {
      kind: 'admit',
      plan: { reservationId: 'r4' },
    },
    'exact always wins',
  );
  t.match(decide(c, store.gateView, { kind: 'plate', plate: 'XX9999', confidence: 0.95 }, T0), {
    kind: 'wait',
    reason: 'unmatched',
    driveupPlate: 'XX9999',
    display: ['No booking for XX9999', 'Scan QR code or wait'],
  });
  t.match(decide(c, store.gateView, { kind: 'plate', plate: '%%%', confidence: 1 }, T0), {
    kind: 'wait',
    reason: 'unreadable',
  });
});

t.test('QR: valid unseen booking admitted; revoked, wrong lot, tampered refused', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  const c = ctx(store, 'entry');
  const unseen = qrFor({ id: 'u1', plate: 'UN1', startMs: T0, endMs: T0 + HOUR });
  t.match(decide(c, store.gateView, { kind: 'qr', text: unseen }, T0 + MIN), {
    kind: 'admit',
    plan: { reservationId: 'u1', credential: 'qr', plate: 'UN1', spotId: null, reservationEndMs: T0 + HOUR },
    display: ['Welcome'],
  });
  store.mirror.applyChanges([
    change(
      1,
      reservation({ id: 'u1', plate: 'UN1', startMs: T0, endMs: T0 + HOUR, status: 'CANCELLED' }),
      'cancelled',
    ),
  ]);
  t.match(decide(c, store.gateView, { kind: 'qr', text: unseen }, T0 + MIN), {
    kind: 'refuse',
    reason: 'cancelled',
    display: ['Reservation cancelled', 'Please see attendant'],
  });
  t.match(
    decide(
      c,
      store.gateView,
      { kind: 'qr', text: qrFor({ id: 'x', plate: null, startMs: T0, endMs: T0 + HOUR }, 'other-lot') },
      T0,
    ),
    {
      kind: 'refuse',
      reason: 'wrong_lot',
    },
  );
  const tampered = `${unseen.slice(0, -3)}AAA`;
  t.match(decide(c, store.gateView, { kind: 'qr', text: tampered }, T0), {
    kind: 'refuse',
    reason: 'invalid_qr',
  });
  t.match(decide(c, store.gateView, { kind: 'qr', text: 'hello' }, T0), {
    kind: 'refuse',
    reason: 'invalid_qr',
  });
  t.match(
    decide(ctx(store, 'entry', { publicKeys: [] }), store.gateView, { kind: 'qr', text: unseen }, T0),
    {
      kind: 'refuse',
      reason: 'invalid_qr',
    },
    'unknown key',
  );
});

t.test('time window: too early (local time, other day), allowance, expired', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  const c = ctx(store, 'entry');
  const early = qrFor({ id: 'e1', plate: null, startMs: T0 + 26 * HOUR, endMs: T0 + 27 * HOUR });
  t.match(decide(c, store.gateView, { kind: 'qr', text: early }, T0), {
    kind: 'refuse',
    reason: 'too_early',
    display: ['Reservation starts at Tue 3 Jun, 14:00', 'Please come back then'],
  });
  const soon = qrFor({ id: 'e2', plate: null, startMs: T0 + 15 * MIN, endMs: T0 + HOUR });
  t.match(decide(c, store.gateView, { kind: 'qr', text: soon }, T0), { kind: 'admit' });
  t.match(decide(c, store.gateView, { kind: 'qr', text: soon }, T0 - 1), {
    kind: 'refuse',
    reason: 'too_early',
  });
  t.match(decide(c, store.gateView, { kind: 'qr', text: soon }, T0 + HOUR), {
    kind: 'refuse',
    reason: 'expired',
    display: ['Reservation ended at 13:00', 'Please see attendant'],
  });
});

t.test('anti-passback from the local passback state; a reset makes it usable again', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  store.mirror.applyChanges([
    change(1, reservation({ id: 'r1', plate: 'PB1', startMs: T0, endMs: T0 + HOUR })),
  ]);
  const c = ctx(store, 'entry');
  enter(store, 's1', 'PB1', T0, {
    sessionKind: 'booking',
    reservationId: 'r1',
    pool: 'bookable',
    credential: 'plate',
  });
  t.match(decide(c, store.gateView, { kind: 'plate', plate: 'PB1', confidence: 1 }, T0 + MIN), {
    kind: 'refuse',
    reason: 'already_inside',
    passbackViolation: true,
  });
  const soft = ctx(store, 'entry', { lot: { ...c.lot, policy: { ...c.lot.policy, antiPassback: 'soft' } } });
  t.match(decide(soft, store.gateView, { kind: 'plate', plate: 'PB1', confidence: 1 }, T0 + MIN), {
    kind: 'admit',
    plan: { softPassbackViolation: true },
  });
  store.ledger.resetPassback({
    atMs: T0 + 2 * MIN,
    reservationId: 'r1',
    attendant: 'a',
    reason: 'left via pedestrian gate',
    commandId: null,
  });
  t.match(decide(c, store.gateView, { kind: 'plate', plate: 'PB1', confidence: 1 }, T0 + 3 * MIN), {
    kind: 'admit',
    plan: { softPassbackViolation: false },
  });
  // After an exit the booking is used.
  const s2 = enter(store, 's2', 'PB1', T0 + 4 * MIN, {
    sessionKind: 'booking',
    reservationId: 'r1',
    pool: 'bookable',
  });
  store.ledger.recordExit({
    sessionId: s2.id,
    atMs: T0 + 5 * MIN,
    laneId: 'out-1',
    correlationId: null,
    charge: null,
    overstayMinutes: 0,
    settlement: 'none',
    owed: null,
  });
  t.match(
    decide(
      c,
      store.gateView,
      { kind: 'qr', text: qrFor({ id: 'r1', plate: 'PB1', startMs: T0, endMs: T0 + HOUR }) },
      T0 + 6 * MIN,
    ),
    {
      kind: 'refuse',
      reason: 'used',
    },
  );
  // The cloud saying CHECKED_IN counts as inside when this edge has no local state.
  store.mirror.applyChanges([
    change(
      2,
      reservation({
        id: 'r9',
        plate: 'CI9',
        startMs: T0,
        endMs: T0 + HOUR,
        status: 'CHECKED_IN',
        spotId: 'A2',
      }),
    ),
  ]);
  t.match(decide(c, store.gateView, { kind: 'plate', plate: 'CI9', confidence: 1 }, T0), {
    kind: 'refuse',
    reason: 'already_inside',
  });
});

t.test(
  'drive-ups: counted against the driveup pool; overflow only online with a free bookable spot',
  async (t) => {
    const { store, cleanup } = openTestStore();
    t.teardown(cleanup);
    const c = ctx(store, 'entry');
    t.match(decide(c, store.gateView, { kind: 'driveup', plate: 'D1' }, T0), {
      kind: 'admit',
      plan: { pool: 'driveup', sessionKind: 'driveup' },
    });
    enter(store, 's1', 'D1', T0);
    t.match(decide(c, store.gateView, { kind: 'driveup', plate: 'D1' }, T0), {
      kind: 'refuse',
      reason: 'already_inside',
    });
    enter(store, 's2', 'D2', T0);
    t.match(decide(c, store.gateView, { kind: 'driveup', plate: 'D3' }, T0), {
      kind: 'refuse',
      reason: 'full',
      display: ['Lot full', 'Sorry'],
    });
    const online = ctx(store, 'entry', { overflowAvailable: true });
    t.match(decide(online, store.gateView, { kind: 'driveup', plate: 'D3' }, T0 + 7 * MIN), {
      kind: 'overflow',
      request: { plate: 'D3', vehicleType: 'car', startMs: T0, endMs: T0 + 4 * HOUR },
    });
    // Every car-eligible bookable spot held over the horizon: no point asking.
    store.mirror.applyChanges(
      ['A1', 'A2', 'A3', 'A4'].map((spotId, i) =>
        change(
          i + 1,
          reservation({ id: `b${i}`, plate: `B${i}`, spotId, startMs: T0 + HOUR, endMs: T0 + 2 * HOUR }),
        ),
      ),
    );
    t.match(decide(online, store.gateView, { kind: 'driveup', plate: 'D3' }, T0), {
      kind: 'refuse',
      reason: 'full',
    });
  },
);

t.test('exit charges: overstay after grace, drive-up fee with daily cap, cash already paid', async (t) => {
  const { store, cleanup } = openTestStore({ lot: testLot({ policy: { exitGraceMinutes: 10 } }) });
  t.teardown(cleanup);
  const c = ctx(store, 'exit');
  store.mirror.applyChanges([
    change(1, reservation({ id: 'r1', plate: 'OS1', startMs: T0, endMs: T0 + HOUR })),
  ]);
  enter(store, 's1', 'OS1', T0, {
    sessionKind: 'booking',
    reservationId: 'r1',
    reservationEndMs: T0 + HOUR,
    pool: 'bookable',
  });
  t.match(
    decide(c, store.gateView, { kind: 'plate', plate: 'OS1', confidence: 1 }, T0 + HOUR + 10 * MIN),
    {
      kind: 'exit',
      plan: { charge: null, due: null, overstayMinutes: 10 },
      display: ['Goodbye'],
    },
    'within the grace: free',
  );
  t.match(
    decide(c, store.gateView, { kind: 'plate', plate: 'OS1', confidence: 1 }, T0 + HOUR + 16 * MIN),
    {
      kind: 'exit',
      plan: { charge: { amount: 200, currency: 'EUR' }, due: { amount: 200 }, overstayMinutes: 16 },
    },
    'past the grace: all 2 started slots',
  );
  // A reservation extended in the cloud after entry: the mirror's end counts.
  store.mirror.applyChanges([
    change(
      2,
      reservation({ id: 'r1', plate: 'OS1', startMs: T0, endMs: T0 + 2 * HOUR, status: 'CHECKED_IN' }),
    ),
  ]);
  t.match(decide(c, store.gateView, { kind: 'plate', plate: 'OS1', confidence: 1 }, T0 + HOUR + 16 * MIN), {
    plan: { charge: null },
  });

  const s2 = enter(store, 's2', 'DU1', T0 - 30 * HOUR);
  const plan = exitCharge(c, store.gateView, s2, T0);
  // 06:00–24:00 local on 1 June (72 slots, capped at €30) + 00:00–12:00 on 2 June (48 slots, capped).
  t.same(plan.charge, { amount: 3000 + 3000, currency: 'EUR' }, 'daily cap per local day');
  store.ledger.recordCashPayment({
    atMs: T0,
    sessionId: 's2',
    amount: { amount: 1000, currency: 'EUR' },
    attendant: 'a',
  });
  const paid = exitCharge(c, store.gateView, store.ledger.sessionById('s2')!, T0);
  t.same(paid.due, { amount: 5000, currency: 'EUR' });
  t.same(paid.cashPaid, { amount: 1000, currency: 'EUR' });
  t.match(decide(c, store.gateView, { kind: 'plate', plate: 'NOPE1', confidence: 0.99 }, T0), {
    kind: 'wait',
    reason: 'unmatched',
  });
  t.match(decide(c, store.gateView, { kind: 'driveup', plate: 'X' }, T0), {
    kind: 'refuse',
    reason: 'no_session',
  });
  t.match(
    decide(
      c,
      store.gateView,
      { kind: 'qr', text: qrFor({ id: 'r1', plate: 'OS1', startMs: T0, endMs: T0 + HOUR }) },
      T0 + 5 * HOUR,
    ),
    { kind: 'exit', plan: { sessionId: 's1' } },
    'an expired QR still identifies the session at exit',
  );
});
