import { createHash } from 'node:crypto';
import QRCode from 'qrcode';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { NotificationKind } from '../../protocol/notifications.js';
import { type Database, inTransaction, type Queryable } from '../db/database.js';
import type { PaymentProvider } from '../payments/provider.js';
import { insertNotification, scanExpiringHolds, scanPresence } from './outbox.js';
import { type MailContext, renderMail } from './templates.js';
import { type Mailer, postWebhook, type WebhookOutcome } from './transports.js';

/**
 * The dispatcher: one tick scans for time-driven notifications (holds expiring, lots offline),
 * fans new notifications out to their deliveries and claims the due ones — under a session
 * advisory lock, so one instance does this at a time — then sends the claimed deliveries outside
 * any transaction. A claim pushes the delivery's next attempt a lease ahead first, so a crash
 * between claim and send only delays it; the dedup key (Message-ID, Parkedge-Delivery) makes a
 * resend after a crash between send and record recognisable. Failures back off exponentially.
 */

export interface NotificationsConfig {
  /** Run the dispatcher on this instance. */
  dispatch: boolean;
  everyMs: number;
  /** null: record every email delivery as 'no_transport'. */
  smtpUrl: string | null;
  mailFrom: string;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long a claimed delivery is reserved for its sender. */
  leaseMs: number;
  webhookTimeoutMs: number;
  /** Failed webhook attempts in a row before the webhook is disabled. */
  webhookDisableAfter: number;
  offlineAlertMs: number;
  holdWarningMs: number;
}

export const defaultNotificationsConfig: NotificationsConfig = {
  dispatch: true,
  everyMs: 5_000,
  smtpUrl: null,
  mailFrom: 'parkedge <no-reply@parkedge.local>',
  maxAttempts: 8,
  backoffBaseMs: 30_000,
  backoffMaxMs: 6 * 3_600_000,
  leaseMs: 120_000,
  webhookTimeoutMs: 10_000,
  webhookDisableAfter: 20,
  offlineAlertMs: 3 * 60_000,
  holdWarningMs: 5 * 60_000,
};

export interface DispatcherDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  config: NotificationsConfig;
  publicUrl: string;
  payments: PaymentProvider;
  mailer: Mailer | null;
  /** The signed link to a payment's receipt (cloud/receipts/links.ts); absent = mails carry none. */
  receiptUrl?: (paymentId: string) => string;
  onFailed?: (channel: 'email' | 'webhook') => void;
  onDepth?: (depth: number) => void;
}

export interface TickResult {
  sent: number;
  failed: number;
}

interface Claimed {
  id: number;
  notification_id: number;
  target: string;
  channel: 'email' | 'webhook';
  webhook_id: string | null;
  attempts: number;
  kind: NotificationKind;
  lot_id: string | null;
  reservation_id: string | null;
  payload: Record<string, unknown>;
  created_at: Date;
}

const BATCH = 50;

const REPLY_KINDS = `'booking_confirmed','hold_expiring','booking_cancelled','no_show','overstay_charged','debt_opened'`;
const OPERATOR_KINDS = `'lot_offline','lot_online','device_alarm','debt_opened'`;

/** New notifications to deliveries ($1 now, $2 status for email: pending or no_transport). */
const EXPAND_SQL = `with n as (select id, kind, lot_id, reservation_id, payload from notifications
                     where expanded_at is null order by id limit 200 for update skip locked),
  e as (select n.id, u.email from n join reservations r on r.id = n.reservation_id join users u on u.id = r.user_id
         where n.kind in (${REPLY_KINDS})
        union
        select n.id, u.email from n join lot_staff s on s.lot_id = n.lot_id
          join users u on u.id = s.user_id and u.role = 'operator'
         where n.kind in (${OPERATOR_KINDS})
        union
        select n.id, n.payload->>'ownerEmail' from n where n.kind = 'webhook_disabled' and n.payload ? 'ownerEmail'),
  ie as (insert into notification_deliveries (notification_id, target, channel, status, next_attempt_at)
         select id, 'email:' || lower(email), 'email', $2, $1::timestamptz from e on conflict do nothing),
  iw as (insert into notification_deliveries (notification_id, target, channel, webhook_id, status, next_attempt_at)
         select n.id, 'webhook:' || w.id, 'webhook', w.id, 'pending', $1::timestamptz
           from n join webhooks w on w.disabled_at is null and w.deleted_at is null and n.kind = any (w.events)
                 and (w.lot_id is null or w.lot_id = n.lot_id)
          where n.kind <> 'webhook_disabled'
         on conflict do nothing)
  update notifications set expanded_at = $1::timestamptz where id in (select id from n)`;

