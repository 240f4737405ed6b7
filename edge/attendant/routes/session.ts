import { checkLogin } from '../accounts.js';
import type { AttendantApi, RouteDeps } from '../context.js';
import * as S from '../schemas.js';
import { signSession } from '../token.js';
import { iso } from '../views.js';

/** Log-in (open): every attempt is audited; a good one gets a session token. */
export function loginRoutes(app: AttendantApi, { edge, lot }: RouteDeps): void {
  app.post(
    '/api/login',
    { schema: { body: S.LoginBody, response: { 200: S.LoginReply, 401: S.ErrorBody } } },
    async (request, reply) => {
      const { username, password } = request.body;
      const account = await checkLogin({ store: edge.store, username, password, logger: edge.logger });
      const atMs = edge.clock.now();
      if (!account) {
        edge.store.audit({ atMs, attendant: username.slice(0, 64), action: 'login_failed' });
        edge.logger.warn({ username }, 'attendant login failed');
        return reply.code(401).send({ error: 'unauthorized', message: 'wrong user name or password' });
      }
      edge.store.audit({ atMs, attendant: account.username, action: 'login' });
      const { token, expiresAtMs } = signSession(
        { sub: account.username, name: account.displayName, lot: edge.lotId },
        edge.jwtSecret,
        edge.tokenTtlMinutes * 60,
        atMs,
      );
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

/** Who is logged in, and where. */
export function meRoutes(api: AttendantApi, { who, lot }: RouteDeps): void {
  api.get('/api/me', { schema: { response: { 200: S.MeReply } } }, async (request) => ({
    ...who(request),
    ...lot(),
  }));
}
