import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import t from 'tap';
import { GateEventSchema } from '../../protocol/mqtt.js';
import { slotOf } from '../../protocol/slots.js';
import { driveupPlan } from '../lane/decision.js';
import { loadMigrations, migrate } from '../store/migrate.js';
import {
  change,
  HOUR,
  LOT_ID,
  MIN,
  openTestStore,
  reservation,
  T0,
  tempDir,
  testKey,
  testLot,
} from './support.js';

t.test('migrations apply from empty, in order, once', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const db = new Database(join(tmp.dir, 'm.sqlite'));
  t.teardown(() => db.close());
  const all = loadMigrations();
  t.ok(all.length >= 2);
  t.same(
    all.map((m) => m.version),
    all.map((_, i) => i + 1),
  );
  t.same(
    migrate(db, all, T0),
    all.map((m) => m.version),
    'all applied on an empty file',
  );
  t.same(migrate(db, all, T0), [], 'nothing applied twice');
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .pluck()
    .all() as string[];
  for (const name of [
    'alarms',
    'attendants',
    'audit_log',
    'commands',
    'counters',
    'lot_config',
    'outbox',
    'passback',
    'reservations',
    'schema_migrations',
    'sessions',
    'spots',
    'unable_to_collect',
  ]) {
    t.ok(tables.includes(name), `table ${name}`);
  }
  t.throws(() => migrate(db, all.slice(0, 1), T0), /newer than this edge build/, 'refuses a newer schema');
});

t.test('migrations: refuses to open when one below the highest applied is missing', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const db = new Database(join(tmp.dir, 'm.sqlite'));
  t.teardown(() => db.close());
  const m = (version: number, name: string) => ({
    version,
    name,
    sql: `CREATE TABLE t${version} (x INTEGER)`,
  });
  // A build that had 001 and 003 (003 renumbered, or 002 added later on another branch).
  t.same(migrate(db, [m(1, 'init'), m(3, 'later')], T0), [1, 3]);
  t.throws(
    () => migrate(db, [m(1, 'init'), m(2, 'inserted'), m(3, 'later')], T0),
    /migration 002_inserted is not applied but the database is already at 003_later/,
    'names the missing migration and the highest applied',
  );
  t.equal(
    db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 't2'").pluck().get(),
    0,
    'nothing applied',
  );
  t.same(migrate(db, [m(1, 'init'), m(3, 'later'), m(4, 'next')], T0), [4], 'a later one still applies');
});

t.test('open sets WAL and synchronous=FULL and loads the file config as version 0', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  t.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(store.db.pragma('synchronous', { simple: true }), 2, 'FULL');
  t.equal(store.mirror.config().version, 0);
  t.equal(store.mirror.config().source, 'file');
  t.equal(store.mirror.lotIndex().driveupCount, 2);
});

t.test('applyChanges: in order, idempotent, stops at a gap, cursor in the same transaction', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  const r1 = reservation({ id: 'r1', plate: 'aa-11-bb', startMs: T0, endMs: T0 + HOUR });
  const r2 = reservation({ id: 'r2', plate: 'CC22DD', startMs: T0, endMs: T0 + HOUR, spotId: 'A2' });
  t.same(store.mirror.applyChanges([change(1, r1), change(2, r2)]), { applied: 2, skipped: 0 });
  t.equal(store.mirror.getCursor(), 2);
  t.equal(store.mirror.reservationById('r1')?.plate, 'AA11BB', 'plate stored normalised');
  t.same(
    store.mirror.applyChanges([change(1, r1), change(2, r2)]),
    { applied: 0, skipped: 2 },
    'replay is a no-op',
  );
  const cancelled = { ...r1, status: 'CANCELLED' as const };
  t.same(store.mirror.applyChanges([change(3, cancelled), change(5, r1)]), {
    applied: 1,
    skipped: 0,
    gapFrom: 3,
  });
  t.equal(store.mirror.getCursor(), 3, 'cursor stops before the gap');
  t.equal(store.mirror.reservationById('r1')?.status, 'CANCELLED');
  // Bitmap follows: r1's spot is free again, r2's is held.
  const s = slotOf(T0);
  t.equal(store.mirror.bitmap().isFree(store.mirror.lotIndex().indexById.get('A1')!, s, s + 4), true);
  t.equal(store.mirror.bitmap().isFree(store.mirror.lotIndex().indexById.get('A2')!, s, s + 4), false);
  t.same(store.mirror.applyChanges([change(4, { ...r2, lotId: 'other-lot', status: 'CANCELLED' })]), {
    applied: 1,
    skipped: 0,
  });
  t.equal(store.mirror.reservationById('r2')?.status, 'CONFIRMED', 'not applied');
  t.equal(store.mirror.getCursor(), 4, 'a change for another lot still moves the cursor');
});

