import t from 'tap';
import { signCredential } from '../../protocol/credential.js';
import { type LotConfig, LotConfigSchema } from '../../protocol/domain.js';
import type { Change } from '../../protocol/mqtt.js';
import type { Permit } from '../../protocol/permits.js';
import { type Decision, type DecisionContext, decide } from '../lane/decision.js';
import { timeFormatter } from '../lane/messages.js';
import type { EdgeStore } from '../store/store.js';
import type { EntryPlan } from '../store/types.js';
import { change, HOUR, LOT_ID, MIN, openTestStore, reservation, T0, testKey, testLot } from './support.js';

/**
 * Permits at the gate (docs/permits.md): by plate and by signed QR, validity, access hours,
 * suspension and cancellation from the change stream, anti-passback per permit, no fee at the exit,
 * and the pools: offline admission of permit holders and drive-ups never takes a sold booking's space.
 */

const DAY = 24 * HOUR;
// T0 is Monday 2025-06-02 12:00 in Amsterdam.

function lotWithPermits(
  permitSpots: number,
  driveup = 2,
  policy: Partial<LotConfig['policy']> = {},
): LotConfig {
  const base = testLot({ driveup, policy });
  return LotConfigSchema.parse({
    ...base,
    spots: [
      ...base.spots,
      ...Array.from({ length: permitSpots }, (_, i) => ({
        id: `P${i + 1}`,
        label: `P-${i + 1}`,
        level: '1',
        type: 'car',
        pool: 'permit',
      })),
    ],
  });
}

function permit(p: Partial<Permit> & { id: string; plates: string[] }): Permit {
  return {
    lotId: LOT_ID,
    holder: 'Acme',
    validFrom: new Date(T0 - DAY).toISOString(),
    validTo: new Date(T0 + 30 * DAY).toISOString(),
    accessHours: [],
    maxInside: 1,
    price: { amount: 9000, currency: 'EUR' },
    period: 'month',
    status: 'active',
    version: 1,
    ...p,
  };
}

const permitChange = (seq: number, p: Permit, reason: Change['reason'] = 'permit_issued'): Change => ({
  seq,
  at: new Date(T0).toISOString(),
  reason,
  permit: p,
});

function ctx(store: EdgeStore, direction: 'entry' | 'exit'): DecisionContext {
  const lot = store.mirror.config().lot;
  return {
    lot,
    publicKeys: [testKey().publicEntry],
    laneId: direction === 'entry' ? 'in-1' : 'out-1',
    direction,
    overflowAvailable: false,
    driveupCapacity: store.mirror.lotIndex().driveupCount,
    permitCapacity: store.mirror.lotIndex().permitCount,
    spotsById: new Map(lot.spots.map((s) => [s.id, s])),
    times: timeFormatter(lot.timeZone),
  };
}

let sessions = 0;
/** Record the admission as the lane does when the vehicle clears the loop. */
function pass(store: EdgeStore, d: Decision, atMs: number): string {
  if (d.kind !== 'admit') throw new Error(`expected admit, got ${JSON.stringify(d)}`);
  const sessionId = `s${++sessions}`;
  store.ledger.recordEntry({
    sessionId,
    atMs,
    laneId: 'in-1',
    correlationId: null,
    ...(d.plan as EntryPlan),
  });
  return sessionId;
}

const plate = (p: string, confidence = 0.95) => ({ kind: 'plate' as const, plate: p, confidence });
const permitQr = (p: { id: string; plate: string | null; startMs: number; endMs: number }) =>
  signCredential(
    { kind: 'permit', rid: p.id, lot: LOT_ID, plate: p.plate, start: p.startMs, end: p.endMs },
    testKey().signing,
  );

