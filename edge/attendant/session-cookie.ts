import type { FastifyRequest } from 'fastify';

/**
 * The console's session cookie. The token rides in an `HttpOnly` cookie (page scripts cannot read
 * it) with `SameSite=Strict` (no other site's page can make the browser send it), set at log-in and
 * cleared at log-out, so it never appears in a URL: not the event stream's, not the CSV download's.
 * API clients may keep sending `Authorization: Bearer`.
 *
 * Hand-written rather than @fastify/cookie: one cookie, one name, no signing (the token is signed).
 */
export const SESSION_COOKIE = 'parkedge_session';

/** Every authenticated route is under /api: the browser sends the cookie nowhere else. */
const COOKIE_PATH = '/api';

/** The session token from the request's `Cookie` header, if there is one. */
export function sessionCookieFrom(request: FastifyRequest): string | null {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return value.length > 0 ? value : null;
  }
  return null;
}

/** `Set-Cookie` that stores the token for `maxAgeSeconds` (`Secure` when the request came over TLS). */
export function setSessionCookie(request: FastifyRequest, token: string, maxAgeSeconds: number): string {
  return cookie(request, token, Math.max(0, Math.floor(maxAgeSeconds)));
}

/** `Set-Cookie` that makes the browser forget the session. */
export function clearSessionCookie(request: FastifyRequest): string {
  return cookie(request, '', 0);
}

function cookie(request: FastifyRequest, value: string, maxAge: number): string {
  const attributes = [
    `${SESSION_COOKIE}=${value}`,
    `Path=${COOKIE_PATH}`,
    `Max-Age=${maxAge}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (request.protocol === 'https') attributes.push('Secure');
  return attributes.join('; ');
}