t.test('applySnapshot replaces active reservations and sets the cursor', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  store.mirror.applyChanges([
    change(1, reservation({ id: 'gone', plate: 'GONE1', startMs: T0, endMs: T0 + HOUR })),
    change(2, reservation({ id: 'kept', plate: 'KEPT1', startMs: T0, endMs: T0 + HOUR, spotId: 'A2' })),
  ]);
  store.mirror.applySnapshot({
    asOfSeq: 40,
    reservations: [
      reservation({ id: 'kept', plate: 'KEPT1', startMs: T0, endMs: T0 + 2 * HOUR, spotId: 'A2' }),
      reservation({ id: 'new', plate: 'NEW1', startMs: T0, endMs: T0 + HOUR, spotId: 'A3' }),
    ],
  });
  t.equal(store.mirror.getCursor(), 40);
  t.equal(
    store.mirror.reservationById('gone')?.status,
    'CANCELLED',
    'missing from the snapshot: no longer active',
  );
  t.equal(store.mirror.reservationById('kept')?.endMs, T0 + 2 * HOUR);
  t.equal(store.mirror.reservationById('new')?.status, 'CONFIRMED');
  const idx = store.mirror.lotIndex().indexById;
  const s = slotOf(T0);
  t.ok(store.mirror.bitmap().isFree(idx.get('A1')!, s, s + 8));
  t.notOk(store.mirror.bitmap().isFree(idx.get('A2')!, s + 4, s + 8));
});

t.test('setConfig: newer versions only; survives reopen; file config used until then', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const path = join(tmp.dir, 'c.sqlite');
  const a = openTestStore({ path });
  const lot = testLot({ driveup: 5 });
  t.same(a.store.mirror.setConfig({ version: 3, lot, publicKeys: [testKey().publicEntry] }), {
    applied: true,
  });
  t.same(a.store.mirror.setConfig({ version: 2, lot: testLot(), publicKeys: [] }), { applied: false });
  t.equal(a.store.mirror.lotIndex().driveupCount, 5);
  a.store.close();
  const b = openTestStore({ path, lot: testLot({ driveup: 1 }) });
  t.teardown(b.cleanup);
  t.equal(b.store.mirror.config().version, 3, 'the cloud config wins over the file after restart');
  t.equal(b.store.mirror.lotIndex().driveupCount, 5);
  t.throws(() => b.store.mirror.setConfig({ version: 9, lot: { ...lot, id: 'other' }, publicKeys: [] }));
});

