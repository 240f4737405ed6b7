import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { MIGRATIONS_DIR } from '../paths.js';

/** Numbered SQL files, `NNN_name.sql`, applied in order at open; each in its own transaction. */
export { MIGRATIONS_DIR };

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE_RE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .map((file) => ({ file, m: FILE_RE.exec(file) }))
    .filter((x): x is { file: string; m: RegExpExecArray } => x.m !== null)
    .map(({ file, m }) => ({
      version: Number(m[1]),
      name: m[2]!,
      sql: readFileSync(join(dir, file), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migration numbering has a gap or duplicate at ${m.version}_${m.name}`);
  });
  return migrations;
}

/**
 * Applies what is missing; returns the versions applied now. Refuses a database newer than this
 * code, and one where a migration numbered below the highest applied is missing (a migration added
 * out of order, e.g. from a merged branch): applying it late could run on data it never expected.
 */
export function migrate(db: Database.Database, migrations: Migration[], nowMs: number): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const applied = db
    .prepare<[], { version: number; name: string }>(
      'SELECT version, name FROM schema_migrations ORDER BY version',
    )
    .all();
  const highest = applied.at(-1);
  const current = highest?.version ?? 0;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(`database schema ${current} is newer than this edge build (${latest}); refusing to open`);
  }
  const done = new Set(applied.map((a) => a.version));
  const skipped = migrations.find((m) => m.version < current && !done.has(m.version));
  if (skipped && highest) {
    throw new Error(
      `migration ${label(skipped)} is not applied but the database is already at ${label(highest)}; refusing to open`,
    );
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const now: number[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, nowMs);
    })();
    now.push(m.version);
  }
  return now;
}

const label = (m: { version: number; name: string }) => `${String(m.version).padStart(3, '0')}_${m.name}`;
