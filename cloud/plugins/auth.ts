import fastifyJwt from '@fastify/jwt';
import type { FastifyRequest } from 'fastify';
import type { Role } from '../../protocol/domain.js';
import type { UserView } from '../../protocol/http.js';
import { CONSOLE_HEADER, sessionCookieOf } from '../console/session.js';
import { HttpError } from '../errors.js';
import { definePlugin } from '../plugin.js';

/**
 * Authentication (JWT access tokens via @fastify/jwt, verified against the injected clock) and
 * role checks. Every /v1 route must declare `config.access` — 'public', 'authenticated' or the
 * roles allowed — or the app refuses to start: no route is open by omission.
 */

/** 'optional': public, but a presented token is verified and sets `req.user` (signed-link routes). */
/** 'browse': anyone; a presented access token is still checked and identifies the user (rate limits). */
export type Access = 'public' | 'optional' | 'browse' | 'authenticated' | readonly Role[];

export interface AuthUser {
  id: string;
  role: Role;
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string; role: Role; typ: 'access' };
    user: AuthUser;
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyInstance {
    /** Access + refresh tokens for a user who just proved who they are (or rotated a refresh token). */
    issueTokens(
      user: UserView,
      refreshToken?: string,
    ): Promise<{
      tokenType: 'Bearer';
      accessToken: string;
      expiresIn: number;
      refreshToken: string;
      user: UserView;
    }>;
    /** Admins act on every lot; operators and attendants on the lots they staff. */
    canActOnLot(user: AuthUser, lotId: string): Promise<boolean>;
  }
}

const unauthorized = (message: string) => new HttpError({ status: 401, error: 'unauthorized', message });

/** What a verified token says (checked field by field before use). */
interface TokenClaims {
  sub?: unknown;
  role?: unknown;
  typ?: unknown;
  exp?: unknown;
  nbf?: unknown;
}

const VERIFIED_TOKENS_MAX = 10_000;

/**
 * The access token of a request: `Authorization: Bearer …` (API clients), else the operator
 * console's session cookie (cloud/console/session.ts). A cookie is sent by the browser on its own,
 * so a state-changing request authenticated by it must also carry the console's custom header,
 * which no cross-site form or simple request can set (with SameSite=Strict: two defences).
 */
function presentedToken(req: FastifyRequest): string {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    if (!header.startsWith('Bearer ') || header.length > 4096) {
      throw unauthorized('send Authorization: Bearer <access token>');
    }
    return header.slice(7).trim();
  }
  const cookie = sessionCookieOf(req.headers.cookie);
  if (cookie === null) throw unauthorized('send Authorization: Bearer <access token>');
  if (!SAFE_METHODS.has(req.method) && req.headers[CONSOLE_HEADER] !== '1') {
    throw new HttpError({
      status: 403,
      error: 'csrf',
      message: `a request authenticated by the session cookie must send ${CONSOLE_HEADER}: 1`,
    });
  }
  return cookie;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function hasSessionCookie(req: FastifyRequest): boolean {
  return sessionCookieOf(req.headers.cookie) !== null;
}

export const authPlugin = definePlugin(
  async (app) => {
    const { config, clock } = app;
    await app.register(fastifyJwt, { secret: config.auth.jwtSecret, sign: { algorithm: 'HS256' } });

    app.addHook('onRoute', (route) => {
      if (route.url.startsWith('/v1/') && route.config?.access === undefined) {
        throw new Error(`route ${route.method} ${route.url} does not declare config.access`);
      }
    });

    app.decorate('issueTokens', async (user: UserView, rotated?: string) => {
      const ttl = config.auth.accessTokenTtlSeconds;
      const accessToken = app.jwt.sign(
        { sub: user.id, role: user.role, typ: 'access' },
        { expiresIn: ttl, clockTimestamp: clock.now() }, // seconds, per @fastify/jwt
      );
      const refreshToken = rotated ?? (await app.users.issueRefreshToken(user.id));
      return { tokenType: 'Bearer' as const, accessToken, expiresIn: ttl, refreshToken, user };
    });

    app.decorate('canActOnLot', async (user: AuthUser, lotId: string) => {
      if (user.role === 'admin') return true;
      if (user.role !== 'operator' && user.role !== 'attendant') return false;
      return app.lots.isStaff(lotId, user.id);
    });

    /**
     * Tokens whose signature verified, with their claims. Verifying a token always gives the same
     * answer, so a client reusing its token (for up to its lifetime) skips the decode and HMAC; the
     * time claims are checked on every use against the injected clock, by the verifier's rule.
     * Bounded, oldest first out. Per instance, and nothing in it can be stale.
     */
    const verified = new Map<string, TokenClaims>();
    function verifyToken(token: string, now: number): TokenClaims {
      const known = verified.get(token);
      if (known === undefined) {
        const claims = app.jwt.verify<TokenClaims>(token, { clockTimestamp: now });
        if (verified.size >= VERIFIED_TOKENS_MAX) verified.delete(verified.keys().next().value!);
        verified.set(token, claims);
        return claims;
      }
      // As fast-jwt with no clock tolerance: valid while nbf * 1000 <= now <= exp * 1000.
      if (typeof known.exp === 'number' && now > known.exp * 1000) throw new Error('expired');
      if (typeof known.nbf === 'number' && now < known.nbf * 1000) throw new Error('not yet valid');
      return known;
    }

    function authenticate(req: FastifyRequest): AuthUser {
      const token = presentedToken(req);
      let claims: TokenClaims;
      try {
        claims = verifyToken(token, clock.now());
      } catch {
        throw unauthorized('access token is invalid or expired');
      }
      if (claims.typ !== 'access' || typeof claims.sub !== 'string' || typeof claims.role !== 'string') {
        throw unauthorized('not an access token');
      }
      return { id: claims.sub, role: claims.role as Role };
    }

    app.addHook('onRequest', async (req) => {
      const access = req.routeOptions.config?.access;
      if (access === undefined || access === 'public') return;
      if (access === 'optional') {
        if (req.headers.authorization !== undefined || sessionCookieOf(req.headers.cookie) !== null) {
          req.user = authenticate(req);
        }
        return;
      }
      if (access === 'browse' && req.headers.authorization === undefined && !hasSessionCookie(req)) return;
      const user = authenticate(req);
      req.user = user;
      if (access !== 'authenticated' && access !== 'browse' && !access.includes(user.role)) {
        throw new HttpError({ status: 403, error: 'forbidden', message: `a ${user.role} may not do this` });
      }
    });
  },
  { name: 'auth', dependencies: ['core', 'repo-users', 'repo-lots'] },
);
