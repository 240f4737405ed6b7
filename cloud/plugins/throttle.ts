import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorBody } from '../../protocol/http.js';
import type { CloudConfig } from '../config.js';
import { HttpError } from '../errors.js';
import { definePlugin } from '../plugin.js';
import {
  BoundedSemaphore,
  type HitCounters,
  MemoryHitCounters,
  PostgresHitCounters,
} from './throttle-store.js';

/**
 * Abuse limits that need more than one key per request (so not @fastify/rate-limit's one key per
 * route), all counted in a preHandler, i.e. after authentication and body validation, so invalid
 * requests cost an attacker nothing and count against nobody:
 *
 * - `reserve`: per user first (a user over their limit is refused without touching the lot's budget),
 *   then per lot. One account can use at most its own share, never a lot's whole budget.
 * - `login` / `register`: per client address, then per account (the email), then a bounded number of
 *   argon2 hashes in flight per instance; past that a request waits in a short queue or gets 503 at once.
 * - `refresh`: per client address.
 *
 * Counters live in memory per instance, or in PostgreSQL (RATE_LIMIT_STORE=postgres) shared by all
 * instances. The hash semaphore is always per instance: it protects this process's CPU.
 */

export type ThrottleKind = 'reserve' | 'login' | 'register' | 'refresh';

declare module 'fastify' {
  interface FastifyContextConfig {
    throttle?: ThrottleKind;
  }
}

export interface ThrottleLimits {
  reservePerUser: number;
  reservePerLot: number;
  authPerAddress: number;
  authPerAccount: number;
  hashConcurrency: number;
  hashQueue: number;
}

const WINDOW_MS = 60_000;

/** The limits from the configuration, with the defaults for fields older configurations lack. */
export function throttleLimits(r: CloudConfig['rateLimits']): ThrottleLimits {
  return {
    reservePerLot: r.reservePerLotPerMinute,
    // Default: a twentieth of a lot's budget, so one account can never exhaust it.
    reservePerUser: r.reservePerUserPerMinute ?? Math.max(1, Math.floor(r.reservePerLotPerMinute / 20)),
    authPerAddress: r.authPerAddressPerMinute ?? 30,
    authPerAccount: r.authPerAccountPerMinute ?? 10,
    hashConcurrency: r.hashConcurrency ?? 4,
    hashQueue: r.hashQueue ?? 16,
  };
}

const HASH_RELEASE = Symbol('throttle.hashRelease');
type WithRelease = FastifyRequest & { [HASH_RELEASE]?: () => void };

const tooMany = (reply: FastifyReply, resetInMs: number, what: string) => {
  reply.header('retry-after', String(Math.max(1, Math.ceil(resetInMs / 1000))));
  return new HttpError({ status: 429, error: 'rate_limited', message: `too many ${what}; try again later` });
};

export const throttlePlugin = definePlugin(
  async (app) => {
    const limits = throttleLimits(app.config.rateLimits);
    const counters: HitCounters =
      app.config.rateLimits.store === 'postgres'
        ? new PostgresHitCounters(app.db, app.clock)
        : new MemoryHitCounters(app.clock);
    const hashes = new BoundedSemaphore(limits.hashConcurrency, limits.hashQueue);

    /** Counts one hit on each key in order; the first one over its limit refuses the request. */
    const check = async (reply: FastifyReply, keys: Array<[string, number, string]>) => {
      for (const [key, max, what] of keys) {
        const { count, resetInMs } = await counters.hit(key, WINDOW_MS);
        if (count > max) throw tooMany(reply, resetInMs, what);
      }
    };

    const hooks: Record<ThrottleKind, (req: FastifyRequest, reply: FastifyReply) => Promise<void>> = {
      reserve: async (req, reply) => {
        const lotId = (req.body as { lotId: string }).lotId;
        await check(reply, [
          [`reserve-user:${req.user.id}`, limits.reservePerUser, 'reservations from this account'],
          [`reserve-lot:${lotId}`, limits.reservePerLot, 'reservations at this lot'],
        ]);
      },
      login: (req, reply) => authCheck(req, reply, true),
      register: (req, reply) => authCheck(req, reply, true),
      refresh: (req, reply) => authCheck(req, reply, false),
    };

    async function authCheck(req: FastifyRequest, reply: FastifyReply, hashes_: boolean) {
      const email = (req.body as { email?: unknown }).email;
      await check(reply, [
        [`auth-ip:${req.ip}`, limits.authPerAddress, 'sign-in attempts from this address'],
        ...(typeof email === 'string'
          ? [
              [
                `auth-account:${email.toLowerCase()}`,
                limits.authPerAccount,
                'sign-in attempts for this account',
              ] as [string, number, string],
            ]
          : []),
      ]);
      if (!hashes_) return;
      const slot = hashes.tryAcquire();
      if (slot === null) {
        reply.header('retry-after', '1');
        throw new HttpError({
          status: 503,
          error: 'busy',
          message: 'too many sign-ins at once; retry shortly',
        });
      }
      (req as WithRelease)[HASH_RELEASE] = await slot;
    }

    const release = async (req: FastifyRequest) => {
      (req as WithRelease)[HASH_RELEASE]?.();
    };

    app.addHook('onRoute', (route) => {
      const kind = route.config?.throttle;
      if (kind === undefined) return;
      const existing = Array.isArray(route.preHandler)
        ? route.preHandler
        : route.preHandler
          ? [route.preHandler]
          : [];
      // First, before the idempotency claim and the handler.
      route.preHandler = [hooks[kind], ...existing];
      if (kind === 'login' || kind === 'register') {
        const onResponse = Array.isArray(route.onResponse)
          ? route.onResponse
          : route.onResponse
            ? [route.onResponse]
            : [];
        route.onResponse = [...onResponse, release];
        const onAbort = Array.isArray(route.onRequestAbort)
          ? route.onRequestAbort
          : route.onRequestAbort
            ? [route.onRequestAbort]
            : [];
        route.onRequestAbort = [...onAbort, release];
      }
      // The refusals in the route's documented responses.
      if (route.schema) {
        const response = (route.schema.response ?? {}) as Record<string, unknown>;
        response[429] ??= ErrorBody;
        if (kind === 'login' || kind === 'register') response[503] ??= ErrorBody;
        route.schema.response = response;
      }
    });
  },
  { name: 'throttle', dependencies: ['core', 'db'] },
);