t.test('a permit opens by plate and by QR, within validity and hours; the exit owes nothing', async (t) => {
  const { store, cleanup } = openTestStore({ lot: lotWithPermits(2) });
  t.teardown(cleanup);
  const weekdays = [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '19:00' }];
  store.mirror.applyChanges([
    permitChange(1, permit({ id: 'pm1', plates: ['B0B123', 'XY99'], accessHours: weekdays, holder: 'Acme' })),
  ]);
  const entry = ctx(store, 'entry');
  const d = decide(entry, store.gateView, plate('B08123'), T0);
  t.match(d, {
    kind: 'admit',
    plan: { sessionKind: 'permit', permitId: 'pm1', pool: 'permit', plate: 'B0B123' },
  });
  t.same(d.display, ['Welcome', 'Acme'], 'one look-alike character away still matches');
  const sid = pass(store, d, T0);

  const exit = decide(ctx(store, 'exit'), store.gateView, plate('B0B123'), T0 + 5 * HOUR);
  t.match(exit, { kind: 'exit', plan: { sessionId: sid, charge: null, due: null } }, 'no fee at the exit');
  if (exit.kind === 'exit') {
    store.ledger.recordExit({
      sessionId: sid,
      atMs: T0 + 5 * HOUR,
      laneId: 'out-1',
      correlationId: null,
      charge: null,
      overstayMinutes: 0,
      settlement: 'none',
      owed: null,
    });
  }
  // Monday 20:30 local: outside the weekday band.
  t.match(decide(entry, store.gateView, plate('B0B123'), T0 + 8.5 * HOUR), {
    kind: 'refuse',
    reason: 'outside_hours',
  });
  // Saturday: outside too.
  t.match(decide(entry, store.gateView, plate('XY99'), T0 + 5 * DAY), {
    kind: 'refuse',
    reason: 'outside_hours',
  });
  t.match(decide(entry, store.gateView, plate('XY99'), T0 + 31 * DAY), { kind: 'refuse', reason: 'expired' });

  const qr = permitQr({ id: 'pm1', plate: 'B0B123', startMs: T0 - DAY, endMs: T0 + 30 * DAY });
  t.match(decide(entry, store.gateView, { kind: 'qr', text: qr }, T0 + HOUR), {
    kind: 'admit',
    plan: { sessionKind: 'permit', permitId: 'pm1', credential: 'qr' },
  });
  const bookingSigned = signCredential(
    { rid: 'pm1', lot: LOT_ID, plate: 'B0B123', start: T0 - DAY, end: T0 + 30 * DAY },
    testKey().signing,
  );
  const tampered = `PP1${bookingSigned.slice(3)}`;
  t.match(decide(entry, store.gateView, { kind: 'qr', text: tampered }, T0 + HOUR), {
    kind: 'refuse',
    reason: 'invalid_qr',
  });
});

t.test('suspend, resume and cancel arrive on the change stream and a snapshot', async (t) => {
  const { store, cleanup } = openTestStore({ lot: lotWithPermits(2) });
  t.teardown(cleanup);
  const p = permit({ id: 'pm1', plates: ['K1234'] });
  const entry = ctx(store, 'entry');
  store.mirror.applyChanges([permitChange(1, p)]);
  store.mirror.applyChanges([permitChange(2, { ...p, status: 'suspended', version: 2 }, 'permit_suspended')]);
  t.match(decide(entry, store.gateView, plate('K1234'), T0), { kind: 'refuse', reason: 'permit_suspended' });
  store.mirror.applyChanges([permitChange(3, { ...p, status: 'active', version: 3 }, 'permit_resumed')]);
  t.match(decide(entry, store.gateView, plate('K1234'), T0), { kind: 'admit' });
  // A stale copy (lower version) never overwrites a newer one.
  store.mirror.applyChanges([permitChange(4, { ...p, status: 'suspended', version: 2 }, 'permit_suspended')]);
  t.match(decide(entry, store.gateView, plate('K1234'), T0), { kind: 'admit' });
  const qr = permitQr({ id: 'pm1', plate: 'K1234', startMs: T0 - DAY, endMs: T0 + 30 * DAY });
  store.mirror.applyChanges([permitChange(5, { ...p, status: 'cancelled', version: 4 }, 'permit_cancelled')]);
  t.match(decide(entry, store.gateView, { kind: 'qr', text: qr }, T0), {
    kind: 'refuse',
    reason: 'cancelled',
  });
  t.equal(store.mirror.getCursor(), 5);

  store.mirror.applyChanges([permitChange(6, permit({ id: 'pm2', plates: ['L1234'] }))]);
  t.match(decide(entry, store.gateView, plate('L1234'), T0), { kind: 'admit' });
  store.mirror.applySnapshot({ asOfSeq: 9, reservations: [], permits: [] });
  t.match(
    decide(entry, store.gateView, plate('L1234'), T0),
    { kind: 'refuse', reason: 'cancelled' },
    'a permit missing from a snapshot is no longer live',
  );
});

