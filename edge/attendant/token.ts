import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Attendant session tokens: compact JWTs (HS256) signed with the edge's own secret. Kept local
 * (node:crypto) so expiry follows the injected clock and no global JWT typing is shared with the cloud.
 */
export interface SessionClaims {
  sub: string;
  name: string;
  lot: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

function mac(secret: string, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

export function signSession(
  claims: { sub: string; name: string; lot: string },
  secret: string,
  ttlSeconds: number,
  nowMs: number,
): { token: string; expiresAtMs: number } {
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + ttlSeconds;
  const body = Buffer.from(JSON.stringify({ ...claims, iat, exp })).toString('base64url');
  const signed = `${HEADER}.${body}`;
  return { token: `${signed}.${mac(secret, signed).toString('base64url')}`, expiresAtMs: exp * 1000 };
}

/** The claims of a valid, unexpired token; null for anything else. Never throws. */
export function verifySession(token: string, secret: string, nowMs: number): SessionClaims | null {
  if (typeof token !== 'string' || token.length > 2048) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== HEADER) return null;
  const expected = mac(secret, `${parts[0]}.${parts[1]}`);
  const given = Buffer.from(parts[2]!, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Partial<SessionClaims>;
    if (typeof c.sub !== 'string' || typeof c.lot !== 'string' || typeof c.exp !== 'number') return null;
    if (c.exp * 1000 <= nowMs) return null;
    return {
      sub: c.sub,
      name: typeof c.name === 'string' ? c.name : c.sub,
      lot: c.lot,
      iat: c.iat ?? 0,
      exp: c.exp,
    };
  } catch {
    return null;
  }
}
