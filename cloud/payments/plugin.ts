import { definePlugin } from '../plugin.js';
import { createCaptureRecovery, type CaptureRecovery } from './recovery.js';
import { createRefunds, type Refunds } from './refunds.js';
import { paymentRoutes, webhookRoute } from './routes.js';
import { createWebhookHandler, type WebhookHandler } from './webhooks.js';

declare module 'fastify' {
  interface FastifyInstance {
    paymentWebhooks: WebhookHandler;
    paymentRecovery: CaptureRecovery;
    refunds: Refunds;
  }
}

/** How far back start-up recovery looks for holds that may have been paid while we were down. */
const STARTUP_LOOKBACK_MS = 24 * 60 * 60_000;
/** How far back each sweep looks (holds that ended recently). */
export const SWEEP_LOOKBACK_MS = 2 * 60 * 60_000;

/**
 * Webhooks, refunds and capture recovery, on top of the provider and the reservations: the
 * provider's webhook endpoint (the sandbox also delivers its events in process through the same
 * handler), `GET /v1/payments/:id`, `POST /v1/payments/:id/refunds`, and recovery at start-up
 * (the hold-expiry sweeper runs it again each minute).
 */
export const paymentWebhooksPlugin = definePlugin(
  async (app) => {
    const log = app.log.child({ component: 'payments' });
    const handler = createWebhookHandler({
      db: app.db,
      provider: app.payments,
      purposes: app.paymentPurposes,
      clock: app.clock,
      log,
    });
    const recovery = createCaptureRecovery({ provider: app.payments, purposes: app.paymentPurposes, log });
    recovery.addSource((now, lookback) => app.reservations.unconfirmedReferences(now, lookback));
    const refunds = createRefunds({
      db: app.db,
      clock: app.clock,
      random: app.random,
      log,
      settle: (id) => app.reservations.settlePayment(id),
    });
    app.decorate('paymentWebhooks', handler);
    app.decorate('paymentRecovery', recovery);
    app.decorate('refunds', refunds);
    app.payments.connectWebhooks?.(async (raw, signature) => {
      const r = await handler.handle(raw, signature);
      if (!r.ok) log.error({ reason: r.error.message }, 'in-process webhook refused');
    });
    await app.register(async (scope) => {
      // The signature covers the exact bytes: this scope keeps every body as text.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
      webhookRoute(scope.withTypeProvider(), app.payments.name, handler);
    });
    paymentRoutes(app.withTypeProvider(), refunds);
    app.addHook('onReady', async () => {
      try {
        await recovery.run(app.clock.now(), STARTUP_LOOKBACK_MS);
      } catch (err) {
        log.error({ err }, 'start-up payment recovery failed; the sweeper retries');
      }
    });
  },
  { name: 'payment-webhooks', dependencies: ['core', 'db', 'payments', 'repo-reservations', 'auth'] },
);
