import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Logger } from '../../protocol/logger.js';
import { type Database, inTransaction } from './database.js';

/**
 * Numbered SQL migrations (`cloud/migrations/NNN_name.sql`, numbered 1, 2, 3, … without gaps),
 * applied in order at start-up, each in its own transaction, recorded with a checksum. An advisory
 * lock makes concurrent starts of several instances apply each migration once. The start stops
 * when an applied migration's file changed (migrations are append-only) and when a migration is
 * missing below one already applied (it would run after the migrations that were written to come
 * after it).
 */

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

export interface Migration {
  /** File name without .sql, e.g. 001_users. */
  file: string;
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** A migration that shipped under another number: databases that recorded `from` record `to` now. */
export interface Renumbering {
  from: number;
  to: number;
  name: string;
}

/** 050_sync became 004_sync (same file, same checksum) when the numbering was made contiguous. */
export const RENUMBERED: readonly Renumbering[] = [{ from: 50, to: 4, name: 'sync' }];

const FILE_RE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

/** The migrations of `dir`, in order; throws if the numbering has a duplicate or a gap. */
export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql'));
  const out: Migration[] = [];
  for (const file of files) {
    const m = FILE_RE.exec(file);
    if (!m) throw new Error(`migration file ${file} does not match NNN_name.sql`);
    const sql = await readFile(`${dir}/${file}`, 'utf8');
    out.push({
      file: file.slice(0, -4),
      version: Number(m[1]),
      name: m[2]!,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  out.sort((a, b) => a.version - b.version || a.file.localeCompare(b.file));
  checkNumbering(out);
  return out;
}

/** Versions must run 1, 2, 3, … : a duplicate or a gap is refused, naming the files. */
export function checkNumbering(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    const before = migrations[i - 1];
    if (before !== undefined && before.version === m.version)
      throw new Error(`two migrations numbered ${m.version}: ${before.file} and ${m.file}`);
    if (m.version !== i + 1) {
      const after = before === undefined ? 'the first migration' : `${m.file} follows ${before.file}`;
      throw new Error(`migration numbering has a gap: ${after}, expected number ${i + 1}`);
    }
  });
}

/** A recorded migration as its file would be named. */
const fileOf = (version: number, name: string) => `${String(version).padStart(3, '0')}_${name}`;

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/** Applies pending migrations; returns the versions applied now. */
export async function migrate(db: Database, logger: Logger, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await readMigrations(dir);
  const client = await db.pool.connect();
  try {
    return await underMigrationLock(client, async () => {
      await client.query(`create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`);
      await renumberLegacy(client, logger);
      const done = new Map(
        (await client.query<AppliedRow>('select version, name, checksum from schema_migrations')).rows.map(
          (r) => [r.version, r],
        ),
      );
      checkApplied(migrations, done);
      const applied: number[] = [];
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        await apply(client, m);
        applied.push(m.version);
        logger.info({ migration: m.file }, 'migration applied');
      }
      return applied;
    });
  } finally {
    client.release();
  }
}

/** Holds the migration lock (per schema, so isolated test schemas do not wait for each other). */
async function underMigrationLock<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query(`select pg_advisory_lock(hashtext('parkedge.migrate:' || current_schema()))`);
  try {
    return await fn();
  } finally {
    await client.query(`select pg_advisory_unlock(hashtext('parkedge.migrate:' || current_schema()))`);
  }
}

/** Rows recorded under a migration's old number get its new one (one transaction, under the lock). */
async function renumberLegacy(client: pg.PoolClient, logger: Logger): Promise<void> {
  await inTransaction(client, async (q) => {
    for (const r of RENUMBERED) {
      const moved = await q.query(
        `update schema_migrations set version = $2
          where version = $1 and name = $3 and not exists (select 1 from schema_migrations where version = $2)`,
        [r.from, r.to, r.name],
      );
      if ((moved.rowCount ?? 0) > 0)
        logger.info({ from: fileOf(r.from, r.name), to: fileOf(r.to, r.name) }, 'migration renumbered');
    }
  });
}

/** Applied migrations must be unchanged, and none may be missing below the highest applied. */
function checkApplied(migrations: readonly Migration[], done: ReadonlyMap<number, AppliedRow>): void {
  for (const m of migrations) {
    const row = done.get(m.version);
    if (row !== undefined && row.checksum !== m.checksum)
      throw new Error(`migration ${m.file} was changed after it was applied`);
  }
  const highest = [...done.values()].reduce<AppliedRow | null>(
    (max, r) => (max === null || r.version > max.version ? r : max),
    null,
  );
  if (highest === null) return;
  const missing = migrations.find((m) => m.version < highest.version && !done.has(m.version));
  if (missing !== undefined) {
    throw new Error(
      `migration ${missing.file} is not applied but ${fileOf(highest.version, highest.name)} is: ` +
        'migrations apply in order; number a new migration above the highest applied one',
    );
  }
}

async function apply(client: pg.PoolClient, m: Migration): Promise<void> {
  try {
    await inTransaction(client, async (q) => {
      await q.query(m.sql);
      await q.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
        m.version,
        m.name,
        m.checksum,
      ]);
    });
  } catch (err) {
    throw new Error(`migration ${m.file} failed: ${(err as Error).message}`, { cause: err });
  }
}
