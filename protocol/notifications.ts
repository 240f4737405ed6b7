import { z } from 'zod';
import { Id, IsoTimestamp, LotId } from './domain.js';

/**
 * Notifications: the kinds of event the cloud tells people about, and the webhook API
 * (docs/notifications.md). Webhook bodies are `WebhookPayload`, signed with HMAC-SHA256 over
 * `timestamp + "." + body` in `Parkedge-Signature: t=<unix seconds>,v1=<hex>`.
 */

export const NotificationKind = z.enum([
  'booking_confirmed',
  'hold_expiring',
  'booking_cancelled',
  'no_show',
  'overstay_charged',
  'debt_opened',
  'lot_offline',
  'lot_online',
  'device_alarm',
  'webhook_disabled',
]);
export type NotificationKind = z.infer<typeof NotificationKind>;

/** A URL a webhook may call: http(s) only, no credentials in it, no fragment. */
export const WebhookUrl = z
  .string()
  .max(2000)
  // Documented as a pattern (http or https, a host, no user:password@); the refine below is the
  // exact check with the WHATWG URL parser.
  .regex(/^https?:\/\/[^\s/?#@]+(?:[/?#]\S*)?$/, 'an http:// or https:// URL without credentials')
  .refine((s) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return false;
    }
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
  }, 'an http:// or https:// URL without credentials');

export const CreateWebhookBody = z.object({
  url: WebhookUrl,
  events: z.array(NotificationKind).min(1).max(20),
  /** Required for operators (one of their lots); an admin may leave it out for every lot. */
  lotId: LotId.optional(),
});
export type CreateWebhookBody = z.infer<typeof CreateWebhookBody>;

export const WebhookView = z.object({
  id: Id,
  url: z.string(),
  events: z.array(NotificationKind),
  lotId: LotId.nullable(),
  createdAt: IsoTimestamp,
  disabledAt: IsoTimestamp.nullable(),
  consecutiveFailures: z.number().int(),
});
export type WebhookView = z.infer<typeof WebhookView>;

/** Returned once, at creation: the signing secret is never shown again. */
export const CreatedWebhook = WebhookView.extend({ secret: z.string() });
export const WebhookList = z.object({ webhooks: z.array(WebhookView) });
export const WebhookParams = z.object({ id: Id });

export const DeliveryView = z.object({
  id: z.number().int(),
  notificationId: z.number().int(),
  kind: NotificationKind,
  status: z.enum(['pending', 'sent', 'failed', 'no_transport']),
  attempts: z.number().int(),
  lastAttemptAt: IsoTimestamp.nullable(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  sentAt: IsoTimestamp.nullable(),
});
export const DeliveryList = z.object({ deliveries: z.array(DeliveryView) });

/** The JSON body POSTed to a webhook. `id` is stable across retries: receivers dedupe on it. */
export const WebhookPayload = z.object({
  id: z.string(),
  kind: NotificationKind,
  lotId: LotId.nullable(),
  reservationId: Id.nullable(),
  createdAt: IsoTimestamp,
  data: z.record(z.string(), z.unknown()),
});
export type WebhookPayload = z.infer<typeof WebhookPayload>;
