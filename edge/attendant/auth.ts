import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '../../protocol/http.js';
import type { Attendant, AttendantContext } from './context.js';
import { sessionCookieFrom } from './session-cookie.js';
import { verifySession } from './token.js';

/**
 * The console's session cookie (set at log-in; the event stream and downloads send it too), or a
 * Bearer header (API clients). Never the URL: logs and browser history would keep it.
 */
function tokenFrom(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7);
  return sessionCookieFrom(request);
}

/**
 * The session check for authenticated routes: a valid token for this lot of an account that is
 * still enabled. `who` reads the attendant the hook found.
 */
export function attendantAuth(edge: AttendantContext) {
  const users = new WeakMap<FastifyRequest, Attendant>();
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = tokenFrom(request);
    if (token !== null) {
      const claims = verifySession(token, edge.jwtSecret, edge.clock.now());
      if (
        claims &&
        claims.lot === edge.lotId &&
        edge.store.attendants.attendant(claims.sub)?.disabled === false
      ) {
        users.set(request, { username: claims.sub, displayName: claims.name });
        return;
      }
    }
    const body: ErrorBody = { error: 'unauthorized', message: 'log in first' };
    return reply.code(401).send(body);
  };
  const who = (request: FastifyRequest): Attendant => users.get(request)!;
  return { authenticate, who };
}
