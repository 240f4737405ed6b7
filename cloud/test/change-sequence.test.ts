import t, { type Test } from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { seededRandom } from '../../protocol/random.js';
import { type Database, openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { type ChangeSequencer, createChangeLog, createChangeSequencer } from '../repositories/changes.js';
import { DATABASE_URL, openTestDatabase } from './helpers.js';

/**
 * The change log's seq (migration 005): assigned after commit, in batches, by the sequencer. Proof
 * that it stays gapless, per lot and commit-ordered with concurrent writers, aborted transactions,
 * several sequencers (cloud instances) and a writer that dies between its commit and sequencing
 * (a restart) — on PGlite always, and on the real PostgreSQL when DATABASE_URL is set.
 *
 * Commit order is made observable: every writer of lot A increments one counter row (a row lock,
 * as a reservation's or a spot's) and records the value in its change, so the n-th commit carries
 * n. The seqs of lot A must list the values 1, 2, 3, … in order.
 */

const LOTS = ['seq-a', 'seq-b'];

async function prepare(db: Database): Promise<void> {
  await migrate(db, silentLogger());
  for (const id of LOTS) {
    await db.pooled.query(
      `insert into lots (id, name, time_zone, lat, lng, rates, policy, base_slot)
       values ($1, $1, 'UTC', 0, 0, '{}', '{}', 0)`,
      [id],
    );
    await db.pooled.query('insert into lot_seq (lot_id) values ($1)', [id]);
  }
  await db.pooled.query('create table seq_probe (lot_id text primary key, n integer not null)');
  await db.pooled.query(`insert into seq_probe values ('seq-a', 0), ('seq-b', 0)`);
}

/** A valid reservation (the change log parses what it serves) carrying the counter in its plate. */
const probe = (lot: string, n: number) => ({
  id: `${lot}-${n}`,
  lotId: lot,
  spotId: 's1',
  spotLabel: 'S1',
  vehicleType: 'car',
  plate: `N${n}`,
  start: '2030-01-07T08:00:00.000Z',
  end: '2030-01-07T09:00:00.000Z',
  status: 'CONFIRMED',
  kind: 'booking',
  price: { amount: 400, currency: 'EUR' },
});

/** One writer: take the lot's counter row, append a change carrying it; abort instead if asked. */
async function write(db: Database, lot: string, abort: boolean): Promise<number | null> {
  try {
    return await db.tx(async (q) => {
      const r = await q.query<{ n: number }>('update seq_probe set n = n + 1 where lot_id = $1 returning n', [
        lot,
      ]);
      const n = r.rows[0]!.n;
      await q.query(
        `insert into lot_changes (lot_id, at, reason, reservation) values ($1, now(), 'confirmed', $2)`,
        [lot, JSON.stringify(probe(lot, n))],
      );
      if (abort) throw new Error('abort');
      return n;
    });
  } catch (e) {
    if (abort && e instanceof Error && e.message === 'abort') return null;
    throw e;
  }
}

interface Logged {
  seq: number | null;
  n: number;
}

async function logOf(db: Database, lot: string): Promise<Logged[]> {
  return db.rows<Logged>(
    `select seq, substr(reservation->>'plate', 2)::int as n from lot_changes where lot_id = $1 order by seq nulls last, id`,
    [lot],
  );
}

async function proveSequence(t: Test, db: Database, parallel: number): Promise<void> {
  await prepare(db);
  const logger = silentLogger();
  // Two instances' sequencers; each writer kicks one of them after its commit, as the repository does.
  const sequencers: ChangeSequencer[] = [0, 1].map(() =>
    createChangeSequencer(db, logger, { pollMs: 60_000 }),
  );
  const changes = createChangeLog(db);
  const random = seededRandom(13);
  const plan = Array.from({ length: 240 }, (_, i) => ({
    lot: random.chance(0.7) ? 'seq-a' : 'seq-b',
    abort: random.chance(0.2),
    sequencer: sequencers[i % 2]!,
  }));

  // A relay-like reader, polling while the writers run: whatever seq it sees must never change.
  const seen = new Map<string, Map<number, string>>(LOTS.map((l) => [l, new Map()]));
  const rewritten: string[] = [];
  let writing = true;
  const reader = (async () => {
    while (writing) {
      for (const lot of LOTS) {
        for (const c of await changes.changesSince(lot, 0, 10_000)) {
          const mine = seen.get(lot)!;
          const text = 'reservation' in c ? c.reservation.plate : c.permit.holder;
          if (!mine.has(c.seq)) mine.set(c.seq, text);
          else if (mine.get(c.seq) !== text) rewritten.push(`${lot}#${c.seq}`);
        }
      }
      await new Promise((r) => setImmediate(r));
    }
  })();

  let next = 0;
  const committed = new Map<string, number>(LOTS.map((l) => [l, 0]));
  const run = (steps: typeof plan, kick: boolean) =>
    Promise.all(
      Array.from({ length: parallel }, async () => {
        for (;;) {
          const step = steps[next++];
          if (step === undefined) return;
          const n = await write(db, step.lot, step.abort);
          if (n !== null) committed.set(step.lot, committed.get(step.lot)! + 1);
          if (kick) await step.sequencer.kick();
        }
      }),
    );
  await run(plan, true);
  writing = false;
  await reader;
  t.same(rewritten, [], 'a seq the reader saw never changed meaning');
  t.equal((await db.rows(`select 1 from lot_changes where seq is null`)).length, 0, 'all sequenced');

  // Writers that die after their commit, before kicking a sequencer (an instance crash).
  next = 0;
  const crashPlan = plan.slice(0, 30);
  await run(crashPlan, false);
  const crashed = crashPlan.filter((s) => !s.abort).length;
  const pending = (await db.rows(`select 1 from lot_changes where seq is null`)).length;
  t.equal(pending, crashed, 'changes of the writers that died are committed but not yet sequenced');
  t.equal(
    (await changes.changesSince('seq-a', 0, 10_000)).length,
    (await logOf(db, 'seq-a')).filter((c) => c.seq !== null).length,
    'and no reader sees them yet',
  );

  // A restarted instance sequences them at start.
  const restarted = createChangeSequencer(db, logger, { pollMs: 60_000 });
  restarted.start();
  await restarted.stop();
  t.equal((await db.rows(`select 1 from lot_changes where seq is null`)).length, 0, 'none is left over');

  for (const lot of LOTS) {
    const log = await logOf(db, lot);
    const count = committed.get(lot)!;
    t.same(
      log.map((c) => c.seq),
      Array.from({ length: count }, (_, i) => i + 1),
      `${lot}: seqs 1…${count}, one per committed change, no gap (aborted ones left none)`,
    );
    const head = await changes.headSeq(lot);
    t.equal(head, count, `${lot}: the head is the last seq`);
    // Aborted writers took counter values that were rolled back too, so the committed ones are
    // exactly 1…count; in seq order they must be in commit order.
    t.same(
      log.map((c) => c.n),
      Array.from({ length: count }, (_, i) => i + 1),
      `${lot}: seq order is commit order`,
    );
    for (const [seq, text] of seen.get(lot)!) {
      if (`N${log[seq - 1]!.n}` !== text) rewritten.push(`${lot}#${seq} final`);
    }
  }
  t.same(rewritten, [], 'what the reader saw is what the log kept');
  t.ok(
    [...seen.values()].some((m) => m.size > 0),
    'the reader saw changes while writers ran',
  );
  for (const s of sequencers) await s.stop();
}

t.test('on PGlite', async (t) => {
  const db = await openDatabase({ kind: 'pglite', dir: null }, silentLogger());
  t.teardown(() => db.close());
  await proveSequence(t, db, 8);
});

t.test('on the real PostgreSQL', async (t) => {
  if (DATABASE_URL === undefined) {
    if (process.env.CI) t.fail('needs the real PostgreSQL: set DATABASE_URL');
    else t.pass('skipped without DATABASE_URL');
    return;
  }
  const test = await openTestDatabase(silentLogger(), 24);
  t.teardown(() => test.close());
  await proveSequence(t, test.db, 24);
});
