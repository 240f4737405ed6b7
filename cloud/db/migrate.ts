import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../protocol/logger.js';
import type { Database } from './database.js';

/**
 * Numbered SQL migrations (`cloud/migrations/NNN_name.sql`), applied in order at start-up, each in
 * its own transaction, recorded with a checksum. An advisory lock makes concurrent starts of
 * several instances apply each migration once. An applied migration whose file changed stops the
 * start: migrations are append-only.
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

const FILE_RE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const m = FILE_RE.exec(file);
    if (!m) throw new Error(`migration file ${file} does not match NNN_name.sql`);
    const sql = await readFile(`${dir}/${file}`, 'utf8');
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`two migrations numbered ${version}`);
    out.push({
      file: file.slice(0, -4),
      version,
      name: m[2]!,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  return out;
}

/** Applies pending migrations; returns the versions applied now. */
export async function migrate(db: Database, logger: Logger, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await readMigrations(dir);
  const client = await db.pool.connect();
  const applied: number[] = [];
  try {
    // Keyed by schema, so isolated test schemas in one database do not wait for each other.
    await client.query(`select pg_advisory_lock(hashtext('parkedge.migrate:' || current_schema()))`);
    try {
      await client.query(`create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`);
      const done = new Map(
        (
          await client.query<{ version: number; checksum: string }>(
            'select version, checksum from schema_migrations',
          )
        ).rows.map((r) => [r.version, r.checksum]),
      );
      for (const m of migrations) {
        const checksum = done.get(m.version);
        if (checksum !== undefined) {
          if (checksum !== m.checksum) {
            throw new Error(`migration ${m.file} was changed after it was applied`);
          }
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
            m.version,
            m.name,
            m.checksum,
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new Error(`migration ${m.file} failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m.version);
        logger.info({ migration: m.file }, 'migration applied');
      }
    } finally {
      await client.query(`select pg_advisory_unlock(hashtext('parkedge.migrate:' || current_schema()))`);
    }
  } finally {
    client.release();
  }
  return applied;
}
