import t, { type Test } from 'tap';
import type { SimLaneControl } from '../../hardware-sim/index.js';
import { GateEventSchema } from '../../protocol/mqtt.js';
import { change, HOUR, MIN, qrFor, reservation, type SimEdge, simEdge, T0, testLot } from './support.js';

/**
 * Lanes end to end through the simulator: the real drivers (GPIO debounce, serial plate frames,
 * HID reports) on simulated hardware, the real lane shell, decision and SQLite store.
 * Time is sinon's; nothing sleeps.
 */

const ARRIVE_MS = 400; // camera read delay 200 + loop debounce 50, with margin
const OPEN_MS = 1200; // arm travel 1000 + limit debounce 20
const PASS_MS = 1400; // passMs 1200 + debounce
const CLOSE_MS = 1200;

async function arrive(s: SimEdge, lane: SimLaneControl, plate: string | null) {
  void lane.vehicleArrives(plate, plate === null ? { unreadable: true } : { misread: false });
  await s.run(ARRIVE_MS);
}

async function driveThrough(s: SimEdge, lane: SimLaneControl) {
  void lane.driveThrough();
  await s.run(PASS_MS + CLOSE_MS);
}

/** The scanner types one HID report per ms (2 per character + Enter). */
async function scan(s: SimEdge, lane: SimLaneControl, text: string) {
  void lane.presentQr(text);
  await s.run(2 * text.length + 50);
}

function kinds(s: SimEdge): string[] {
  return s.events().map((e) => e.kind);
}

function book(s: SimEdge, seq: number, r: Parameters<typeof reservation>[0]) {
  const res = reservation(r);
  s.edge.store.mirror.applyChanges([change(seq, res)]);
  return res;
}

/** Every event in the outbox is a valid wire event, ids gapless from 1, and no barrier went down on a car. */
function checkInvariants(t: Test, s: SimEdge) {
  const events = s.events();
  events.forEach((e, i) => {
    t.equal(e.eventId, i + 1, 'event ids are gapless');
    t.ok(GateEventSchema.safeParse(e).success, `event ${e.eventId} (${e.kind}) matches the wire schema`);
  });
  t.same(s.entry.safetyViolations(), [], 'entry arm never lowered onto a vehicle');
  t.same(s.exit.safetyViolations(), [], 'exit arm never lowered onto a vehicle');
}

t.test('plate entry: admitted with the bay shown, recorded at passage', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'AB-123-CD', startMs: T0, endMs: T0 + 2 * HOUR, spotId: 'A2' });
  const lane = s.edge.lanes.get('in-1')!;
  await arrive(s, s.entry, 'AB123CD');
  t.equal(lane.state, 'OPENING');
  t.same(s.entry.display.current(), ['Welcome — bay A-2']);
  t.same(kinds(s), [], 'nothing recorded at opening');
  await s.run(OPEN_MS);
  t.equal(lane.state, 'OPEN');
  t.equal(s.entry.armState(), 'up');
  await driveThrough(s, s.entry);
  t.equal(lane.state, 'IDLE');
  t.equal(s.entry.armState(), 'down');
  const [entry] = s.events();
  t.match(entry, {
    kind: 'entry',
    reservationId: 'r1',
    credential: 'plate',
    spotId: 'A2',
    pool: 'bookable',
    laneId: 'in-1',
  });
  t.equal(s.edge.store.ledger.passbackState('r1'), 'in');
  t.equal(s.edge.store.ledger.insideByReservation('r1')?.plate, 'AB123CD');
  checkInvariants(t, s);
});

t.test('QR entry: a booking the edge never saw opens with a signed QR', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const lane = s.edge.lanes.get('in-1')!;
  await arrive(s, s.entry, null);
  t.equal(lane.state, 'IDENTIFYING');
  await scan(s, s.entry, qrFor({ id: 'offline-1', plate: 'QR1234', startMs: T0, endMs: T0 + HOUR }));
  t.equal(lane.state, 'OPENING');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.match(s.events(), [{ kind: 'entry', reservationId: 'offline-1', credential: 'qr', plate: 'QR1234' }]);
  checkInvariants(t, s);
});

