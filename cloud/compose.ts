import { type Clock, systemClock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import { cryptoRandom, type Random } from '../protocol/random.js';
import { buildApp, type CloudApp } from './app.js';
import type { CloudConfig } from './config.js';
import { type Database, openDatabase } from './db/database.js';
import { migrate } from './db/migrate.js';

/**
 * The composition root of the cloud process: opens the database (PostgreSQL, or PGlite served
 * over the wire protocol), applies migrations, builds the app, ensures the first admin.
 */
export interface Cloud {
  app: CloudApp;
  db: Database;
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
    const app = await buildApp({
      config,
      logger,
      clock: deps.clock ?? systemClock,
      random: deps.random ?? cryptoRandom(),
      db,
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
    let closing: Promise<void> | null = null;
    return {
      app,
      db,
      close() {
        closing ??= (async () => {
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
