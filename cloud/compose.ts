import { type Clock, systemClock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import { cryptoRandom, type Random } from '../protocol/random.js';
import { buildApp, type CloudApp } from './app.js';
import { FileCredentialStore } from './broker/accounts.js';
import { MemoryCredentialStore } from './broker/credentials.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './broker/embedded.js';
import type { CloudConfig, SyncConfig } from './config.js';
import { type Database, openDatabase } from './db/database.js';
import { migrate } from './db/migrate.js';
import { createPaymentPurposes } from './payments/purposes.js';
import { retirePreviousInstance } from './sync/identity.js';
import type { CloudSync } from './sync/index.js';
import { startCloudSyncForApp } from './sync/repo-adapter.js';

/**
 * The composition root of the cloud process: opens the database (PostgreSQL, or PGlite served
 * over the wire protocol), applies migrations, builds the app, ensures the first admin.
 */
export interface Cloud {
  app: CloudApp;
  db: Database;
  /** The MQTT side: the broker in use and the sync engine; null when sync is off. */
  sync: { brokerUrl: string; embedded: EmbeddedBroker | null; engine: CloudSync } | null;
  close(): Promise<void>;
}

export async function createCloud(
  config: CloudConfig,
  deps: { logger: Logger; clock?: Clock; random?: Random },
): Promise<Cloud> {
  const { logger } = deps;
  const db = await openDatabase(config.database, logger.child({ component: 'db' }));
  try {
    await migrate(db, logger.child({ component: 'migrate' }));
    let engine: CloudSync | null = null;
    const app = await buildApp({
      config,
      logger,
      clock: deps.clock ?? systemClock,
      random: deps.random ?? cryptoRandom(),
      db,
      fleet: () => engine,
      purposes: createPaymentPurposes(logger.child({ component: 'payments' })),
    });
    await app.ready();
    if (config.auth.admin) {
      const outcome = await app.users.ensureAdmin(config.auth.admin.email, config.auth.admin.password);
      if (outcome === 'created') {
        logger.info(
          {
            email: config.auth.admin.email,
            passwordFile: config.dataDir ? `${config.dataDir}/admin-password` : null,
          },
          'first admin created (password from ADMIN_PASSWORD, else the password file)',
        );
      }
    }
    const sync = config.sync ? await startSync(app, config.sync, config.dataDir, logger) : null;
    engine = sync?.engine ?? null;
    let closing: Promise<void> | null = null;
    return {
      app,
      db,
      sync,
      close() {
        closing ??= (async () => {
          await sync?.engine.stop();
          await sync?.embedded?.close();
          await app.close();
          await db.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}

/** The broker (aedes in process unless MQTT_URL names one) and the sync engine bound to the app. */
async function startSync(
  app: CloudApp,
  sync: SyncConfig,
  dataDir: string | null,
  logger: Logger,
): Promise<NonNullable<Cloud['sync']>> {
  let embedded: EmbeddedBroker | null = null;
  let brokerUrl = sync.brokerUrl;
  if (brokerUrl === null) {
    const cloudAccount = { username: sync.username, password: sync.password };
    const credentials = sync.embedded.accountsFile
      ? await FileCredentialStore.open(sync.embedded.accountsFile, [cloudAccount])
      : await MemoryCredentialStore.fromCredentials([cloudAccount]);
    embedded = await startEmbeddedBroker({
      credentials,
      logger, // the broker names its component
      host: sync.embedded.host,
      port: sync.embedded.port,
    });
    brokerUrl = embedded.url;
  }
  try {
    // MQTT 5 with a session expiry on an external broker, unless MQTT_PROTOCOL=3.1.1 says it speaks
    // only 3.1.1 (aedes, as the demo runs it); the embedded broker is aedes too.
    const sessionExpirySec = embedded === null ? sync.sessionExpirySec : undefined;
    const login = {
      url: brokerUrl,
      username: sync.username,
      ...(sync.password ? { password: sync.password } : {}),
    };
    if (embedded === null)
      await retirePreviousInstance(
        dataDir,
        sync.instanceId,
        { ...login, protocolVersion: sessionExpirySec === undefined ? 4 : 5 },
        logger.child({ component: 'cloud-sync' }),
      );
    const engine = await startCloudSyncForApp(app, {
      mqtt: {
        ...login,
        instanceId: sync.instanceId,
        ...(sessionExpirySec !== undefined ? { sessionExpirySec } : {}),
        sharedSubscription: embedded === null && sync.sharedSubscription,
      },
      logger,
      metricsRegistry: app.metrics.registry,
    });
    return { brokerUrl, embedded, engine };
  } catch (err) {
    await embedded?.close();
    throw err;
  }
}
