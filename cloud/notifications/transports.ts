import { createHmac } from 'node:crypto';
import nodemailer from 'nodemailer';

/**
 * The two ways a notification leaves the cloud: SMTP (nodemailer) and signed webhook POSTs
 * (fetch, redirects never followed). Both only send; retries and the log are the dispatcher's.
 */

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Stable across retries, so a receiver that got it twice can tell. */
  messageId: string;
  inlineImages?: { cid: string; filename: string; content: Buffer; contentType: string }[];
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/** A nodemailer SMTP transport for `SMTP_URL` (smtp:// or smtps://), sending from `from`. */
export function smtpMailer(smtpUrl: string, from: string): Mailer {
  const transport = nodemailer.createTransport(smtpUrl);
  return {
    async send(mail) {
      await transport.sendMail({
        from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: mail.messageId,
        // Values never become headers of their own: nodemailer encodes these fields.
        disableFileAccess: true,
        disableUrlAccess: true,
        attachments: (mail.inlineImages ?? []).map((i) => ({
          filename: i.filename,
          content: i.content,
          contentType: i.contentType,
          cid: i.cid,
        })),
      });
    },
    close: () => transport.close(),
  };
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export function signatureHeader(secret: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

export type WebhookOutcome =
  | { ok: true; status: number }
  | { ok: false; status: number | null; error: string };

/** POST a signed JSON body; 2xx is success, anything else (a redirect included) a failure. */
export async function postWebhook(req: {
  url: string;
  body: string;
  secret: string;
  deliveryId: string;
  nowMs: number;
  timeoutMs: number;
}): Promise<WebhookOutcome> {
  try {
    const res = await fetch(req.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(req.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'parkedge-webhooks/1',
        'parkedge-delivery': req.deliveryId,
        'parkedge-signature': signatureHeader(req.secret, req.body, req.nowMs),
      },
      body: req.body,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    return { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return { ok: false, status: null, error: cause ?? (e instanceof Error ? e.message : String(e)) };
  }
}
