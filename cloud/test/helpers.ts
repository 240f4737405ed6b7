import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { bitStringToBits, setRange, wordsForSlots } from '../../protocol/bitmap.js';
import { TestClock } from '../../protocol/clock.js';
import { ACTIVE_STATUSES, type Role } from '../../protocol/domain.js';
import type { CreateLotBody, UserView } from '../../protocol/http.js';
import { type Logger, silentLogger } from '../../protocol/logger.js';
import { type Random, seededRandom } from '../../protocol/random.js';
import { slotOf } from '../../protocol/slots.js';
import { type AppDeps, buildApp, type CloudApp } from '../app.js';
import { type CloudConfig, ephemeralConfig } from '../config.js';
import { type Database, openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { type CloudMetrics, createMetrics } from '../metrics.js';
import type { PaymentProvider } from '../payments/provider.js';

/**
 * One way for every cloud test to get an app: against the real PostgreSQL when DATABASE_URL is set
 * (each call gets its own schema, dropped afterwards, so test files run in parallel safely), else
 * against an in-memory PGlite served over the wire protocol — the same `pg` code path either way.
 */

export const DATABASE_URL = process.env.DATABASE_URL || undefined;
/** 2030-01-07T08:00:00Z, a Monday, slot-aligned. */
export const T0 = Date.UTC(2030, 0, 7, 8, 0, 0);
export const MIN = 60_000;
export const HOUR = 60 * MIN;

export interface TestDatabase {
  db: Database;
  kind: 'postgres' | 'pglite';
  /** The schema this test owns (postgres only). */
  schema: string | null;
  close(): Promise<void>;
}

/** An empty database (nothing migrated): a fresh schema on the real server, or a fresh PGlite. */
export async function openTestDatabase(
  logger: Logger = silentLogger(),
  poolSize = 20,
): Promise<TestDatabase> {
  if (DATABASE_URL === undefined) {
    const db = await openDatabase({ kind: 'pglite', dir: null }, logger);
    return { db, kind: 'pglite', schema: null, close: () => db.close() };
  }
  const schema = `cloud_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  try {
    // Extensions are per database: create btree_gist once, in public, never inside a test schema
    // (dropping that schema would drop the extension under every other test file).
    await admin.query(`select pg_advisory_lock(hashtext('parkedge.test.extensions'))`);
    try {
      await admin.query('create extension if not exists btree_gist schema public');
    } finally {
      await admin.query(`select pg_advisory_unlock(hashtext('parkedge.test.extensions'))`);
    }
    await admin.query(`create schema ${schema}`);
  } finally {
    await admin.end();
  }
  const db = await openDatabase(
    { kind: 'postgres', url: DATABASE_URL, poolSize, searchPath: `${schema},public` },
    logger,
  );
  return {
    db,
    kind: 'postgres',
    schema,
    async close() {
      await db.close();
      const c = new pg.Client({ connectionString: DATABASE_URL });
      await c.connect();
      try {
        await c.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TestCloudOptions {
  clock?: TestClock;
  random?: Random;
  config?: Partial<CloudConfig>;
  payments?: PaymentProvider;
  logger?: Logger;
  poolSize?: number;
  /** The fleet sync the fleet routes use (default: none, they answer 503). */
  fleet?: AppDeps['fleet'];
}

export interface TestCloud {
  app: CloudApp;
  db: Database;
  kind: 'postgres' | 'pglite';
  clock: TestClock;
  config: CloudConfig;
  metrics: CloudMetrics;
  close(): Promise<void>;
  /** A user of the role with a fresh access token. Operators/attendants staff `lotIds`. */
  userWithToken(role: Role, lotIds?: string[]): Promise<{ user: UserView; token: string }>;
  /** Parsed JSON call through app.inject. */
  call(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    url: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
    // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON a route answers
  ): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  /** Spots whose stored bitmap differs from the union of their active reservations. */
  bitmapMismatches(): Promise<string[]>;
}

export async function buildTestCloud(opts: TestCloudOptions = {}): Promise<TestCloud> {
  const logger = opts.logger ?? silentLogger();
  const clock = opts.clock ?? new TestClock(T0);
  const random = opts.random ?? seededRandom(Number.parseInt(randomBytes(4).toString('hex'), 16));
  const base = ephemeralConfig();
  // Tests move the clock by days: access tokens outlive that unless a test says otherwise.
  const config = ephemeralConfig({
    auth: { ...base.auth, accessTokenTtlSeconds: 30 * 86_400 },
    ...opts.config,
  });
  const testDb = await openTestDatabase(logger, opts.poolSize);
  await migrate(testDb.db, logger);
  const metrics = createMetrics({ defaultMetrics: false });
  const app = await buildApp({
    config,
    logger,
    clock,
    random,
    db: testDb.db,
    metrics,
    payments: opts.payments,
    fleet: opts.fleet,
  });
  await app.ready();
  let n = 0;

  const cloud: TestCloud = {
    app,
    db: testDb.db,
    kind: testDb.kind,
    clock,
    config,
    metrics,
    async close() {
      await app.close();
      await testDb.close();
    },
    async userWithToken(role, lotIds = []) {
      const r = await app.users.create({
        email: `${role}-${++n}-${random.id(6)}@test.example`,
        password: 'correct horse battery',
        role,
        lotIds,
      });
      if (!r.ok) throw new Error(r.error.message);
      const tokens = await app.issueTokens(r.value);
      return { user: r.value, token: tokens.accessToken };
    },
    async call(method, url, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      const res = await app.inject({
        method,
        url,
        headers,
        ...(o.body !== undefined ? { payload: o.body as object } : {}),
      });
      let body: unknown = res.body;
      if (String(res.headers['content-type'] ?? '').includes('json') && res.body !== '') body = res.json();
      return { status: res.statusCode, body, headers: res.headers };
    },
    async bitmapMismatches() {
      return bitmapMismatches(testDb.db);
    },
  };
  return cloud;
}

/** Compare every spot's bitmap with the union of its active reservations' windows. */
export async function bitmapMismatches(db: Database): Promise<string[]> {
  const spots = await db.rows<{ lot_id: string; id: string; bits: string; base_slot: number }>(
    'select s.lot_id, s.id, s.bits::text as bits, l.base_slot from spots s join lots l on l.id = s.lot_id',
  );
  const active = await db.rows<{ lot_id: string; spot_id: string; start_at: Date; end_at: Date }>(
    'select lot_id, spot_id, start_at, end_at from reservations where status = any($1::text[])',
    [ACTIVE_STATUSES],
  );
  const bySpot = new Map<string, { start: number; end: number }[]>();
  for (const r of active) {
    const k = `${r.lot_id}/${r.spot_id}`;
    const list = bySpot.get(k) ?? [];
    list.push({ start: slotOf(r.start_at.getTime()), end: slotOf(r.end_at.getTime()) });
    bySpot.set(k, list);
  }
  const bad: string[] = [];
  for (const s of spots) {
    const k = `${s.lot_id}/${s.id}`;
    const windows = bySpot.get(k) ?? [];
    const span = Math.max(s.bits.length, ...windows.map((w) => w.end - s.base_slot));
    const expected = new Uint32Array(wordsForSlots(span));
    for (const w of windows) setRange(expected, 0, w.start - s.base_slot, w.end - s.base_slot);
    const actual = new Uint32Array(wordsForSlots(span));
    actual.set(bitStringToBits(s.bits));
    if (!expected.every((v, i) => v === actual[i])) bad.push(k);
  }
  return bad;
}

/** A lot body: `spots` bookable car spots (plus what `extra` adds). */
export function lotBody(overrides: Partial<CreateLotBody> = {}, spots = 4): CreateLotBody {
  return {
    id: `lot-${randomBytes(4).toString('hex')}`,
    name: 'Central Garage',
    timeZone: 'Europe/Berlin',
    location: { lat: 52.52, lng: 13.405 },
    rates: { currency: 'EUR', hourlyRate: 400, dailyMax: null, dynamicPricing: null },
    policy: {
      maxDurationMinutes: 10_080,
      bookingHorizonDays: 90,
      holdMinutes: 15,
      noShowGraceMinutes: 480,
      earlyArrivalMinutes: 15,
      exitGraceMinutes: 0,
      antiPassback: 'hard',
      plateMinConfidence: 0.8,
      overflowHorizonMinutes: 240,
      overflowTimeoutMs: 1500,
      refund: 'none',
      debtPolicy: 'warn',
    },
    spots: Array.from({ length: spots }, (_, i) => ({
      id: `s${i + 1}`,
      label: `A-${i + 1}`,
      level: '0',
      type: 'car' as const,
      pool: 'bookable' as const,
    })),
    ...overrides,
  };
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** Pay a sandbox checkout the way a client would: take the id from paymentUrl, get a token. */
export async function payCheckout(cloud: TestCloud, paymentUrl: string): Promise<string> {
  const checkout = paymentUrl.slice(paymentUrl.lastIndexOf('/') + 1);
  const r = await cloud.call('POST', '/v1/sandbox/pay', { body: { checkout } });
  if (r.status !== 200) throw new Error(`sandbox pay failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.paymentToken as string;
}