t.test('anti-passback per permit: at most maxInside of its vehicles inside', async (t) => {
  const { store, cleanup } = openTestStore({ lot: lotWithPermits(4) });
  t.teardown(cleanup);
  store.mirror.applyChanges([
    permitChange(1, permit({ id: 'pm1', plates: ['AA11', 'BB22', 'CC33'], maxInside: 2 })),
  ]);
  const entry = ctx(store, 'entry');
  pass(store, decide(entry, store.gateView, plate('AA11'), T0), T0);
  t.match(
    decide(entry, store.gateView, plate('AA11'), T0 + MIN),
    { kind: 'refuse', reason: 'already_inside', passbackViolation: true },
    'the same vehicle again without an exit (hard)',
  );
  pass(store, decide(entry, store.gateView, plate('BB22'), T0 + 2 * MIN), T0 + 2 * MIN);
  t.match(decide(entry, store.gateView, plate('CC33'), T0 + 3 * MIN), {
    kind: 'refuse',
    reason: 'permit_limit',
    display: ['Permit: 2 vehicles already inside'],
  });

  const soft = openTestStore({ lot: lotWithPermits(4, 2, { antiPassback: 'soft' }) });
  t.teardown(soft.cleanup);
  soft.store.mirror.applyChanges([permitChange(1, permit({ id: 'pm1', plates: ['AA11'] }))]);
  const c = ctx(soft.store, 'entry');
  const first = pass(soft.store, decide(c, soft.store.gateView, plate('AA11'), T0), T0);
  const again = decide(c, soft.store.gateView, plate('AA11'), T0 + MIN);
  t.match(again, { kind: 'admit', plan: { softPassbackViolation: true, supersedesSessionId: first } });
  pass(soft.store, again, T0 + MIN);
  t.equal(soft.store.ledger.permitInside('pm1'), 1, 'soft mode replaced the stale session');
});

t.test('a permit QR the lot has never seen (issued offline) opens within its signed validity', async (t) => {
  const { store, cleanup } = openTestStore({ lot: lotWithPermits(2) });
  t.teardown(cleanup);
  const entry = ctx(store, 'entry');
  const qr = permitQr({ id: 'pm-new', plate: 'NEW1', startMs: T0 - HOUR, endMs: T0 + DAY });
  const d = decide(entry, store.gateView, { kind: 'qr', text: qr }, T0);
  t.match(d, { kind: 'admit', plan: { permitId: 'pm-new', plate: 'NEW1', pool: 'permit' } });
  pass(store, d, T0);
  t.match(
    decide(ctx(store, 'exit'), store.gateView, { kind: 'qr', text: qr }, T0 + HOUR),
    { kind: 'exit', plan: { charge: null } },
    'the QR also lets it out, free',
  );
  t.match(decide(entry, store.gateView, { kind: 'qr', text: qr }, T0 + 2 * DAY), {
    kind: 'refuse',
    reason: 'expired',
  });
});

t.test(
  'offline: permit holders and drive-ups fill their pools, every booking holder still gets in',
  async (t) => {
    // All 6 bookable spots sold; 2 permit spots, oversold to 4 permits; 2 drive-up spots.
    const { store, cleanup } = openTestStore({ lot: lotWithPermits(2, 2) });
    t.teardown(cleanup);
    const bookings = [
      { id: 'r1', plate: 'BK1001', spotId: 'A1' },
      { id: 'r2', plate: 'BK1002', spotId: 'A2' },
      { id: 'r3', plate: 'BK1003', spotId: 'A3' },
      { id: 'r4', plate: 'BK1004', spotId: 'A4' },
      { id: 'r5', plate: 'BK1005', spotId: 'E1', vehicleType: 'ev' as const },
      { id: 'r6', plate: 'BK1006', spotId: 'H1', vehicleType: 'accessible' as const },
    ];
    store.mirror.applyChanges([
      ...bookings.map((b, i) => change(i + 1, reservation({ ...b, startMs: T0, endMs: T0 + 4 * HOUR }))),
      ...['PM1', 'PM2', 'PM3', 'PM4'].map((id, i) =>
        permitChange(bookings.length + 1 + i, permit({ id: id.toLowerCase(), plates: [`${id}X`] })),
      ),
    ]);
    const entry = ctx(store, 'entry');
    t.equal(entry.overflowAvailable, false, 'the link is cut: no overflow into bookable spots');
    const admitted: string[] = [];
    for (const p of ['PM1X', 'PM2X', 'PM3X', 'PM4X']) {
      const d = decide(entry, store.gateView, plate(p), T0);
      if (d.kind === 'admit') {
        t.not(d.plan.pool, 'bookable');
        pass(store, d, T0);
        admitted.push(`${p}:${d.plan.pool}`);
      } else t.match(d, { kind: 'refuse', reason: 'full' });
    }
    t.same(
      admitted,
      ['PM1X:permit', 'PM2X:permit', 'PM3X:driveup', 'PM4X:driveup'],
      'permit pool, then drive-up pool',
    );
    for (const p of ['DU1', 'DU2']) {
      const d = decide(entry, store.gateView, { kind: 'driveup', plate: p }, T0);
      t.match(d, { kind: 'refuse', reason: 'full' }, 'drive-ups find their pool full');
    }
    t.equal(
      store.ledger.permitPoolInside() + store.ledger.driveupInside(),
      4,
      'never more than the edge’s own spots',
    );
    for (const b of bookings) {
      const d = decide(entry, store.gateView, plate(b.plate), T0 + 10 * MIN);
      t.match(d, { kind: 'admit', plan: { reservationId: b.id, pool: 'bookable', spotId: b.spotId } });
      pass(store, d, T0 + 10 * MIN);
    }
    const slot = Math.floor(T0 / 900_000);
    t.equal(
      store.mirror.bookableFree('car', slot, slot + 16),
      0,
      'the sold spots are still held by their bookings',
    );
  },
);

