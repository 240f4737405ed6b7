import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
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
    [...all].sort((a, b) => a - b),
    'numbered in order',
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
    await writeFile(join(dir, '999_broken.sql'), 'create table half_done (id int);\nselect nope();\n');
    await t.rejects(migrate(db, log, dir), /999_broken failed/);
    const half = await db.rows(
      `select 1 from information_schema.tables where table_schema = current_schema() and table_name = 'half_done'`,
    );
    t.equal(half.length, 0, 'nothing of it stayed');
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
