import type { Clock } from '../../protocol/clock.js';
import type { Random } from '../../protocol/random.js';
import type { CloudConfig } from '../config.js';
import { definePlugin } from '../plugin.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: CloudConfig;
    clock: Clock;
    random: Random;
  }
}

/** Configuration, time and randomness, as passed to buildApp: never module-level singletons. */
export const corePlugin = definePlugin<{ config: CloudConfig; clock: Clock; random: Random }>(
  async (app, opts) => {
    app.decorate('config', opts.config);
    app.decorate('clock', opts.clock);
    app.decorate('random', opts.random);
  },
  { name: 'core' },
);