t.test('the lot changes while a booking, a permit holder and a drive-up are inside', async (t) => {
  const { store, cleanup } = openTestStore({ lot: lotWithPermits(2, 2) });
  t.teardown(cleanup);
  store.mirror.applyChanges([
    change(1, reservation({ id: 'r1', plate: 'BK1', spotId: 'A1', startMs: T0, endMs: T0 + 3 * HOUR })),
    permitChange(2, permit({ id: 'pm1', plates: ['PM1'] })),
  ]);
  const entry = ctx(store, 'entry');
  pass(store, decide(entry, store.gateView, plate('BK1'), T0), T0);
  pass(store, decide(entry, store.gateView, plate('PM1'), T0), T0);
  pass(store, decide(entry, store.gateView, { kind: 'driveup', plate: 'DU1' }, T0), T0);
  const before = store.attendants.occupancy();
  t.match(before.pools, { bookable: { held: 1 }, driveup: { inside: 1 }, permit: { inside: 1, total: 2 } });

  // The cloud removed A1 (its booking moved to A3 in the same transaction), turned P2 into a
  // bookable spot and D2 into a permit spot; the config and the move arrive without a restart.
  const lot = store.mirror.config().lot;
  const spots = lot.spots
    .filter((s) => s.id !== 'A1')
    .map((s) =>
      s.id === 'P2'
        ? { ...s, pool: 'bookable' as const }
        : s.id === 'D2'
          ? { ...s, pool: 'permit' as const }
          : s,
    );
  store.mirror.setConfig({
    version: 7,
    lot: { ...lot, spots },
    publicKeys: store.mirror.config().publicKeys,
  });
  store.mirror.applyChanges([
    change(
      3,
      reservation({
        id: 'r1',
        plate: 'BK1',
        spotId: 'A3',
        startMs: T0,
        endMs: T0 + 3 * HOUR,
        status: 'CHECKED_IN',
      }),
      'updated',
    ),
  ]);
  const after = store.attendants.occupancy();
  t.match(after.pools, {
    bookable: { total: 6, held: 1 },
    driveup: { total: 1, inside: 1, full: true },
    permit: { total: 2, inside: 1, free: 1 },
  });
  t.equal(after.vehiclesInside, 3, 'nobody inside was lost');
  const slot = Math.floor(T0 / 900_000);
  const index = store.mirror.lotIndex();
  t.notOk(
    store.mirror.bitmap().isFree(index.indexById.get('A3')!, slot, slot + 1),
    'the moved booking holds its new spot',
  );
  t.equal(index.indexById.get('A1'), undefined, 'the removed spot is gone');

  const exit = ctx(store, 'exit');
  t.match(decide(exit, store.gateView, plate('BK1'), T0 + HOUR), {
    kind: 'exit',
    plan: { reservationId: 'r1', charge: null },
  });
  t.match(decide(exit, store.gateView, plate('PM1'), T0 + HOUR), { kind: 'exit', plan: { charge: null } });
  t.match(decide(exit, store.gateView, plate('DU1'), T0 + HOUR), {
    kind: 'exit',
    plan: { charge: { amount: 400, currency: 'EUR' } },
  });
  const newEntry = ctx(store, 'entry');
  t.equal(newEntry.permitCapacity, 2);
  t.match(decide(newEntry, store.gateView, { kind: 'driveup', plate: 'DU2' }, T0 + HOUR), {
    kind: 'refuse',
    reason: 'full',
  });
});
