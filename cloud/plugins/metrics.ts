import type { CloudMetrics } from '../metrics.js';
import { definePlugin } from '../plugin.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: CloudMetrics;
  }
}

/** Per-app Prometheus registry, request timing by route, and `GET /metrics`. */
export const metricsPlugin = definePlugin<{ metrics: CloudMetrics }>(
  async (app, opts) => {
    const metrics = opts.metrics;
    app.decorate('metrics', metrics);
    app.addHook('onResponse', async (req, reply) => {
      metrics.httpDuration.observe(
        {
          method: req.method,
          route: req.routeOptions.url ?? 'unmatched',
          status_code: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
    });
    app.get('/metrics', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  },
  { name: 'metrics' },
);
