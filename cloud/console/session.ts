import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConsoleLoginBody, ConsoleSession, LoggedOut } from '../../protocol/console.js';
import { ErrorBody } from '../../protocol/http.js';
import { HttpError } from '../errors.js';
import type { CloudApi } from '../routes/api.js';

/**
 * The operator console's session: the access token in a cookie (`HttpOnly`, `SameSite=Strict`,
 * `Secure` behind https, `Path=/`), never in a URL or in script-readable storage. The auth plugin
 * accepts it when a request has no Authorization header; state-changing requests must also send
 * `X-Parkedge-Console: 1` (CSRF). Logging out clears the cookie (tokens are stateless: one copied
 * out of the browser stays valid until it expires, as a Bearer token would).
 */
export const SESSION_COOKIE = 'pe_console';
export const CONSOLE_HEADER = 'x-parkedge-console';

const COOKIE_VALUE = /^[A-Za-z0-9._-]{1,4096}$/;

/** The session token in a Cookie header, or null. */
export function sessionCookieOf(header: string | undefined): string | null {
  if (typeof header !== 'string' || header.length > 16_384) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return COOKIE_VALUE.test(value) ? value : null;
  }
  return null;
}

/** The Set-Cookie value for a token (null clears the cookie). */
export function sessionCookie(token: string | null, maxAgeSeconds: number, secure: boolean): string {
  const parts = [
    `${SESSION_COOKIE}=${token ?? ''}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${token === null ? 0 : maxAgeSeconds}`,
  ];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

const isHttps = (req: FastifyRequest) => req.protocol === 'https';

function requireConsoleHeader(req: FastifyRequest): void {
  if (req.headers[CONSOLE_HEADER] !== '1') {
    throw new HttpError({ status: 403, error: 'csrf', message: `send ${CONSOLE_HEADER}: 1` });
  }
}

/** POST/GET/DELETE /v1/console/session: log in (sets the cookie), who am I, log out. */
export function sessionRoutes(app: CloudApi): void {
  app.post(
    '/v1/console/session',
    {
      config: { access: 'public', rateLimit: { max: 20, timeWindow: 60_000 } },
      schema: {
        tags: ['console'],
        summary: 'Console log-in (operators and admins): sets the HttpOnly session cookie',
        security: [],
        body: ConsoleLoginBody,
        response: { 200: ConsoleSession, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (req, reply) => {
      requireConsoleHeader(req);
      const found = await app.users.authenticate(req.body.email, req.body.password);
      const user = found === null ? null : await app.users.byId(found.id);
      if (user === null) {
        throw new HttpError({
          status: 401,
          error: 'invalid_credentials',
          message: 'email or password is wrong',
        });
      }
      if (user.role !== 'operator' && user.role !== 'admin') {
        throw new HttpError({
          status: 403,
          error: 'forbidden',
          message: 'the console is for operators and admins',
        });
      }
      const tokens = await app.issueTokens(user);
      setCookie(reply, sessionCookie(tokens.accessToken, tokens.expiresIn, isHttps(req)));
      return { user };
    },
  );
  app.get(
    '/v1/console/session',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['console'],
        summary: 'The console user',
        response: { 200: ConsoleSession, 401: ErrorBody },
      },
    },
    async (req) => {
      const user = await app.users.byId(req.user.id);
      if (user === null) throw new HttpError({ status: 401, error: 'unauthorized', message: 'user is gone' });
      return { user };
    },
  );
  app.delete(
    '/v1/console/session',
    {
      config: { access: 'public' },
      schema: {
        tags: ['console'],
        summary: 'Console log-out: clears the cookie',
        security: [],
        response: { 200: LoggedOut },
      },
    },
    async (req, reply) => {
      requireConsoleHeader(req);
      setCookie(reply, sessionCookie(null, 0, isHttps(req)));
      return { loggedOut: true as const };
    },
  );
}

function setCookie(reply: FastifyReply, value: string): void {
  reply.header('set-cookie', value);
}
