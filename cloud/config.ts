import type { StripeSettings } from './payments/stripe.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { generateSigningKey, signingKeyFromPem } from '../protocol/credential.js';
import { defaultNotificationsConfig, type NotificationsConfig } from './notifications/dispatcher.js';
import { deriveInstanceId } from './sync/identity.js';

/**
 * Cloud configuration from the environment, validated by zod at start-up. Every variable has a
 * default that makes `npm run cloud` work on a bare machine; secrets that are not given are
 * generated once and kept in DATA_DIR so restarts keep tokens, payments and QR codes valid.
 */

export type DatabaseConfig =
  | { kind: 'postgres'; url: string; poolSize: number; searchPath?: string }
  /** dir null = in memory (tests). */
  | { kind: 'pglite'; dir: string | null };

export interface CloudConfig {
  host: string;
  port: number;
  /** Base URL clients reach this service at (payment and checkout links). */
  publicUrl: string;
  logLevel: string;
  /** One log line per request (method, url, status, time) with its request id; default off. */
  logRequests?: boolean;
  database: DatabaseConfig;
  dataDir: string | null;
  auth: {
    jwtSecret: string;
    accessTokenTtlSeconds: number;
    refreshTokenTtlDays: number;
    admin: { email: string; password: string } | null;
  };
  payments: {
    provider: 'sandbox' | 'stripe';
    sandboxSecret: string;
    /** Set when provider is 'stripe'. */
    stripe?: StripeSettings;
  };
  signing: { keyId: string; privatePem: string };
  rateLimits: {
    /** Capacity checks per user per minute. */
    capacityPerUserPerMinute: number;
    /** Reservations per lot per minute (counted after validation, after the per-user limit). */
    reservePerLotPerMinute: number;
    /** Reservations per user per minute; default a twentieth of the per-lot limit. */
    reservePerUserPerMinute?: number;
    /** Lot browsing (list, lot, capacity, price) without an account, per client address per minute (default 120). */
    browsePerAddressPerMinute?: number;
    /** Log-in, register and refresh attempts per client address per minute (default 30). */
    authPerAddressPerMinute?: number;
    /** Log-in and register attempts per account (email) per minute (default 10). */
    authPerAccountPerMinute?: number;
    /** argon2 hashes in flight per instance (default 4) and requests waiting for one (default 16). */
    hashConcurrency?: number;
    hashQueue?: number;
    /** Where the counters live: this instance's memory (default) or PostgreSQL, shared by all instances. */
    store?: 'memory' | 'postgres';
  };
  sweepers: {
    enabled: boolean;
    holdExpiryEveryMs: number;
    noShowEveryMs: number;
    /** How often `lot_changes` is pruned. */
    changeLogEveryMs: number;
    /** Change-log entries older than this are pruned; an edge further behind resyncs by snapshot. */
    changeLogRetentionDays: number;
  };
  /** Credential signing key rotation (cloud/repositories/signing-keys.ts). */
  keys: {
    /** How long a rotated-out key still verifies (QRs it signed stay valid offline until then). */
    rotationGraceDays: number;
    /** How often an instance re-reads the key ring (picks up another instance's rotation). */
    refreshMs: number;
  };
  /** MQTT sync with the lots; null = no sync (tests that build the app alone). */
  sync: SyncConfig | null;
  /** Email and webhooks (docs/notifications.md); absent = the defaults, no SMTP. */
  notifications?: NotificationsConfig;
  /** Receipt links (docs/money.md): HMAC key of their `?t=` token; absent = derived from the JWT secret. */
  receipts?: { linkSecret: string };
}

export interface SyncConfig {
  /** An external broker (Mosquitto, EMQX, HiveMQ); null = run aedes in this process. */
  brokerUrl: string | null;
  /** The embedded broker's port and its account file (lot accounts are added with `npm run cloud:lot-credentials`). */
  embedded: { host: string; port: number; accountsFile: string | null };
  username: string;
  password: string;
  /** Stable across restarts of this instance (cloud/sync/identity.ts deriveInstanceId). */
  instanceId: string;
  /**
   * MQTT 5 session expiry on an external broker: how long the broker keeps this instance's session (and
   * queue) after it disconnects. Long enough for a restart, short enough to bound a ghost.
   */
  sessionExpirySec?: number;
  /** `$share/…` subscriptions so several instances split the up/ load (not on the embedded broker). */
  sharedSubscription: boolean;
}

const Bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const Port = z.coerce.number().int().min(0).max(65_535);

