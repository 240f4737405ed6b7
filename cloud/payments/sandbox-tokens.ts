import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The sandbox's checkout ids and payment tokens: HMAC-sealed JSON claims, so verifying one needs
 * the secret and nothing stored.
 */

export const CheckoutClaims = z.object({
  t: z.literal('checkout'),
  rid: z.string(),
  amt: z.number().int().nonnegative(),
  cur: z.string(),
  iat: z.number(),
});
export const PaymentClaims = z.object({
  t: z.literal('payment'),
  rid: z.string(),
  amt: z.number().int().nonnegative(),
  cur: z.string(),
  pid: z.string(),
  mid: z.string(),
  iat: z.number(),
});

export interface Sealer {
  /** `<base64url JSON>.<base64url HMAC>`. */
  seal(claims: object): string;
  /** The claims when the text is sealed with our secret and matches the schema, else null. */
  open<T>(text: string, schema: z.ZodType<T>): T | null;
}

export function createSealer(secret: string): Sealer {
  const mac = (body: string) => createHmac('sha256', secret).update(body).digest('base64url');
  return {
    seal(claims) {
      const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
      return `${body}.${mac(body)}`;
    },
    open(text, schema) {
      if (typeof text !== 'string' || text.length > 2048) return null;
      const dot = text.indexOf('.');
      if (dot <= 0) return null;
      const body = text.slice(0, dot);
      const given = Buffer.from(text.slice(dot + 1));
      const expected = Buffer.from(mac(body));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      return parseClaims(body, schema);
    },
  };
}

function parseClaims<T>(body: string, schema: z.ZodType<T>): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    // A correctly sealed body is always our JSON; anything else is simply not a token.
    return null;
  }
}
