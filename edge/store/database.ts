import Database from 'better-sqlite3';
import { loadMigrations, migrate } from './migrate.js';

/**
 * Opens (creating if needed) the edge's one SQLite file and brings its schema up to date. Every
 * part of the store shares this handle, so a write that spans parts is one transaction.
 */
export function openDatabase(path: string, nowMs: number): Database.Database {
  const db = new Database(path);
  try {
    // WAL + synchronous=FULL: a commit returns only after the WAL is fsynced, so a recorded
    // passage and its outbox event survive power loss (NORMAL could lose the last commits).
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // 8 MB page cache (better-sqlite3 defaults to 16 MB): the gate's working set is the plate and
    // id indexes plus today's rows; the OS file cache holds the rest.
    db.pragma('cache_size = -8000');
    migrate(db, loadMigrations(), nowMs);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