t.test('confusable misread is matched; an unknown read falls back to QR', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'SB1234', startMs: T0, endMs: T0 + HOUR });
  const r2 = book(s, 2, { id: 'r2', plate: 'KL77MN', startMs: T0, endMs: T0 + HOUR, spotId: 'A3' });
  const lane = s.edge.lanes.get('in-1')!;

  // The camera reports 5B1234 (S read as 5): one confusable away, unique, confident → admitted.
  void s.entry.vehicleArrives('5B1234', { misread: false });
  await s.run(ARRIVE_MS);
  t.equal(lane.state, 'OPENING', 'fuzzy plate match admitted');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.match(s.events().at(-1), { kind: 'entry', reservationId: 'r1', credential: 'plate' });

  // A read that matches nothing: the lane waits for a QR instead of guessing.
  await arrive(s, s.entry, 'XY999XY');
  t.equal(lane.state, 'IDENTIFYING');
  t.same(s.entry.display.current(), ['No booking for XY999XY', 'Scan QR code or wait']);
  await scan(s, s.entry, qrFor({ id: r2.id, plate: 'KL77MN', startMs: T0, endMs: T0 + HOUR }));
  t.equal(lane.state, 'OPENING');
  t.same(s.entry.display.current(), ['Welcome — bay A-3']);
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.match(s.events().at(-1), { kind: 'entry', reservationId: 'r2', credential: 'qr' });
  t.equal(s.edge.store.ledger.driveupInside(), 0, 'not admitted as a drive-up');
  checkInvariants(t, s);
});

t.test('back-out: nothing recorded, the reservation stays usable', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'BK1000', startMs: T0, endMs: T0 + 2 * HOUR });
  const lane = s.edge.lanes.get('in-1')!;
  await arrive(s, s.entry, 'BK1000');
  await s.run(OPEN_MS);
  t.equal(lane.state, 'OPEN');
  void s.entry.backOut();
  await s.run(1000);
  t.equal(lane.state, 'OPEN', 'waits the back-out timeout');
  await s.run(8000 + CLOSE_MS);
  t.equal(lane.state, 'IDLE');
  t.equal(s.entry.armState(), 'down');
  t.same(kinds(s), [], 'no entry recorded');
  t.equal(s.edge.store.ledger.passbackState('r1'), undefined);

  await s.run(20_000);
  await arrive(s, s.entry, 'BK1000');
  t.equal(lane.state, 'OPENING', 'admitted again, no "already checked in"');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.same(kinds(s), ['entry']);
  checkInvariants(t, s);
});

t.test('tailgate: a second car in the same open cycle raises an alarm', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'TG1000', startMs: T0, endMs: T0 + HOUR });
  await arrive(s, s.entry, 'TG1000');
  await s.run(OPEN_MS);
  void s.entry.tailgate();
  await s.run(6000);
  const events = s.events();
  t.same(
    events.map((e) => e.kind),
    ['entry', 'tailgate'],
  );
  t.equal(events[1]!.correlationId, events[0]!.correlationId, 'same correlation id as the admitted car');
  const alarms = s.edge.store.attendants.alarms({ openOnly: true, limit: 10 });
  t.match(alarms, [{ kind: 'tailgate', laneId: 'in-1' }]);
  t.equal(s.edge.lanes.get('in-1')!.state, 'IDLE');
  checkInvariants(t, s);
});

t.test('barrier fault: an arm that never reaches its limit raises an alarm', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'JAM100', startMs: T0, endMs: T0 + HOUR });
  s.entry.jamArm(true);
  await arrive(s, s.entry, 'JAM100');
  t.equal(s.edge.lanes.get('in-1')!.state, 'OPENING');
  await s.run(9000);
  t.match(s.events(), [{ kind: 'barrier_fault', laneId: 'in-1' }]);
  t.match(s.edge.store.attendants.alarms({ openOnly: true, limit: 10 }), [{ kind: 'barrier_fault' }]);
  checkInvariants(t, s);
});