export const EnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional(),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
  PGLITE_DIR: z.string().min(1).default('./data/cloud-pg'),
  DATA_DIR: z.string().min(1).default('./data/cloud'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: Port.default(3000),
  PUBLIC_URL: z.url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_REQUESTS: Bool.default(false),
  ADMIN_EMAIL: z.email().default('admin@parkedge.local'),
  ADMIN_PASSWORD: z.string().min(10, 'at least 10 characters').max(256).optional(),
  JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
  REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  PAYMENT_PROVIDER: z.enum(['sandbox', 'stripe']).default('sandbox'),
  /** Stripe's secret API key (sk_live_… / sk_test_…); required with PAYMENT_PROVIDER=stripe. */
  STRIPE_SECRET_KEY: z.string().min(8).optional(),
  /** The webhook endpoint's signing secret (whsec_…); required with PAYMENT_PROVIDER=stripe. */
  STRIPE_WEBHOOK_SECRET: z.string().min(8).optional(),
  /** Override of the Stripe API's protocol://host:port (tests, a local stand-in). */
  STRIPE_API_BASE: z.url().optional(),
  STRIPE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** Where Stripe's hosted checkout sends the payer back; default PUBLIC_URL + /console/. */
  STRIPE_RETURN_URL: z.url().optional(),
  PAYMENT_SANDBOX_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  RECEIPT_LINK_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  SIGNING_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 letters, digits, - or _')
    .optional(),
  /** PKCS#8 PEM of an Ed25519 key; with SIGNING_KEY_ID. */
  SIGNING_KEY_PEM: z.string().min(40).optional(),
  RATE_LIMIT_CAPACITY_PER_MINUTE: z.coerce.number().int().min(1).default(300),
  RATE_LIMIT_RESERVE_PER_LOT_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
  RATE_LIMIT_RESERVE_PER_USER_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  RATE_LIMIT_AUTH_PER_ADDRESS_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  RATE_LIMIT_BROWSE_PER_ADDRESS_PER_MINUTE: z.coerce.number().int().min(1).default(120),
  RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: z.coerce.number().int().min(1).default(10),
  AUTH_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  RATE_LIMIT_STORE: z.enum(['memory', 'postgres']).default('memory'),
  SWEEPERS: Bool.default(true),
  CHANGE_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  KEY_ROTATION_GRACE_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
  SYNC: Bool.default(true),
  MQTT_URL: z
    .string()
    .regex(/^mqtts?:\/\/./, 'mqtt://host:port or mqtts://host:port')
    .optional(),
  MQTT_USERNAME: z.string().min(1).max(64).default('cloud'),
  MQTT_PASSWORD: z.string().min(1).max(256).optional(),
  MQTT_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/)
    .optional(),
  MQTT_SHARED_SUBSCRIPTION: Bool.optional(),
  /** 5 (default): MQTT 5 with a session expiry; 3.1.1 for brokers that speak only that (aedes). */
  MQTT_PROTOCOL: z.enum(['3.1.1', '5']).default('5'),
  MQTT_SESSION_EXPIRY_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .default(600),
  BROKER_HOST: z.string().min(1).default('127.0.0.1'),
  /** 1884, so it does not collide with a system Mosquitto on 1883. */
  BROKER_PORT: Port.default(1884),
  /** smtp://user:pass@host:port or smtps://…; unset = emails are recorded as 'no_transport'. */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/./, 'smtp://host:port or smtps://host:port')
    .optional(),
  MAIL_FROM: z
    .string()
    .min(3)
    .max(200)
    .regex(/^[^\r\n]+$/, 'one line')
    .default(defaultNotificationsConfig.mailFrom),
  /** Run the notification dispatcher on this instance (one instance sends at a time either way). */
  NOTIFICATIONS_DISPATCH: Bool.default(true),
  NOTIFICATIONS_EVERY_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  WEBHOOK_DISABLE_AFTER: z.coerce.number().int().min(1).max(1000).default(20),
});
export type Env = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parse the environment or throw a ConfigError that names every bad variable. */
export function parseEnv(env: NodeJS.ProcessEnv): Env {
  // Empty strings count as unset: `FOO= npm run cloud` should not trip validation.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = EnvSchema.safeParse(cleaned);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid cloud configuration:\n${lines.join('\n')}`);
  }
  if ((r.data.SIGNING_KEY_PEM === undefined) !== (r.data.SIGNING_KEY_ID === undefined)) {
    throw new ConfigError('invalid cloud configuration:\n  SIGNING_KEY_PEM and SIGNING_KEY_ID go together');
  }
  if (r.data.PAYMENT_PROVIDER === 'stripe') {
    const missing = (['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'] as const).filter(
      (k) => r.data[k] === undefined,
    );
    if (missing.length > 0)
      throw new ConfigError(
        `invalid cloud configuration:\n  PAYMENT_PROVIDER=stripe needs ${missing.join(' and ')} (or use PAYMENT_PROVIDER=sandbox)`,
      );
  }
  return r.data;
}

