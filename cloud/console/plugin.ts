import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ConsoleLots } from '../../protocol/console.js';
import { ErrorBody } from '../../protocol/http.js';
import { bookingRoutes } from './bookings.js';
import { sessionRoutes } from './session.js';

/**
 * The operator console: static files (plain ES modules, no build step) at `/console/`, uPlot served
 * from node_modules at `/console/vendor/`, under a strict same-origin CSP; and its API under
 * `/v1/console/` (cookie session, lots, booking search and story, operator refund).
 */
export const CONSOLE_ROOT = fileURLToPath(new URL('./public/', import.meta.url));
/** uPlot's dist folder (the package's main entry lives there). */
const UPLOT_DIST = dirname(createRequire(import.meta.url).resolve('uplot'));

export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const consoleStatic: FastifyPluginAsync = async (app) => {
  if (!existsSync(join(CONSOLE_ROOT, 'index.html')))
    throw new Error(`console assets missing: ${CONSOLE_ROOT}`);
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', CONSOLE_CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cache-control', 'no-cache');
    return payload;
  });
  await app.register(fastifyStatic, {
    root: CONSOLE_ROOT,
    prefix: '/console/',
    wildcard: false,
    index: ['index.html'],
    decorateReply: false,
    cacheControl: false,
  });
  await app.register(fastifyStatic, {
    root: UPLOT_DIST,
    prefix: '/console/vendor/',
    wildcard: false,
    allowedPath: (path) => path === '/uPlot.esm.js' || path === '/uPlot.min.css',
    decorateReply: false,
    cacheControl: false,
  });
};

const consoleApi: FastifyPluginAsyncZod = async (app) => {
  sessionRoutes(app);
  bookingRoutes(app);
  app.get(
    '/v1/console/lots',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['console'],
        summary: 'Lots this user operates',
        response: { 200: ConsoleLots, 401: ErrorBody },
      },
    },
    async (req) => {
      const admin = req.user.role === 'admin';
      const rows = await app.db.rows<{ id: string; name: string; time_zone: string; currency: string }>(
        `select id, name, time_zone, rates->>'currency' as currency from lots
         ${admin ? '' : 'where id in (select lot_id from lot_staff where user_id = $1)'} order by id`,
        admin ? [] : [req.user.id],
      );
      return {
        lots: rows.map((r) => ({ id: r.id, name: r.name, timeZone: r.time_zone, currency: r.currency })),
      };
    },
  );
};

export const consolePlugin: FastifyPluginAsync = async (app) => {
  await app.register(consoleStatic);
  await app.register(consoleApi);
};
