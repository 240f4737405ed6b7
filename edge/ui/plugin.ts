import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { UI_ROOT } from '../paths.js';

/**
 * The attendant web UI: static files (plain ES modules + one stylesheet, no build step) served at `/`
 * by the edge's attendant server. Everything the page needs is in `public/`; it never loads anything
 * from another origin, so it works on a lot whose internet link is down.
 *
 * Register it beside the attendant JSON API (which lives under `/api/`):
 *   await app.register(uiPlugin);
 * The plugin is encapsulated: its headers apply to its own files only.
 */
export interface UiPluginOptions {
  /** Folder with the assets (default: `public/` next to this file, or next to the bundle). */
  root?: string;
}

export { UI_ROOT };

/**
 * Same-origin only: scripts, styles, the event stream and API calls. `data:` images cover the inline
 * favicon. No inline script or style is needed by the page.
 */
export const UI_CONTENT_SECURITY_POLICY = [
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

export const uiPlugin: FastifyPluginAsync<UiPluginOptions> = async (app, opts) => {
  const root = opts.root ?? UI_ROOT;
  if (!existsSync(join(root, 'index.html')))
    throw new Error(`attendant UI assets missing: ${root}/index.html`);

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', UI_CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    // Revalidate on every load (ETag), so an updated edge never serves a stale page.
    reply.header('cache-control', 'no-cache');
    return payload;
  });

  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // One route per file, found at start-up: the UI never shadows /api/* (or anything else) with a catch-all.
    wildcard: false,
    index: ['index.html'],
    decorateReply: false,
    cacheControl: false,
  });
};
