import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../protocol/logger.js';
import type { DatabaseConfig } from '../config.js';

/**
 * The one way the cloud talks to PostgreSQL: a `pg` pool. Without DATABASE_URL an in-process
 * PGlite is served over the wire protocol on a free local port, so exactly the same `pg` code
 * path runs against both (with a pool of one connection: PGlite is single-session).
 */

export interface Queryable {
  /**
   * Statements may be sent before the previous one answered (a pipelining PostgreSQL connection).
   * Otherwise each waits for the one before: pg deprecates (and pg 9 removes) queueing a query on
   * a client that is still running one.
   */
  readonly pipelined?: boolean;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

/** A transaction's handle: statements, plus the last one sent together with COMMIT. */
export interface TxQueryable extends Queryable {
  /**
   * Run the transaction's last statement and COMMIT in one round trip (on PostgreSQL they go out
   * in one write). If the statement fails, the COMMIT only ends the aborted transaction (the
   * server answers it with ROLLBACK), so nothing of it is kept and the error is thrown.
   */
  commitWith<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly pool: pg.Pool;
  /** Rows of one statement, outside any transaction. */
  rows<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  /** One statement outside any transaction (so it is its own), as a Queryable. */
  readonly pooled: Queryable;
  /**
   * Run fn in a READ COMMITTED transaction; commits on return, rolls back on throw. With
   * `advisoryLock`, that transaction-scoped lock is taken in the same round trip as BEGIN.
   */
  tx<T>(fn: (q: TxQueryable) => Promise<T>, opts?: { advisoryLock?: AdvisoryKey }): Promise<T>;
  /** Hold one connection for fn (session state such as advisory locks stays with it). */
  session<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** bigint (int8) as a JS number: seqs, slots and minor units all stay far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export async function openDatabase(config: DatabaseConfig, logger: Logger): Promise<Database> {
  if (config.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolSize,
      types,
      // search_path lets tests give every file its own schema in one database.
      ...(config.searchPath ? { options: `-c search_path=${config.searchPath}` } : {}),
    });
    pool.on('error', (err) => logger.error({ err }, 'idle database client failed'));
    return wrapPool('postgres', pool, async () => {
      await pool.end();
    });
  }
  return openPglite(config.dir, logger);
}

async function openPglite(dir: string | null, logger: Logger): Promise<Database> {
  // Loaded lazily: production with DATABASE_URL never pays for the WASM image.
  const { PGlite } = await import('@electric-sql/pglite');
  const { btree_gist } = await import('@electric-sql/pglite/contrib/btree_gist');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create({ ...(dir ? { dataDir: dir } : {}), extensions: { btree_gist } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 2 });
  await server.start();
  const [host, port] = server.getServerConn().split(':');
  logger.info(
    { dir: dir ?? ':memory:', endpoint: server.getServerConn() },
    'PGlite serving the wire protocol',
  );
  const pool = new pg.Pool({
    host,
    port: Number(port),
    user: 'postgres',
    database: 'postgres',
    max: 1,
    types,
  });
  pool.on('error', (err) => logger.error({ err }, 'idle PGlite client failed'));
  return wrapPool('pglite', pool, async () => {
    await pool.end();
    await server.stop();
    await db.close();
  });
}

/**
 * Statements with parameters run as named prepared statements (named by a hash of their text), so
 * PostgreSQL parses and plans each hot statement once per connection instead of on every call.
 */
