import type { Database } from '../db/database.js';
import { definePlugin } from '../plugin.js';

declare module 'fastify' {
  interface FastifyInstance {
    db: Database;
  }
}

/**
 * The database handle, opened and migrated by the composition root (which also closes it), so
 * tests can share one database across app instances.
 */
export const dbPlugin = definePlugin<{ db: Database }>(
  async (app, opts) => {
    app.decorate('db', opts.db);
  },
  { name: 'db' },
);
