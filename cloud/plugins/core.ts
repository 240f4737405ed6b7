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

/**
 * Configuration, time and randomness, as passed to buildApp: never module-level singletons. Also
 * echoes the request id (`X-Request-ID`) on every reply.
 */
export const corePlugin = definePlugin<{ config: CloudConfig; clock: Clock; random: Random }>(
  async (app, opts) => {
    app.decorate('config', opts.config);
    app.decorate('clock', opts.clock);
    app.decorate('random', opts.random);
    // The request id in every answer, so a client's report can be matched to the log lines.
    app.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id);
    });
  },
  { name: 'core' },
);