t.test('safety loop held: the arm is never lowered onto a vehicle', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'HOLD01', startMs: T0, endMs: T0 + HOUR });
  const lane = s.edge.lanes.get('in-1')!;
  await arrive(s, s.entry, 'HOLD01');
  await s.run(OPEN_MS);
  s.entry.safetyLoop.enter();
  s.entry.armingLoop.leave();
  await s.run(120_000);
  t.equal(lane.state, 'PASSING');
  t.equal(s.entry.armState(), 'up', 'arm stays up while the safety loop is occupied');
  s.entry.safetyLoop.leave();
  await s.run(200 + CLOSE_MS);
  t.equal(lane.state, 'IDLE');
  t.equal(s.entry.armState(), 'down');

  // Closing onto a car that rolls under the arm: the arm reverses.
  await s.run(10_000);
  book(s, 2, { id: 'r2', plate: 'HOLD02', startMs: T0, endMs: T0 + 4 * HOUR, spotId: 'A2' });
  await arrive(s, s.entry, 'HOLD02');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.equal(lane.state, 'IDLE');
  checkInvariants(t, s);
});

t.test('anti-passback hard: refused and recorded', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'PB1000', startMs: T0, endMs: T0 + 3 * HOUR });
  await arrive(s, s.entry, 'PB1000');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  await s.run(60_000);
  await arrive(s, s.entry, 'PB1000');
  t.equal(s.edge.lanes.get('in-1')!.state, 'REFUSED');
  t.same(s.entry.display.current(), ['Already inside', 'Please see attendant']);
  t.equal(s.entry.armState(), 'down');
  t.match(s.events(), [{ kind: 'entry' }, { kind: 'passback_violation', reservationId: 'r1', mode: 'hard' }]);
  checkInvariants(t, s);
});

t.test('anti-passback soft: admitted with an alarm', async (t) => {
  const s = await simEdge({ lot: testLot({ policy: { antiPassback: 'soft' } }) });
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'PB2000', startMs: T0, endMs: T0 + 3 * HOUR });
  await arrive(s, s.entry, 'PB2000');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  await s.run(60_000);
  await arrive(s, s.entry, 'PB2000');
  t.equal(s.edge.lanes.get('in-1')!.state, 'OPENING');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.same(kinds(s), ['entry', 'entry', 'passback_violation']);
  t.match(s.events()[2], { reservationId: 'r1', mode: 'soft' });
  t.match(s.edge.store.attendants.alarms({ openOnly: true, limit: 10 }), [{ kind: 'passback_violation' }]);
  t.equal(s.edge.store.attendants.sessionsInside().length, 1, 'the stale session was superseded');
  checkInvariants(t, s);
});

t.test(
  'early arrival: too early refused with the local start time; within the allowance admitted',
  async (t) => {
    const s = await simEdge();
    t.teardown(s.close);
    // 11:00Z = 13:00 in Amsterdam (CEST).
    book(s, 1, { id: 'r1', plate: 'EA1000', startMs: T0 + HOUR, endMs: T0 + 3 * HOUR });
    book(s, 2, { id: 'r2', plate: 'EA2000', startMs: T0 + 15 * MIN, endMs: T0 + 3 * HOUR, spotId: 'A2' });
    const lane = s.edge.lanes.get('in-1')!;
    await arrive(s, s.entry, 'EA1000');
    t.equal(lane.state, 'REFUSED');
    t.same(s.entry.display.current(), ['Reservation starts at 13:00', 'Please come back then']);
    t.match(s.events(), [{ kind: 'denied', reservationId: 'r1', reason: 'too_early' }]);
    void s.entry.backOut();
    await s.run(2000);
    t.equal(lane.state, 'IDLE');

    await arrive(s, s.entry, 'EA2000');
    t.equal(lane.state, 'OPENING', '15 minutes early is within the allowance');
    await s.run(OPEN_MS);
    await driveThrough(s, s.entry);
    t.match(s.events().at(-1), { kind: 'entry', reservationId: 'r2' });
    checkInvariants(t, s);
  },
);