t.test('outbox: event ids are gapless and ordered under many mixed writes', async (t) => {
  const { store, clock, cleanup } = openTestStore();
  t.teardown(cleanup);
  let inside: string[] = [];
  let n = 0;
  await fc.assert(
    fc.property(
      fc.array(fc.constantFrom('entry', 'exit', 'denied', 'alarm', 'manual', 'cash', 'reset', 'ack'), {
        minLength: 50,
        maxLength: 300,
      }),
      (ops) => {
        for (const op of ops) {
          clock.advance(1000);
          const atMs = clock.now();
          const at = new Date(atMs).toISOString();
          n++;
          if (op === 'entry' || (op !== 'denied' && inside.length === 0)) {
            const sessionId = `s${n}`;
            store.ledger.recordEntry({
              sessionId,
              atMs,
              laneId: 'in-1',
              correlationId: `c${n}`,
              ...driveupPlan({ plate: `P${n}` }),
            });
            inside.push(sessionId);
          } else if (op === 'exit') {
            const id = inside.shift()!;
            store.ledger.recordExit({
              sessionId: id,
              atMs,
              laneId: 'out-1',
              correlationId: null,
              charge: { amount: 100, currency: 'EUR' },
              overstayMinutes: 0,
              settlement: 'owed',
              owed: { amount: 100, currency: 'EUR' },
            });
          } else if (op === 'denied') {
            store.ledger.recordEvent(
              {
                kind: 'denied',
                at,
                laneId: 'in-1',
                correlationId: null,
                plate: null,
                reservationId: null,
                reason: 'x',
              },
              atMs,
            );
          } else if (op === 'alarm') {
            store.ledger.recordAlarm(
              { kind: 'tailgate', at, laneId: 'in-1', correlationId: null, sessionId: null },
              atMs,
              't',
            );
          } else if (op === 'manual') {
            store.ledger.recordManualOpen({
              atMs,
              laneId: 'in-1',
              attendant: 'a',
              reason: 'r',
              correlationId: null,
              commandId: null,
            });
          } else if (op === 'cash') {
            store.ledger.recordCashPayment({
              atMs,
              sessionId: inside[0]!,
              amount: { amount: 50, currency: 'EUR' },
              attendant: 'a',
            });
          } else if (op === 'reset') {
            store.ledger.resetPassback({
              atMs,
              reservationId: `r${n}`,
              attendant: 'a',
              reason: 'r',
              commandId: null,
            });
          } else {
            store.ledger.recordCommandAck(`cmd${n}`, true, 'ok');
          }
        }
      },
    ),
    { seed: 42, numRuns: 20 },
  );
  const events = store.ledger.eventsAfter(0, 1_000_000);
  t.ok(events.length > 1000, `${events.length} events`);
  t.equal(store.ledger.lastEventId(), events.length);
  t.ok(
    events.every((e, i) => e.eventId === i + 1),
    'ids 1..N with no gap',
  );
  t.ok(
    events.every((e) => GateEventSchema.safeParse(e).success),
    'every payload matches the wire schema',
  );
  // Acks move forward only; pending starts after the watermark; pruning keeps unacked events.
  t.same(store.ledger.ackEvents(500), { acked: 500 });
  t.same(store.ledger.ackEvents(400), { acked: 500 }, 'never backwards');
  t.equal(store.ledger.outboxDepth(), events.length - 500);
  t.equal(store.ledger.pendingEvents(0, 10)[0]?.eventId, 501);
  t.equal(store.ledger.pendingEvents(600, 10)[0]?.eventId, 601);
  t.equal(store.ledger.pruneAcked(clock.now() + 1, 200), 200, 'in batches');
  t.same(await store.ledger.housekeeping(-1, async () => {}), { pruned: 300 });
  t.equal(store.ledger.eventsAfter(0, 1)[0]?.eventId, 501);
  store.ledger.recordEvent(
    {
      kind: 'denied',
      at: new Date(clock.now()).toISOString(),
      laneId: null,
      correlationId: null,
      plate: null,
      reservationId: null,
      reason: 'x',
    },
    clock.now(),
  );
  t.equal(store.ledger.lastEventId(), events.length + 1, 'ids continue after pruning');
  inside = [];
});

t.test('a failed transaction leaves no event and no gap', async (t) => {
  const { store, clock, cleanup } = openTestStore();
  t.teardown(cleanup);
  const entry = (sessionId: string) =>
    store.ledger.recordEntry({
      sessionId,
      atMs: clock.now(),
      laneId: 'in-1',
      correlationId: null,
      ...driveupPlan({ plate: 'X1' }),
    });
  entry('same');
  t.throws(() => entry('same'), /UNIQUE/);
  entry('next');
  t.same(
    store.ledger.eventsAfter(0, 10).map((e) => e.eventId),
    [1, 2],
  );
});

t.test('occupancy per pool, level and type', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  store.mirror.applyChanges([
    change(1, reservation({ id: 'r1', plate: 'O1', startMs: T0 - 15 * MIN, endMs: T0 + HOUR })),
    change(2, reservation({ id: 'r2', plate: 'O2', startMs: T0 + HOUR, endMs: T0 + 2 * HOUR, spotId: 'A2' })),
  ]);
  const o = store.attendants.occupancy();
  t.match(o.pools, {
    bookable: { total: 6, held: 1, free: 5 },
    driveup: { total: 2, inside: 0, free: 2, full: false },
  });
  t.match(o.levels, [
    { key: '0', total: 6, held: 1 },
    { key: '1', total: 2, held: 0 },
  ]);
  t.equal(o.full, false);
  t.equal(store.lotId, LOT_ID);
});
