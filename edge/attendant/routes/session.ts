import { checkLogin } from '../accounts.js';
import type { AttendantApi, RouteDeps } from '../context.js';
import * as S from '../schemas.js';
import { clearSessionCookie, setSessionCookie } from '../session-cookie.js';
import { signSession } from '../token.js';
import { iso } from '../views.js';

/**
 * Log-in (open): every attempt is audited; a good one gets a session token, in the answer (API
 * clients: Bearer) and as the console's HttpOnly cookie.
 */
export function loginRoutes(app: AttendantApi, { edge, lot }: RouteDeps): void {
  app.post(
    '/api/login',
    { schema: { body: S.LoginBody, response: { 200: S.LoginReply, 401: S.ErrorBody } } },
    async (request, reply) => {
      const { username, password } = request.body;
      const account = await checkLogin({
        store: edge.store.attendants,
        username,
        password,
        logger: edge.logger,
      });
      const atMs = edge.clock.now();
      if (!account) {
        edge.store.attendants.audit({ atMs, attendant: username.slice(0, 64), action: 'login_failed' });
        edge.logger.warn({ username }, 'attendant login failed');
        return reply.code(401).send({ error: 'unauthorized', message: 'wrong user name or password' });
      }
      edge.store.attendants.audit({ atMs, attendant: account.username, action: 'login' });
      const { token, expiresAtMs } = signSession(
        { sub: account.username, name: account.displayName, lot: edge.lotId },
        edge.jwtSecret,
        edge.tokenTtlMinutes * 60,
        atMs,
      );
      reply.header('set-cookie', setSessionCookie(request, token, (expiresAtMs - atMs) / 1000));
      return {
        token,
        expiresAt: iso(expiresAtMs),
        username: account.username,
        displayName: account.displayName,
        ...lot(),
      };
    },
  );
}

/** Log-out (open, so an expired session can log out too): the browser forgets the session cookie. */
export function logoutRoutes(app: AttendantApi, _deps: RouteDeps): void {
  app.post('/api/logout', { schema: { response: { 200: S.ActionReply } } }, async (request, reply) => {
    reply.header('set-cookie', clearSessionCookie(request));
    return { ok: true, detail: 'logged out' };
  });
}

/** Who is logged in, and where. */
export function meRoutes(api: AttendantApi, { who, lot }: RouteDeps): void {
  api.get('/api/me', { schema: { response: { 200: S.MeReply } } }, async (request) => ({
    ...who(request),
    ...lot(),
  }));
}