/** A secret from the environment, else from DATA_DIR/<file>, else generated and saved there. */
async function persistedSecret(dataDir: string, file: string, given: string | undefined, make: () => string) {
  if (given !== undefined) return given;
  const path = join(dataDir, file);
  try {
    const stored = (await readFile(path, 'utf8')).trim();
    if (stored !== '') return stored;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const value = make();
  await writeFile(path, `${value}\n`, { mode: 0o600 });
  return value;
}

const secret = () => randomBytes(32).toString('base64url');

/** Full configuration: environment plus secrets resolved from (or generated into) DATA_DIR. */
export async function loadConfig(env: NodeJS.ProcessEnv = process.env): Promise<CloudConfig> {
  const e = parseEnv(env);
  const dataDir = resolve(e.DATA_DIR);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });

  const jwtSecret = await persistedSecret(dataDir, 'jwt-secret', e.JWT_SECRET, secret);
  const sandboxSecret = await persistedSecret(
    dataDir,
    'payment-sandbox-secret',
    e.PAYMENT_SANDBOX_SECRET,
    secret,
  );
  const adminPassword = await persistedSecret(dataDir, 'admin-password', e.ADMIN_PASSWORD, secret);
  const signing = await signingKey(e, dataDir);

  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  return {
    host: e.HOST,
    port: e.PORT,
    publicUrl,
    logLevel: e.LOG_LEVEL,
    logRequests: e.LOG_REQUESTS,
    database:
      e.DATABASE_URL !== undefined
        ? { kind: 'postgres', url: e.DATABASE_URL, poolSize: e.DB_POOL_SIZE }
        : { kind: 'pglite', dir: resolve(e.PGLITE_DIR) },
    dataDir,
    auth: {
      jwtSecret,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlDays: e.REFRESH_TOKEN_TTL_DAYS,
      admin: { email: e.ADMIN_EMAIL.toLowerCase(), password: adminPassword },
    },
    payments: { provider: e.PAYMENT_PROVIDER, sandboxSecret, ...stripeSettings(e, publicUrl) },
    receipts: {
      linkSecret: await persistedSecret(dataDir, 'receipt-link-secret', e.RECEIPT_LINK_SECRET, secret),
    },
    signing,
    rateLimits: {
      capacityPerUserPerMinute: e.RATE_LIMIT_CAPACITY_PER_MINUTE,
      reservePerLotPerMinute: e.RATE_LIMIT_RESERVE_PER_LOT_PER_MINUTE,
      reservePerUserPerMinute: e.RATE_LIMIT_RESERVE_PER_USER_PER_MINUTE,
      authPerAddressPerMinute: e.RATE_LIMIT_AUTH_PER_ADDRESS_PER_MINUTE,
      browsePerAddressPerMinute: e.RATE_LIMIT_BROWSE_PER_ADDRESS_PER_MINUTE,
      authPerAccountPerMinute: e.RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE,
      hashConcurrency: e.AUTH_HASH_CONCURRENCY,
      hashQueue: e.AUTH_HASH_CONCURRENCY * 4,
      store: e.RATE_LIMIT_STORE,
    },
    sweepers: {
      enabled: e.SWEEPERS,
      holdExpiryEveryMs: 60_000,
      noShowEveryMs: 15 * 60_000,
      changeLogEveryMs: 60 * 60_000,
      changeLogRetentionDays: e.CHANGE_LOG_RETENTION_DAYS,
    },
    keys: { rotationGraceDays: e.KEY_ROTATION_GRACE_DAYS, refreshMs: 60_000 },
    sync: e.SYNC ? await syncConfig(e, dataDir) : null,
    notifications: {
      ...defaultNotificationsConfig,
      dispatch: e.NOTIFICATIONS_DISPATCH,
      everyMs: e.NOTIFICATIONS_EVERY_MS,
      smtpUrl: e.SMTP_URL ?? null,
      mailFrom: e.MAIL_FROM,
      webhookDisableAfter: e.WEBHOOK_DISABLE_AFTER,
    },
  };
}

