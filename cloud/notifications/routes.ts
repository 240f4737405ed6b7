import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ErrorBody } from '../../protocol/http.js';
import {
  CreatedWebhook,
  CreateWebhookBody,
  DeliveryList,
  type NotificationKind,
  WebhookList,
  WebhookParams,
  WebhookView,
} from '../../protocol/notifications.js';
import { HttpError } from '../errors.js';
import { newId, newSecretToken } from '../ids.js';
import type { AuthUser } from '../plugins/auth.js';
import type { CloudApi } from '../routes/api.js';

/**
 * Webhook subscriptions: operators for their own lots, admins for any lot or all of them. The
 * signing secret is answered once, at creation. Deliveries are the dispatcher's log.
 */

interface WebhookRow {
  id: string;
  owner_id: string;
  lot_id: string | null;
  url: string;
  events: NotificationKind[];
  created_at: Date;
  disabled_at: Date | null;
  consecutive_failures: number;
}

const view = (w: WebhookRow): WebhookView => ({
  id: w.id,
  url: w.url,
  events: w.events,
  lotId: w.lot_id,
  createdAt: w.created_at.toISOString(),
  disabledAt: w.disabled_at?.toISOString() ?? null,
  consecutiveFailures: w.consecutive_failures,
});

const COLS = 'id, owner_id, lot_id, url, events, created_at, disabled_at, consecutive_failures';
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
const notFound = (id: string) =>
  new HttpError({ status: 404, error: 'webhook_not_found', message: `webhook ${id} not found` });

export const webhookRoutes: FastifyPluginAsyncZod = async (app) => {
  /** A webhook the user may see: their own, or any for an admin. */
  async function visible(user: AuthUser, id: string): Promise<WebhookRow> {
    const [w] = await app.db.rows<WebhookRow>(
      `select ${COLS} from webhooks where id = $1 and deleted_at is null and ($2 or owner_id = $3)`,
      [id, user.role === 'admin', user.id],
    );
    if (w === undefined) throw notFound(id);
    return w;
  }
  createRoute(app);
  app.get(
    '/v1/webhooks',
    {
      config: { access: ['operator', 'admin'] },
      schema: { tags: ['webhooks'], summary: 'Your webhooks', response: { 200: WebhookList, ...errors } },
    },
    async (req) => {
      const rows = await app.db.rows<WebhookRow>(
        `select ${COLS} from webhooks where deleted_at is null and ($1 or owner_id = $2) order by created_at, id`,
        [req.user.role === 'admin', req.user.id],
      );
      return { webhooks: rows.map(view) };
    },
  );
  app.delete(
    '/v1/webhooks/:id',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['webhooks'],
        summary: 'Delete a webhook (nothing more is sent to it); answers the deleted webhook',
        params: WebhookParams,
        response: { 200: WebhookView, ...errors },
      },
    },
    async (req) => {
      const w = await visible(req.user, req.params.id);
      await app.db.rows(`update webhooks set deleted_at = $2 where id = $1`, [
        w.id,
        new Date(app.clock.now()).toISOString(),
      ]);
      return view(w);
    },
  );
  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['webhooks'],
        summary: "A webhook's delivery log, newest first",
        params: WebhookParams,
        response: { 200: DeliveryList, ...errors },
      },
    },
    async (req) => {
      const w = await visible(req.user, req.params.id);
      const rows = await app.db.rows<DeliveryRow>(DELIVERIES_SQL, [w.id]);
      return { deliveries: rows.map(deliveryView) };
    },
  );
};

function createRoute(app: CloudApi): void {
  app.post(
    '/v1/webhooks',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['webhooks'],
        summary: 'Subscribe a URL to notifications (operators: one of your lots)',
        body: CreateWebhookBody,
        response: { 201: CreatedWebhook, ...errors },
      },
    },
    async (req, reply) => {
      const { url, events, lotId } = req.body;
      if (lotId === undefined && req.user.role !== 'admin') {
        throw new HttpError({
          status: 400,
          error: 'lot_required',
          message: 'an operator subscribes for one of their lots',
          field: 'body.lotId',
        });
      }
      if (lotId !== undefined) {
        const exists = (await app.db.rows('select 1 from lots where id = $1', [lotId])).length > 0;
        if (!exists || !(await app.canActOnLot(req.user, lotId)))
          throw new HttpError({ status: 404, error: 'lot_not_found', message: `lot ${lotId} not found` });
      }
      const secret = `whsec_${newSecretToken(app.random)}`;
      const [row] = await app.db.rows<WebhookRow>(
        `insert into webhooks (id, owner_id, lot_id, url, events, secret, created_at)
         values ($1, $2, $3, $4, $5, $6, $7) returning ${COLS}`,
        [
          newId(app.random),
          req.user.id,
          lotId ?? null,
          url,
          [...new Set(events)],
          secret,
          new Date(app.clock.now()).toISOString(),
        ],
      );
      return reply.code(201).send({ ...view(row!), secret });
    },
  );
}

interface DeliveryRow {
  id: number;
  notification_id: number;
  kind: NotificationKind;
  status: 'pending' | 'sent' | 'failed' | 'no_transport';
  attempts: number;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  sent_at: Date | null;
}

const DELIVERIES_SQL = `select d.id, d.notification_id, n.kind, d.status, d.attempts, d.last_attempt_at,
         d.last_status_code, d.last_error, d.sent_at
    from notification_deliveries d join notifications n on n.id = d.notification_id
   where d.webhook_id = $1 order by d.id desc limit 200`;

const deliveryView = (d: DeliveryRow) => ({
  id: d.id,
  notificationId: d.notification_id,
  kind: d.kind,
  status: d.status,
  attempts: d.attempts,
  lastAttemptAt: d.last_attempt_at?.toISOString() ?? null,
  lastStatusCode: d.last_status_code,
  lastError: d.last_error,
  sentAt: d.sent_at?.toISOString() ?? null,
});
