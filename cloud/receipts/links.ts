import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CloudConfig } from '../config.js';

/**
 * Receipt links: `<publicUrl>/v1/payments/<paymentId>/receipt?t=<token>`, the token an HMAC-SHA256
 * over the payment id with the receipt link secret (config `receipts.linkSecret`, else a key derived
 * from the JWT secret). Whoever holds the link reads the receipt: an exit payer has no account.
 */
export interface ReceiptLinks {
  token(paymentId: string): string;
  /** The link as mailed and shown; `format` html for a page, absent for the PDF. */
  url(paymentId: string, format?: 'html'): string;
  verify(paymentId: string, token: string): boolean;
}

export function receiptLinks(config: Pick<CloudConfig, 'publicUrl' | 'auth' | 'receipts'>): ReceiptLinks {
  const key =
    config.receipts?.linkSecret ??
    createHmac('sha256', config.auth.jwtSecret).update('parkedge receipt links').digest();
  const token = (paymentId: string) =>
    createHmac('sha256', key).update(`receipt:${paymentId}`).digest('base64url');
  return {
    token,
    url(paymentId, format) {
      const base = `${config.publicUrl}/v1/payments/${encodeURIComponent(paymentId)}/receipt?t=${token(paymentId)}`;
      return format === undefined ? base : `${base}&format=${format}`;
    },
    verify(paymentId, t) {
      const want = Buffer.from(token(paymentId));
      const got = Buffer.from(t);
      return got.length === want.length && timingSafeEqual(got, want);
    },
  };
}
