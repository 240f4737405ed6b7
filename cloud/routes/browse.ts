import type { FastifyRequest } from 'fastify';
import type { CloudApi } from './api.js';

/**
 * The rate limit of the lot pages anyone may read without an account ('browse' access): a visitor
 * is counted per client address, a signed-in user per account (at the capacity budget), so a
 * search page behind one address (an office, a load test) is not throttled by its neighbours' logins.
 */
export function browseRateLimit(app: CloudApi, what: string) {
  const r = app.config.rateLimits;
  const perAddress = r.browsePerAddressPerMinute ?? 120;
  const user = (req: FastifyRequest) =>
    (req as FastifyRequest & { user?: { id: string } | null }).user ?? undefined;
  return {
    timeWindow: 60_000,
    max: (req: FastifyRequest) => (user(req) === undefined ? perAddress : r.capacityPerUserPerMinute),
    keyGenerator: (req: FastifyRequest) => {
      const u = user(req);
      return u === undefined ? `browse:${what}:ip:${req.ip}` : `${what}:${u.id}`;
    },
  };
}