t.test('expired window: refused with the end time', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'EX1000', startMs: T0 - 3 * HOUR, endMs: T0 - HOUR });
  await arrive(s, s.entry, 'EX1000');
  t.equal(s.edge.lanes.get('in-1')!.state, 'REFUSED');
  t.same(s.entry.display.current(), ['Reservation ended at 11:00', 'Please see attendant']);
  t.match(s.events(), [{ kind: 'denied', reason: 'expired' }]);
  checkInvariants(t, s);
});

t.test('drive-ups fill the driveup pool, then FULL; reservation holders still admitted', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'RES001', startMs: T0, endMs: T0 + 4 * HOUR });
  const lane = s.edge.lanes.get('in-1')!;
  for (const plate of ['DU0001', 'DU0002']) {
    await arrive(s, s.entry, plate);
    t.equal(lane.state, 'IDENTIFYING', 'waits for a QR first');
    await s.run(4000);
    t.equal(lane.state, 'OPENING', `${plate} admitted as a drive-up`);
    t.same(s.entry.display.current(), ['Welcome', 'Pay on exit']);
    await s.run(OPEN_MS);
    await driveThrough(s, s.entry);
  }
  t.equal(s.edge.store.attendants.occupancy().pools.driveup.full, true);
  await arrive(s, s.entry, 'DU0003');
  await s.run(4000);
  t.equal(lane.state, 'REFUSED');
  t.same(s.entry.display.current(), ['Lot full', 'Sorry']);
  void s.entry.backOut();
  await s.run(2000);

  await arrive(s, s.entry, 'RES001');
  t.equal(lane.state, 'OPENING', 'a reservation holder is admitted when the driveup pool is full');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.same(kinds(s), ['entry', 'entry', 'denied', 'entry']);
  t.match(s.events()[2], { reason: 'full', plate: 'DU0003' });
  t.match(s.events()[3], { reservationId: 'r1' });
  checkInvariants(t, s);
});

t.test('online overflow: a drive-up borrows a bookable spot only with the cloud saying yes', async (t) => {
  const s = await simEdge({ lot: testLot({ driveup: 0 }) });
  t.teardown(s.close);
  const asked: string[] = [];
  s.edge.setOnlineHooks({
    requestOverflow: async (req) => {
      asked.push(req.plate);
      return reservation({
        id: 'ovf-1',
        plate: req.plate,
        startMs: req.startMs,
        endMs: req.endMs,
        spotId: 'A4',
        kind: 'driveup',
      });
    },
  });
  s.edge.syncPort.setConnectivity('online', Date.now());
  await arrive(s, s.entry, 'OV1000');
  await s.run(4000);
  t.same(asked, ['OV1000']);
  t.same(s.entry.display.current(), ['Welcome — bay A-4']);
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.match(s.events(), [{ kind: 'entry', pool: 'bookable', spotId: 'A4', overflowReservationId: 'ovf-1' }]);

  s.edge.syncPort.setConnectivity('offline', Date.now());
  await s.run(30_000);
  await arrive(s, s.entry, 'OV2000');
  await s.run(4000);
  t.same(s.entry.display.current(), ['Lot full', 'Sorry'], 'offline: no overflow');
  t.same(asked, ['OV1000']);
  checkInvariants(t, s);
});

t.test('exit with overstay: charged online, recorded at passage', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'OS1000', startMs: T0, endMs: T0 + HOUR });
  const charges: Array<{ amount: number; reason: string; key: string }> = [];
  s.edge.setOnlineHooks({
    chargeOnline: async (req) => {
      charges.push({ amount: req.amount.amount, reason: req.reason, key: req.idempotencyKey });
      return { ok: true };
    },
  });
  s.edge.syncPort.setConnectivity('online', Date.now());
  await arrive(s, s.entry, 'OS1000');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  // Leave 31 minutes after the end: 3 started slots of overstay at €4.00/h = €3.00.
  await s.run(HOUR + 31 * MIN - 5000);
  await arrive(s, s.exit, 'OS1000');
  await s.run(50);
  t.equal(s.edge.lanes.get('out-1')!.state, 'OPENING');
  t.same(s.exit.display.current(), ['Goodbye — €3.00 paid']);
  t.match(charges, [{ amount: 300, reason: 'overstay' }]);
  await s.run(OPEN_MS);
  await driveThrough(s, s.exit);
  const exit = s.events().at(-1)!;
  t.match(exit, {
    kind: 'exit',
    reservationId: 'r1',
    charge: { amount: 300, currency: 'EUR' },
    settlement: 'cloud',
  });
  t.ok(exit.kind === 'exit' && exit.overstayMinutes >= 31 && exit.overstayMinutes <= 32);
  t.equal(s.edge.store.ledger.passbackState('r1'), 'out');
  t.equal(s.edge.store.attendants.sessionsInside().length, 0);
  checkInvariants(t, s);
});