/** The credential signing key from the environment, else DATA_DIR/signing-key.json (made once). */
async function signingKey(e: Env, dataDir: string): Promise<CloudConfig['signing']> {
  let signing: CloudConfig['signing'];
  if (e.SIGNING_KEY_PEM !== undefined && e.SIGNING_KEY_ID !== undefined) {
    signing = { keyId: e.SIGNING_KEY_ID, privatePem: e.SIGNING_KEY_PEM };
  } else {
    const stored = await persistedSecret(dataDir, 'signing-key.json', undefined, () => {
      const keyId = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
      return JSON.stringify({ keyId, privatePem: generateSigningKey(keyId).privatePem });
    });
    const parsed = z.object({ keyId: z.string(), privatePem: z.string() }).safeParse(JSON.parse(stored));
    if (!parsed.success)
      throw new ConfigError(`${join(dataDir, 'signing-key.json')} is not a signing key file`);
    signing = parsed.data;
  }
  // Fail at start-up, not at the first booking, when the key is unusable.
  try {
    signingKeyFromPem(signing.keyId, signing.privatePem);
  } catch (err) {
    throw new ConfigError(`invalid cloud configuration:\n  SIGNING_KEY_PEM: ${(err as Error).message}`);
  }
  return signing;
}

/** MQTT sync: an external broker when MQTT_URL is set, else the embedded one. */
async function syncConfig(e: Env, dataDir: string): Promise<SyncConfig> {
  return {
    brokerUrl: e.MQTT_URL ?? null,
    embedded: {
      host: e.BROKER_HOST,
      port: e.BROKER_PORT,
      accountsFile: join(dataDir, 'broker-accounts'),
    },
    username: e.MQTT_USERNAME,
    // The embedded broker's cloud account gets a generated password kept in DATA_DIR.
    password:
      e.MQTT_PASSWORD ??
      (e.MQTT_URL === undefined
        ? await persistedSecret(dataDir, 'broker-cloud-password', undefined, secret)
        : ''),
    instanceId: deriveInstanceId({ configured: e.MQTT_INSTANCE_ID, hostname: hostname(), dataDir }),
    ...(e.MQTT_PROTOCOL === '5' ? { sessionExpirySec: e.MQTT_SESSION_EXPIRY_SECONDS } : {}),
    sharedSubscription: e.MQTT_SHARED_SUBSCRIPTION ?? e.MQTT_URL !== undefined,
  };
}

/** In-memory configuration for tests and benchmarks: nothing touches the disk. */
export function ephemeralConfig(overrides: Partial<CloudConfig> = {}): CloudConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    publicUrl: 'http://localhost',
    logLevel: 'silent',
    database: { kind: 'pglite', dir: null },
    dataDir: null,
    auth: {
      jwtSecret: secret(),
      accessTokenTtlSeconds: 900,
      refreshTokenTtlDays: 30,
      admin: { email: 'admin@parkedge.test', password: 'admin-password-for-tests' },
    },
    payments: { provider: 'sandbox', sandboxSecret: secret() },
    signing: { keyId: 'test1', privatePem: generateSigningKey('test1').privatePem },
    rateLimits: {
      capacityPerUserPerMinute: 100_000,
      reservePerLotPerMinute: 100_000,
      reservePerUserPerMinute: 100_000,
      authPerAddressPerMinute: 100_000,
      authPerAccountPerMinute: 100_000,
    },
    sweepers: {
      enabled: false,
      holdExpiryEveryMs: 60_000,
      noShowEveryMs: 15 * 60_000,
      changeLogEveryMs: 60 * 60_000,
      changeLogRetentionDays: 30,
    },
    keys: { rotationGraceDays: 30, refreshMs: 60_000 },
    sync: null,
    notifications: { ...defaultNotificationsConfig, dispatch: false },
    ...overrides,
  };
}

/** The Stripe adapter's settings, when PAYMENT_PROVIDER=stripe (parseEnv checked the keys). */
function stripeSettings(e: Env, publicUrl: string): { stripe?: StripeSettings } {
  if (e.PAYMENT_PROVIDER !== 'stripe' || !e.STRIPE_SECRET_KEY || !e.STRIPE_WEBHOOK_SECRET) return {};
  return {
    stripe: {
      secretKey: e.STRIPE_SECRET_KEY,
      webhookSecret: e.STRIPE_WEBHOOK_SECRET,
      apiBase: e.STRIPE_API_BASE ?? null,
      timeoutMs: e.STRIPE_TIMEOUT_MS,
      returnUrl: e.STRIPE_RETURN_URL ?? `${publicUrl}/console/`,
    },
  };
}
