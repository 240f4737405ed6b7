import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../db/migrate.js';
import { DATABASE_URL, openTestDatabase } from './helpers.js';

/** Migrations from an empty database: all apply, in order, once; both guarantees exist. */

t.test('migrations from empty', async (t) => {
  const log = silentLogger();
  const test = await openTestDatabase(log, 4);
  t.teardown(() => test.close());
  const { db } = test;
  const all = (await readMigrations()).map((m) => m.version);
  t.ok(all.includes(1) && all.includes(2) && all.includes(3), 'the cloud migrations are there');
  t.same(
    all,
    all.map((_, i) => i + 1),
    'numbered 1, 2, 3, … without gaps',
  );

  const tablesBefore = await db.rows(
    `select 1 from information_schema.tables where table_schema = current_schema()`,
  );
  t.equal(tablesBefore.length, 0, 'really empty');

  t.same(await migrate(db, log), all, 'every migration applied');
  t.same(await migrate(db, log), [], 'and only once');

  const applied = await db.rows<{ version: number }>(
    'select version from schema_migrations order by version',
  );
  t.same(
    applied.map((r) => r.version),
    all,
  );

  const tables = (
    await db.rows<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = current_schema()`,
    )
  ).map((r) => r.table_name);
  for (const name of [
    'users',
    'refresh_tokens',
    'lots',
    'lot_staff',
    'spots',
    'lot_seq',
    'lot_changes',
    'reservations',
    'payments',
    'idempotency_keys',
    'gate_facts',
  ]) {
    t.ok(tables.includes(name), `table ${name}`);
  }
  const exclusions = await db.rows<{ conname: string }>(
    `select conname from pg_constraint where contype = 'x' and conrelid = 'reservations'::regclass order by conname`,
  );
  t.same(
    exclusions.map((r) => r.conname),
    ['reservations_no_plate_overlap', 'reservations_no_spot_overlap'],
  );

  t.test('the exclusion constraints refuse overlaps on their own', async (t) => {
    await db.rows(`insert into lots (id, name, time_zone, lat, lng, rates, policy, base_slot)
                   values ('x', 'x', 'UTC', 0, 0, '{}', '{}', 0)`);
    await db.rows(
      `insert into spots (lot_id, id, label, level, type, pool) values ('x', 's', 's', '0', 'car', 'bookable')`,
    );
    const insert = (id: string, plate: string, from: string, to: string, status = 'CONFIRMED') =>
      db.rows(
        `insert into reservations (id, lot_id, spot_id, spot_label, vehicle_type, plate, start_at, end_at, status,
           price_amount, currency, created_at, updated_at)
         values ($1, 'x', 's', 's', 'car', $2, $3, $4, $5, 0, 'EUR', now(), now())`,
        [id, plate, from, to, status],
      );
    await insert('r1', 'AA1', '2030-01-01T10:00Z', '2030-01-01T12:00Z');
    await t.rejects(
      insert('r2', 'BB2', '2030-01-01T11:00Z', '2030-01-01T13:00Z'),
      { code: '23P01' },
      'same spot',
    );
    await insert('r3', 'BB2', '2030-01-01T12:00Z', '2030-01-01T13:00Z');
    t.pass('back to back is fine');
    await insert('r4', 'BB2', '2030-01-01T11:00Z', '2030-01-01T13:00Z', 'CANCELLED');
    t.pass('inactive rows do not count');
    await db.rows(
      `insert into spots (lot_id, id, label, level, type, pool) values ('x', 't', 't', '0', 'car', 'bookable')`,
    );
    await t.rejects(
      db.rows(
        `insert into reservations (id, lot_id, spot_id, spot_label, vehicle_type, plate, start_at, end_at, status,
           price_amount, currency, created_at, updated_at)
         values ('r5', 'x', 't', 't', 'car', 'AA1', '2030-01-01T11:30Z', '2030-01-01T12:30Z', 'TENTATIVE', 0, 'EUR', now(), now())`,
      ),
      { code: '23P01', constraint: 'reservations_no_plate_overlap' },
      'one plate, one reservation',
    );
  });

  t.test('a changed migration stops the start', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'parkedge-migrations-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await writeFile(join(dir, '001_users.sql'), '-- edited\n', { flag: 'a' });
    await t.rejects(migrate(db, log, dir), /001_users was changed after it was applied/);
  });

  t.test('a failing migration rolls back and names itself', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'parkedge-migrations-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    // Numbered next, so the numbering stays contiguous.
    const broken = `${String(all.length + 1).padStart(3, '0')}_broken`;
    await writeFile(join(dir, `${broken}.sql`), 'create table half_done (id int);\nselect nope();\n');
    await t.rejects(migrate(db, log, dir), new RegExp(`${broken} failed`));
    const half = await db.rows(
      `select 1 from information_schema.tables where table_schema = current_schema() and table_name = 'half_done'`,
    );
    t.equal(half.length, 0, 'nothing of it stayed');
  });

  t.test('a database that recorded 050_sync keeps working: the row is renumbered 4', async (t) => {
    const sync = (await readMigrations()).find((m) => m.name === 'sync');
    t.equal(sync?.version, 4, 'the sync migration is 004 now');
    await db.rows('update schema_migrations set version = 50 where version = 4');
    t.same(await migrate(db, log), [], 'nothing applied again');
    const rows = await db.rows<{ version: number; checksum: string }>(
      `select version, checksum from schema_migrations where name = 'sync'`,
    );
    t.same(rows, [{ version: 4, checksum: sync?.checksum }], 'renumbered, checksum unchanged');
  });
});

/** A temporary migrations directory holding `files` (name → SQL). */
async function migrationsDir(t: Test, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-migrations-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return dir;
}

t.test('numbering and order are guarded', async (t) => {
  const log = silentLogger();
  const test = await openTestDatabase(log, 2);
  t.teardown(() => test.close());
  const { db } = test;
  const table = async (name: string) =>
    (
      await db.rows(
        `select 1 from information_schema.tables where table_schema = current_schema() and table_name = $1`,
        [name],
      )
    ).length > 0;

  t.test('a gap in the numbering is refused', async (t) => {
    const dir = await migrationsDir(t, {
      '001_a.sql': 'create table a (id int);',
      '003_c.sql': 'create table c (id int);',
    });
    await t.rejects(readMigrations(dir), /gap: 003_c follows 001_a/);
    await t.rejects(migrate(db, log, dir), /gap: 003_c follows 001_a/);
    t.notOk(await table('a'), 'nothing applied');
  });

  t.test('a duplicate number is refused', async (t) => {
    const dir = await migrationsDir(t, {
      '001_a.sql': 'create table a (id int);',
      '002_b.sql': 'create table b (id int);',
      '002_c.sql': 'create table c (id int);',
    });
    await t.rejects(migrate(db, log, dir), /two migrations numbered 2: 002_b and 002_c/);
    t.notOk(await table('a'), 'nothing applied');
  });

  t.test('an unapplied migration below the highest applied one is refused, naming both', async (t) => {
    const files = {
      '001_a.sql': 'create table a (id int);',
      '002_b.sql': 'create table b (id int);',
      '003_c.sql': 'create table c (id int);',
    };
    t.same(await migrate(db, log, await migrationsDir(t, { '001_a.sql': files['001_a.sql'] })), [1]);
    // 003_c was applied from elsewhere (another branch, a hand fix) before 002_b existed.
    const c = (await readMigrations(await migrationsDir(t, files)))[2]!;
    await db.rows('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
      c.version,
      c.name,
      c.checksum,
    ]);
    await t.rejects(migrate(db, log, await migrationsDir(t, files)), /002_b is not applied but 003_c is/);
    t.notOk(await table('b'), '002_b did not run after 003_c');
  });
});

t.test('concurrent starts apply each migration once', async (t) => {
  if (DATABASE_URL === undefined) {
    t.comment('SKIP: concurrent start needs several connections: real PostgreSQL only (set DATABASE_URL)');
    t.pass('skipped on PGlite');
    return;
  }
  const log = silentLogger();
  const test = await openTestDatabase(log, 8);
  t.teardown(() => test.close());
  const results = await Promise.all([migrate(test.db, log), migrate(test.db, log), migrate(test.db, log)]);
  const all = (await readMigrations()).map((m) => m.version);
  t.same(
    results.flat().sort((a, b) => a - b),
    all,
  );
});