t.test('offline exit: the fee is recorded as owed and the barrier opens', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  await arrive(s, s.entry, 'OFF100');
  await s.run(4000 + OPEN_MS);
  await driveThrough(s, s.entry);
  await s.run(50 * MIN);
  await arrive(s, s.exit, 'OFF100');
  await s.run(50);
  // 50 minutes from arrival = 4 started quarter hours at €4.00/h = €4.00.
  t.same(s.exit.display.current(), ['Goodbye — €4.00 to pay', 'We will send you the bill']);
  t.equal(s.edge.lanes.get('out-1')!.state, 'OPENING', 'nobody is trapped');
  await s.run(OPEN_MS);
  await driveThrough(s, s.exit);
  t.same(kinds(s), ['entry', 'exit', 'unable_to_collect']);
  t.match(s.events()[1], { kind: 'exit', settlement: 'owed', charge: { amount: 400 } });
  t.match(s.events()[2], {
    kind: 'unable_to_collect',
    plate: 'OFF100',
    amount: { amount: 400, currency: 'EUR' },
  });
  t.match(s.edge.store.attendants.unableToCollect(0, Date.now() + 1), [
    { plate: 'OFF100', amount: { amount: 400 } },
  ]);
  checkInvariants(t, s);
});

t.test('a camera that disconnects degrades the lane to QR and raises a device alarm', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  await s.entry.disconnectCamera();
  await s.run(100);
  t.match(s.events(), [{ kind: 'device_fault', device: 'camera', state: 'lost' }]);
  await arrive(s, s.entry, null);
  await scan(s, s.entry, qrFor({ id: 'q1', plate: null, startMs: T0, endMs: T0 + HOUR }));
  t.equal(s.edge.lanes.get('in-1')!.state, 'OPENING', 'QR still works');
  s.entry.reconnectCamera();
  await s.run(OPEN_MS + 2000);
  await driveThrough(s, s.entry);
  t.match(s.events(), [
    { kind: 'device_fault', device: 'camera', state: 'lost' },
    { kind: 'device_fault', device: 'camera', state: 'restored' },
    { kind: 'entry', credential: 'qr' },
  ]);
  t.same(
    s.edge.store.attendants.alarms({ openOnly: true, limit: 10 }).map((a) => a.kind),
    ['device_fault'],
  );
  checkInvariants(t, s);
});

// ---------------------------------------------------------------------------------------------
// Manual opens: what the vehicle's passage records

const ATTENDANT = { attendant: 'alice', reason: 'driver at the intercom', commandId: null };

