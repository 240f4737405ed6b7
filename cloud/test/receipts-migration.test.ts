import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../db/migrate.js';
import { openTestDatabase } from './helpers.js';

/**
 * A database from before operators: its lots get a default operator derived from their creator
 * (one per creator, one for lots without a creator), so receipts can be issued for them at once.
 */

t.test('lots from before operators get their creator’s default operator', async (t) => {
  const log = silentLogger();
  const test = await openTestDatabase(log, 4);
  t.teardown(() => test.close());
  const { db } = test;
  const all = await readMigrations();
  const receipts = all.find((m) => m.name === 'receipts');
  if (receipts === undefined) throw new Error('no receipts migration');
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-before-receipts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const m of all.filter((m) => m.version < receipts.version)) {
    await copyFile(join(MIGRATIONS_DIR, `${m.file}.sql`), join(dir, `${m.file}.sql`));
  }
  await migrate(db, log, dir);

  await db.rows(
    `insert into users (id, email, password_hash, role) values ('u1', 'ops@acme.example', 'x', 'operator'),
       ('u2', 'other@example.com', 'x', 'admin')`,
  );
  const lot = (id: string, by: string | null) =>
    db.rows(
      `insert into lots (id, name, time_zone, lat, lng, rates, policy, base_slot, created_by)
       values ($1, $1, 'Europe/Berlin', 52.5, 13.4, '{}', '{}', 0, $2)`,
      [id, by],
    );
  await lot('a1', 'u1');
  await lot('a2', 'u1');
  await lot('b1', 'u2');
  await lot('orphan', null);

  t.ok((await migrate(db, log)).includes(receipts.version), 'the receipts migration applied');
  const lots = await db.rows<{ id: string; operator_id: string; vat_rate_bp: number }>(
    'select id, operator_id, vat_rate_bp from lots order by id',
  );
  t.same(lots, [
    { id: 'a1', operator_id: 'op-u1', vat_rate_bp: 0 },
    { id: 'a2', operator_id: 'op-u1', vat_rate_bp: 0 },
    { id: 'b1', operator_id: 'op-u2', vat_rate_bp: 0 },
    { id: 'orphan', operator_id: 'op-default', vat_rate_bp: 0 },
  ]);
  const ops = await db.rows<{ id: string; legal_name: string; receipt_prefix: string }>(
    'select id, legal_name, receipt_prefix from operators order by id',
  );
  t.same(ops, [
    { id: 'op-default', legal_name: 'Parking operator', receipt_prefix: 'PE' },
    { id: 'op-u1', legal_name: 'ops@acme.example', receipt_prefix: 'PE' },
    { id: 'op-u2', legal_name: 'other@example.com', receipt_prefix: 'PE' },
  ]);

  // A lot created afterwards without an operator gets its creator's.
  await db.rows(
    `insert into lots (id, name, time_zone, lat, lng, rates, policy, base_slot, created_by)
     values ('a3', 'a3', 'Europe/Berlin', 52.5, 13.4, '{}', '{}', 0, 'u1')`,
  );
  t.same(await db.rows(`select operator_id from lots where id = 'a3'`), [{ operator_id: 'op-u1' }]);
});