function preparing(
  names: Map<string, string> | null,
  target: pg.Pool | pg.PoolClient,
  beforeSend?: () => void,
): Queryable {
  if (names === null) return target;
  return {
    pipelined: beforeSend !== undefined,
    query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      beforeSend?.();
      if (values === undefined || values.length === 0) return target.query<R>(text);
      let name = names.get(text);
      if (name === undefined) {
        name = `pe_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
        names.set(text, name);
      }
      return target.query<R>({ name, text, values });
    },
  };
}

/** The parts of a pg client that pipelining touches (`pipeline` is a pg.Client option). */
interface PipelinedClient {
  pipeline?: boolean;
  connection?: { stream?: { cork?: () => void; uncork?: () => void } };
}

/**
 * Pipelining for a checked-out PostgreSQL client: statements are sent without waiting for the
 * previous one's answer (PostgreSQL still runs them in order, each ends with its own Sync), and
 * every statement issued in the same tick leaves in one socket write. Code that awaits each
 * statement behaves exactly as before; code that issues several at once (BEGIN with the first
 * statement, the last statement with COMMIT) saves the round trips and the syscalls. Returns the
 * hook to call before each send, and the undo for release.
 */
function pipelining(client: pg.PoolClient): { beforeSend: () => void; restore: () => void } {
  const c = client as unknown as PipelinedClient;
  const stream = c.connection?.stream;
  const wasPipelined = c.pipeline ?? false;
  c.pipeline = true;
  let corked = false;
  return {
    beforeSend() {
      if (corked || stream?.cork === undefined || stream.uncork === undefined) return;
      corked = true;
      stream.cork();
      queueMicrotask(() => {
        corked = false;
        stream.uncork?.();
      });
    },
    restore() {
      c.pipeline = wasPipelined;
    },
  };
}

function wrapPool(kind: Database['kind'], pool: pg.Pool, close: () => Promise<void>): Database {
  let closed: Promise<void> | null = null;
  // PGlite loses track of a named statement whose first run failed (its ParseComplete does not
  // arrive before the error), so the embedded database gets plain statements.
  const names = kind === 'postgres' ? new Map<string, string>() : null;
  const pooled = preparing(names, pool);
  async function session<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    // Only PostgreSQL pipelines; every statement is awaited before release either way.
    const pipe = kind === 'postgres' ? pipelining(client) : null;
    let broken: Error | undefined;
    try {
      return await fn(preparing(names, client, pipe?.beforeSend));
    } catch (err) {
      if ((err as { rollbackFailed?: Error }).rollbackFailed) broken = err as Error;
      throw err;
    } finally {
      pipe?.restore();
      // A client that could not even roll back is discarded rather than returned to the pool.
      client.release(broken);
    }
  }
  return {
    kind,
    pool,
    async rows<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      return (await pooled.query<R>(text, values)).rows;
    },
    pooled,
    tx: (fn, opts) => session((q) => inTransaction(q, fn, opts?.advisoryLock)),
    session,
    close() {
      closed ??= close();
      return closed;
    },
  };
}

/** A two-part advisory lock key: a class (what is locked) and a 32-bit hash (which one). */
export interface AdvisoryKey {
  classId: number;
  objectId: number;
}

/** 32-bit FNV-1a of a string, as a signed int4 for pg_advisory_xact_lock(int, int). */
export function advisoryKey(classId: number, name: string): AdvisoryKey {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return { classId, objectId: h | 0 };
}

/** BEGIN … COMMIT on one client (e.g. inside a session that holds an advisory lock). */
export async function inTransaction<T>(
  client: Queryable,
  fn: (q: TxQueryable) => Promise<T>,
  lock?: AdvisoryKey,
): Promise<T> {
  if (lock !== undefined && (!Number.isInteger(lock.classId) || !Number.isInteger(lock.objectId)))
    throw new TypeError('bad advisory key');
  if (client.pipelined !== true) return inSequentialTransaction(client, fn, lock);
  // BEGIN (and the lock) are not awaited before fn runs, so on a pipelining connection fn's first
  // statement leaves in the same write. Every answer fn sees also waits for theirs, so nothing goes
  // on unless the transaction (and its lock) is really open.
  const begun = Promise.all([
    client.query('BEGIN'),
    lock === undefined
      ? null
      : client.query('select pg_advisory_xact_lock($1::int, $2::int)', [lock.classId | 0, lock.objectId | 0]),
  ]);
  // A failed BEGIN reaches the caller through `afterBegin` (every statement and the COMMIT wait for
  // it); this handler only keeps the same rejection from also being reported as unhandled.
  begun.catch(() => undefined);
  const afterBegin = <R>(p: Promise<R>) => Promise.all([begun, p]).then(([, r]) => r);
  let committed = false;
  const q: TxQueryable = {
    query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      if (committed) throw new Error('statement after commitWith');
      return afterBegin(client.query<R>(text, values));
    },
    async commitWith<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      if (committed) throw new Error('statement after commitWith');
      committed = true;
      const [r] = await Promise.all([afterBegin(client.query<R>(text, values)), client.query('COMMIT')]);
      return r;
    },
  };
  try {
    const result = await fn(q);
    if (!committed) await afterBegin(client.query('COMMIT'));
    return result;
  } catch (err) {
    try {
      // After a failed commitWith the transaction is already over: this only draws a warning.
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      if (typeof err === 'object' && err !== null) Object.assign(err, { rollbackFailed: rollbackErr });
    }
    throw err;
  }
}

/** inTransaction on a connection that does not pipeline: every statement waits for the one before. */
async function inSequentialTransaction<T>(
  client: Queryable,
  fn: (q: TxQueryable) => Promise<T>,
  lock?: AdvisoryKey,
): Promise<T> {
  let chain: Promise<unknown> = client.query('BEGIN');
  if (lock !== undefined) {
    chain = chain.then(() =>
      client.query('select pg_advisory_xact_lock($1::int, $2::int)', [lock.classId | 0, lock.objectId | 0]),
    );
  }
  let committed = false;
  // Statements fn issues at once are queued here, never on the client.
  const next = <R>(run: () => Promise<R>): Promise<R> => {
    const p = chain.then(run);
    chain = p.catch(() => undefined);
    return p;
  };
  const q: TxQueryable = {
    query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      if (committed) throw new Error('statement after commitWith');
      return next(() => client.query<R>(text, values));
    },
    async commitWith<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      if (committed) throw new Error('statement after commitWith');
      committed = true;
      const r = await next(() => client.query<R>(text, values));
      await next(() => client.query('COMMIT'));
      return r;
    },
  };
  try {
    const result = await fn(q);
    if (!committed) await next(() => client.query('COMMIT'));
    return result;
  } catch (err) {
    try {
      await chain;
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      if (typeof err === 'object' && err !== null) Object.assign(err, { rollbackFailed: rollbackErr });
    }
    throw err;
  }
}

/** Serialization failures and deadlocks: the transaction may simply be run again. */
export function isRetryable(err: unknown): boolean {
  const code = pgCode(err);
  return code === '40001' || code === '40P01';
}

/** PostgreSQL error code of a driver error, if any (e.g. 23P01 exclusion violation). */
export function pgCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

export function pgConstraint(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'constraint' in err && typeof err.constraint === 'string'
    ? err.constraint
    : undefined;
}