t.test(
  'manual open at the entry: an attendant session (drive-up pool, even when full) found by plate at exit',
  async (t) => {
    const s = await simEdge({ lot: testLot({ driveup: 1 }) });
    t.teardown(s.close);
    const entry = s.edge.lanes.get('in-1')!;
    // The one drive-up spot is taken.
    await arrive(s, s.entry, 'DU0001');
    await s.run(4000 + OPEN_MS);
    await driveThrough(s, s.entry);
    t.equal(s.edge.store.attendants.occupancy().pools.driveup.full, true);

    // The next car is refused (full); the driver talks to the attendant for a while.
    await arrive(s, s.entry, 'MO1000');
    await s.run(4000);
    t.equal(entry.state, 'REFUSED');
    await s.run(20_000);
    t.same(entry.manualOpen(ATTENDANT), { ok: true, detail: 'opened' });
    t.equal(entry.state, 'OPENING');
    t.same(s.entry.display.current(), ['Opened by attendant']);
    t.same(kinds(s), ['entry', 'denied', 'manual_open'], 'nothing recorded before the passage');
    t.equal(s.edge.store.ledger.insideByPlate('MO1000'), undefined);
    await s.run(OPEN_MS);
    await driveThrough(s, s.entry);
    t.equal(entry.state, 'IDLE');

    const events = s.events();
    t.same(kinds(s), ['entry', 'denied', 'manual_open', 'entry']);
    const [manual, admitted] = [events[2]!, events[3]!];
    t.match(admitted, {
      kind: 'entry',
      laneId: 'in-1',
      credential: 'attendant',
      plate: 'MO1000',
      reservationId: null,
      pool: 'driveup',
      spotId: null,
    });
    t.equal(admitted.correlationId, manual.correlationId, 'the manual open and the entry share a cycle');
    const session = s.edge.store.ledger.insideByPlate('MO1000')!;
    t.match(session, { kind: 'driveup', credential: 'attendant', pool: 'driveup', entryLaneId: 'in-1' });
    t.equal(admitted.kind === 'entry' && admitted.sessionId, session.id, 'event and session in one write');
    t.match(s.edge.store.attendants.occupancy().pools.driveup, { total: 1, inside: 2, free: 0, full: true });

    // At the exit the camera finds it by plate; the fee is a drive-up's (50 min: 4 quarters of €4/h).
    await s.run(50 * MIN);
    await arrive(s, s.exit, 'MO1000');
    await s.run(50);
    t.equal(s.edge.lanes.get('out-1')!.state, 'OPENING', 'no attendant needed at the exit');
    t.same(s.exit.display.current(), ['Goodbye — €4.00 to pay', 'We will send you the bill']);
    await s.run(OPEN_MS);
    await driveThrough(s, s.exit);
    t.match(s.events().slice(4), [
      { kind: 'exit', sessionId: session.id, plate: 'MO1000', settlement: 'owed', charge: { amount: 400 } },
      { kind: 'unable_to_collect', sessionId: session.id, amount: { amount: 400 } },
    ]);
    t.equal(s.edge.store.ledger.insideByPlate('MO1000'), undefined);
    checkInvariants(t, s);
  },
);

t.test("manual open at the entry: no plate read, and never the previous car's plate", async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'PV1000', startMs: T0, endMs: T0 + 2 * HOUR });
  const entry = s.edge.lanes.get('in-1')!;
  await arrive(s, s.entry, 'PV1000');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  // Right behind it, within the credential hold time of that read: a car the camera cannot read.
  await arrive(s, s.entry, null);
  t.equal(entry.state, 'IDENTIFYING');
  t.equal(entry.status().lastRead?.plate, 'PV1000', 'the last read is the car that went in');
  entry.manualOpen(ATTENDANT);
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  t.same(kinds(s), ['entry', 'manual_open', 'entry']);
  t.match(s.events()[2], { kind: 'entry', credential: 'attendant', plate: null, pool: 'driveup' });
  t.match(
    s.edge.store.ledger.insideByReservation('r1'),
    { plate: 'PV1000', exitedAt: null },
    'booking untouched',
  );
  t.equal(s.edge.store.attendants.sessionsInside().length, 2);
  t.equal(s.edge.store.ledger.driveupInside(), 1, 'counted in the driveup pool');

  // Opened with nobody passing: nothing recorded, the pool is not charged.
  await s.run(30_000);
  entry.manualOpen(ATTENDANT);
  await s.run(OPEN_MS + 8000 + CLOSE_MS);
  t.equal(entry.state, 'IDLE');
  t.same(kinds(s), ['entry', 'manual_open', 'entry', 'manual_open']);
  t.equal(s.edge.store.ledger.driveupInside(), 1);
  checkInvariants(t, s);
});