/** Due deliveries, each pushed a lease ahead ($1 now, $2 batch, $3 lease ms). */
const CLAIM_SQL = `with due as (select id from notification_deliveries
                     where status = 'pending' and next_attempt_at <= $1::timestamptz
                     order by next_attempt_at, id limit $2 for update skip locked),
  c as (update notification_deliveries d
           set attempts = d.attempts + 1, last_attempt_at = $1::timestamptz,
               next_attempt_at = $1::timestamptz + make_interval(secs => $3::double precision / 1000)
          from due where d.id = due.id
        returning d.id, d.notification_id, d.target, d.channel, d.webhook_id, d.attempts)
  select c.*, n.kind, n.lot_id, n.reservation_id, n.payload, n.created_at
    from c join notifications n on n.id = c.notification_id order by c.id`;

export function backoffMs(config: NotificationsConfig, attempts: number): number {
  return Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
}

export class Dispatcher {
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;

  constructor(private readonly deps: DispatcherDeps) {
    this.#log = deps.logger.child({ component: 'notifications' });
  }

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.runOnce()
        .catch((err: unknown) => this.#log.error({ err }, 'notification tick failed'))
        .finally(() => {
          this.#running = null;
        });
    }, this.deps.config.everyMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
    this.deps.mailer?.close();
  }

  /** One tick; null when another instance holds the lock. */
  async runOnce(): Promise<TickResult | null> {
    const { db, clock, config } = this.deps;
    const now = clock.now();
    const lockKey = 'parkedge.notifications:';
    const claimed = await db.session(async (client) => {
      const got = await client.query<{ ok: boolean }>(
        `select pg_try_advisory_lock(hashtext($1 || current_schema())) as ok`,
        [lockKey],
      );
      if (!got.rows[0]?.ok) return null;
      try {
        await inTransaction(client, (q) => scanExpiringHolds(q, now, config.holdWarningMs));
        await inTransaction(client, (q) => scanPresence(q, now, config.offlineAlertMs, this.#log));
        const emailStatus = this.deps.mailer === null ? 'no_transport' : 'pending';
        await client.query(EXPAND_SQL, [new Date(now).toISOString(), emailStatus]);
        const r = await client.query<Claimed>(CLAIM_SQL, [
          new Date(now).toISOString(),
          BATCH,
          config.leaseMs,
        ]);
        const depth = await client.query<{ n: number }>(
          `select count(*)::int as n from notification_deliveries where status = 'pending'`,
        );
        this.deps.onDepth?.(depth.rows[0]?.n ?? 0);
        return r.rows;
      } finally {
        await client.query(`select pg_advisory_unlock(hashtext($1 || current_schema()))`, [lockKey]);
      }
    });
    if (claimed === null) return null;
    const result: TickResult = { sent: 0, failed: 0 };
    for (const d of claimed) {
      const outcome = await this.#deliver(d).catch(
        (e: unknown): WebhookOutcome => ({ ok: false, status: null, error: String(e) }),
      );
      await this.#record(d, outcome);
      if (outcome.ok) result.sent++;
      else result.failed++;
    }
    return result;
  }

  /** Run ticks until nothing is due now (tests and the demo). */
  async drain(maxTicks = 20): Promise<TickResult> {
    const total: TickResult = { sent: 0, failed: 0 };
    for (let i = 0; i < maxTicks; i++) {
      const r = await this.runOnce();
      if (r === null) continue;
      total.sent += r.sent;
      total.failed += r.failed;
      if (r.sent + r.failed === 0) break;
    }
    return total;
  }

  async #deliver(d: Claimed): Promise<WebhookOutcome> {
    if (d.channel === 'email') {
      const mailer = this.deps.mailer;
      if (mailer === null) return { ok: false, status: null, error: 'no transport' };
      const mail = await this.#composeMail(d);
      await mailer.send(mail);
      return { ok: true, status: 250 };
    }
    return this.#postWebhook(d);
  }

  async #postWebhook(d: Claimed): Promise<WebhookOutcome> {
    const [hook] = await this.deps.db.rows<{ url: string; secret: string; active: boolean }>(
      `select url, secret, disabled_at is null and deleted_at is null as active from webhooks where id = $1`,
      [d.webhook_id],
    );
    if (hook === undefined || !hook.active) return { ok: false, status: null, error: 'webhook disabled' };
    const body = JSON.stringify({
      id: `n${d.notification_id}`,
      kind: d.kind,
      lotId: d.lot_id,
      reservationId: d.reservation_id,
      createdAt: d.created_at.toISOString(),
      data: await this.#webhookData(d),
    });
    return postWebhook({
      url: hook.url,
      body,
      secret: hook.secret,
      deliveryId: `d${d.id}`,
      nowMs: this.deps.clock.now(),
      timeoutMs: this.deps.config.webhookTimeoutMs,
    });
  }

  async #webhookData(d: Claimed): Promise<Record<string, unknown>> {
    if (d.reservation_id === null) return d.payload;
    const [r] = await this.deps.db.rows<Record<string, unknown>>(
      `select status, plate, spot_label as "spotLabel", start_at as "startAt", end_at as "endAt",
              price_amount as "priceAmount", currency, refund_amount as "refundAmount",
              overstay_amount as "overstayAmount"
         from reservations where id = $1`,
      [d.reservation_id],
    );
    return { ...d.payload, reservation: r ?? null };
  }

  async #composeMail(d: Claimed) {
    const ctx = await this.#mailContext(d);
    const images: { cid: string; filename: string; content: Buffer; contentType: string }[] = [];
    if (d.kind === 'booking_confirmed' && ctx.credential) {
      const cid = `qr-${d.reservation_id}@parkedge`;
      images.push({
        cid,
        filename: 'parkedge-qr.png',
        content: await QRCode.toBuffer(ctx.credential, { errorCorrectionLevel: 'M', margin: 2, width: 240 }),
        contentType: 'image/png',
      });
      ctx.mail.qrCid = cid;
    }
    const rendered = renderMail(ctx.mail);
    const hash = createHash('sha256').update(d.target).digest('hex').slice(0, 16);
    return {
      to: d.target.slice('email:'.length),
      ...rendered,
      messageId: `<n${d.notification_id}.${hash}@parkedge>`,
      inlineImages: images,
    };
  }

  async #mailContext(d: Claimed): Promise<{ mail: MailContext; credential: string | null }> {
    const { db, publicUrl, payments } = this.deps;
    const [lot] = d.lot_id
      ? await db.rows<{ name: string }>(`select name from lots where id = $1`, [d.lot_id])
      : [];
    const mail: MailContext = {
      kind: d.kind,
      lotName: lot?.name ?? null,
      lotId: d.lot_id,
      reservation: null,
      payload: d.payload,
      links: {},
    };
    let credential: string | null = null;
    if (d.reservation_id !== null) {
      const [r] = await db.rows<ReservationFactsRow>(FACTS_SQL, [d.reservation_id]);
      if (r !== undefined) {
        credential = r.credential;
        mail.reservation = {
          id: r.id,
          plate: r.plate,
          spotLabel: r.spot_label,
          startAt: r.start_at.toISOString(),
          endAt: r.end_at.toISOString(),
          price: { amount: r.price_amount, currency: r.currency },
          refund: r.refund_amount,
          overstay: r.overstay_amount,
        };
        mail.links.booking = `${publicUrl}/v1/reservations/${encodeURIComponent(r.id)}`;
        mail.links.receipt = await this.#receiptLink(d.kind, r.id);
        if (d.kind === 'hold_expiring') {
          const checkout = await payments.createCheckout({
            reference: r.id,
            amount: { amount: r.price_amount, currency: r.currency },
            description: `Parking at ${lot?.name ?? r.lot_id}, spot ${r.spot_label}`,
          });
          mail.links.pay = checkout.paymentUrl;
        }
      }
    }
    return { mail, credential };
  }

  /** The receipt of what the mail is about: the booking's capture, or its overstay charge. */
  async #receiptLink(kind: string, reservationId: string): Promise<string | undefined> {
    const paid = kind === 'booking_confirmed' ? 'capture' : kind === 'overstay_charged' ? 'overstay' : null;
    if (paid === null || this.deps.receiptUrl === undefined) return undefined;
    const [r] = await this.deps.db.rows<{ payment_id: string }>(
      `select r.payment_id from receipts r join payments p on p.id = r.payment_id
        where p.reservation_id = $1 and p.kind = $2`,
      [reservationId, paid],
    );
    return r === undefined ? undefined : this.deps.receiptUrl(r.payment_id);
  }

  async #record(d: Claimed, outcome: WebhookOutcome): Promise<void> {
    const { db, clock, config } = this.deps;
    const now = clock.now();
    const at = new Date(now).toISOString();
    await db.tx(async (q) => {
      if (outcome.ok) {
        await q.query(
          `update notification_deliveries set status = 'sent', sent_at = $2, last_status_code = $3, last_error = null
            where id = $1`,
          [d.id, at, outcome.status],
        );
        if (d.webhook_id !== null)
          await q.query(`update webhooks set consecutive_failures = 0 where id = $1`, [d.webhook_id]);
        return;
      }
      const noTransport = outcome.error === 'no transport';
      const final = noTransport || d.attempts >= config.maxAttempts || outcome.error === 'webhook disabled';
      await q.query(
        `update notification_deliveries
            set status = $2, next_attempt_at = $3, last_status_code = $4, last_error = $5 where id = $1`,
        [
          d.id,
          noTransport ? 'no_transport' : final ? 'failed' : 'pending',
          new Date(now + backoffMs(config, d.attempts)).toISOString(),
          outcome.status,
          outcome.error.slice(0, 500),
        ],
      );
      if (!noTransport) this.deps.onFailed?.(d.channel);
      if (d.webhook_id !== null && outcome.error !== 'webhook disabled')
        await this.#webhookFailed(q, d.webhook_id, outcome.error, at);
    });
    if (!outcome.ok)
      this.#log.warn(
        { deliveryId: d.id, target: d.target, attempts: d.attempts, err: outcome.error },
        'delivery failed',
      );
  }

  /** Count a webhook failure; at the limit disable it, fail its queue and tell its owner. */
  async #webhookFailed(q: Queryable, webhookId: string, error: string, at: string): Promise<void> {
    const r = await q.query<{ url: string; lot_id: string | null; email: string }>(
      `update webhooks w set consecutive_failures = consecutive_failures + 1,
              disabled_at = case when consecutive_failures + 1 >= $2 then $3::timestamptz end
         from users u
        where w.id = $1 and u.id = w.owner_id and w.disabled_at is null
          and w.consecutive_failures + 1 >= $2
       returning w.url, w.lot_id, u.email`,
      [webhookId, this.deps.config.webhookDisableAfter, at],
    );
    if (r.rows.length === 0) {
      await q.query(
        `update webhooks set consecutive_failures = consecutive_failures + 1 where id = $1 and disabled_at is null`,
        [webhookId],
      );
      return;
    }
    const hook = r.rows[0]!;
    await q.query(
      `update notification_deliveries set status = 'failed', last_error = 'webhook disabled'
        where webhook_id = $1 and status = 'pending'`,
      [webhookId],
    );
    await insertNotification(q, {
      dedupKey: `webhook_disabled:${webhookId}`,
      kind: 'webhook_disabled',
      lotId: hook.lot_id,
      reservationId: null,
      payload: { webhookId, url: hook.url, lastError: error, ownerEmail: hook.email },
      at,
    });
    this.#log.warn({ webhookId, url: hook.url }, 'webhook disabled after repeated failures');
  }
}

interface ReservationFactsRow {
  id: string;
  lot_id: string;
  plate: string;
  spot_label: string;
  start_at: Date;
  end_at: Date;
  price_amount: number;
  currency: string;
  refund_amount: number | null;
  overstay_amount: number | null;
  credential: string | null;
}

const FACTS_SQL = `select id, lot_id, plate, spot_label, start_at, end_at, price_amount, currency, refund_amount,
                          overstay_amount, credential from reservations where id = $1`;
