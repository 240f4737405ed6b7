import { createHmac } from 'node:crypto';
import Stripe from 'stripe';
import { err, ok, type Result } from '../../protocol/result.js';
import type { PaymentFailure } from './provider.js';

/**
 * Stripe's webhook signature scheme, used by both providers: the header `Stripe-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the endpoint secret>`. Verifying
 * is the stripe library's own check (`webhooks.constructEvent`), with the time taken from the
 * injected clock; events older than five minutes are refused (replay window).
 */

const TOLERANCE_SEC = 300;

/** The `Stripe-Signature` header for a body, signed at `atMs`. */
export function signWebhook(rawBody: string, secret: string, atMs: number): string {
  const t = Math.floor(atMs / 1000);
  const v1 = createHmac('sha256', secret).update(`${t}.${rawBody}`, 'utf8').digest('hex');
  return `t=${t},v1=${v1}`;
}

/** A webhook event as both providers send it (the subset of Stripe's Event we read). */
export interface WebhookEvent {
  id: string;
  type: string;
  data: { object: Record<string, unknown> };
}

export function verifyWebhook(
  rawBody: string,
  signature: string | undefined,
  secret: string,
  nowMs: number,
): Result<WebhookEvent, PaymentFailure> {
  if (signature === undefined || signature === '')
    return err({ reason: 'invalid_signature', message: 'Stripe-Signature header missing' });
  try {
    const event = Stripe.webhooks.constructEvent(
      rawBody,
      signature,
      secret,
      TOLERANCE_SEC,
      undefined,
      nowMs,
    ) as unknown as WebhookEvent;
    if (
      typeof event?.id !== 'string' ||
      typeof event.type !== 'string' ||
      typeof event.data?.object !== 'object'
    )
      return err({ reason: 'invalid_signature', message: 'not a webhook event' });
    return ok(event);
  } catch (e) {
    return err({ reason: 'invalid_signature', message: e instanceof Error ? e.message : String(e) });
  }
}

/** Text field of a provider object, or null. */
export function text(o: Record<string, unknown> | null | undefined, key: string): string | null {
  const v = o?.[key];
  return typeof v === 'string' ? v : null;
}

/** The metadata object of a provider object. */
export function metadata(o: Record<string, unknown>): Record<string, unknown> {
  const m = o.metadata;
  return m !== null && typeof m === 'object' ? (m as Record<string, unknown>) : {};
}