t.test('manual open at the entry right after a passage: a cycle of its own', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  book(s, 1, { id: 'r1', plate: 'CY1000', startMs: T0, endMs: T0 + 2 * HOUR });
  const entry = s.edge.lanes.get('in-1')!;
  await arrive(s, s.entry, 'CY1000');
  await s.run(OPEN_MS);
  void s.entry.driveThrough();
  await s.run(PASS_MS);
  t.equal(entry.state, 'CLOSING');
  entry.manualOpen(ATTENDANT);
  t.equal(entry.state, 'OPENING', 'the arm goes back up');
  await s.run(OPEN_MS);
  await driveThrough(s, s.entry);
  const events = s.events();
  t.same(kinds(s), ['entry', 'manual_open', 'entry']);
  t.match(events[2], { credential: 'attendant', plate: null });
  t.not(events[2]!.correlationId, events[0]!.correlationId, 'a new cycle');
  t.equal(events[2]!.correlationId, events[1]!.correlationId);
  checkInvariants(t, s);
});

t.test('manual open at the exit: closes the session of the plate read, settled as owed', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const exit = s.edge.lanes.get('out-1')!;
  await arrive(s, s.entry, 'EXM100');
  await s.run(4000 + OPEN_MS);
  await driveThrough(s, s.entry);
  const session = s.edge.store.ledger.insideByPlate('EXM100')!;
  await s.run(50 * MIN);

  // Online, but the charge does not answer: the attendant opens meanwhile.
  let charges = 0;
  s.edge.setOnlineHooks({
    chargeOnline: () => {
      charges++;
      return new Promise(() => {});
    },
  });
  s.edge.syncPort.setConnectivity('online', Date.now());
  await arrive(s, s.exit, 'EXM100');
  t.equal(exit.state, 'IDENTIFYING', 'waiting for the charge');
  t.equal(charges, 1);
  t.same(exit.manualOpen(ATTENDANT), { ok: true, detail: 'opened' });
  await s.run(OPEN_MS);
  await driveThrough(s, s.exit);
  await s.run(10_000); // the charge times out: its late verdict records nothing more
  t.same(kinds(s), ['entry', 'manual_open', 'exit', 'unable_to_collect']);
  t.match(s.events()[2], {
    kind: 'exit',
    laneId: 'out-1',
    sessionId: session.id,
    plate: 'EXM100',
    charge: { amount: 400, currency: 'EUR' },
    settlement: 'owed',
  });
  t.equal(s.events()[2]!.correlationId, s.events()[1]!.correlationId);
  t.match(s.events()[3], { kind: 'unable_to_collect', plate: 'EXM100', amount: { amount: 400 } });
  t.equal(s.edge.store.attendants.sessionsInside().length, 0);

  // Paid in cash at the booth, then let out by hand: settled in cash.
  s.edge.syncPort.setConnectivity('offline', Date.now());
  await s.run(30_000);
  await arrive(s, s.entry, 'EXM200');
  await s.run(4000 + OPEN_MS);
  await driveThrough(s, s.entry);
  const second = s.edge.store.ledger.insideByPlate('EXM200')!;
  await s.run(20 * MIN);
  s.edge.store.ledger.recordCashPayment({
    atMs: Date.now(),
    sessionId: second.id,
    amount: { amount: 200, currency: 'EUR' },
    attendant: 'alice',
  });
  void s.exit.vehicleArrives('EXM200', { readBeforeLoop: true, misread: false });
  await s.run(100); // read on approach, before the arming loop: the lane is still idle
  t.equal(exit.state, 'IDLE');
  exit.manualOpen(ATTENDANT);
  await s.run(OPEN_MS);
  await driveThrough(s, s.exit);
  t.match(s.events().at(-1), {
    kind: 'exit',
    sessionId: second.id,
    charge: { amount: 200 },
    settlement: 'cash',
  });
  checkInvariants(t, s);
});

t.test('manual open at the exit with no plate read: only the manual_open event', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const exit = s.edge.lanes.get('out-1')!;
  await arrive(s, s.entry, 'NOP100');
  await s.run(4000 + OPEN_MS);
  await driveThrough(s, s.entry);
  await s.run(30 * MIN);
  await arrive(s, s.exit, null);
  exit.manualOpen(ATTENDANT);
  await s.run(OPEN_MS);
  await driveThrough(s, s.exit);
  t.same(kinds(s), ['entry', 'manual_open']);
  t.ok(s.edge.store.ledger.insideByPlate('NOP100'), 'the session stays open');
  checkInvariants(t, s);
});
