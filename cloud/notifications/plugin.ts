import { Counter, Gauge, type Registry } from 'prom-client';
import { definePlugin } from '../plugin.js';
import { receiptLinks } from '../receipts/links.js';
import { defaultNotificationsConfig, Dispatcher } from './dispatcher.js';
import { webhookRoutes } from './routes.js';
import { type Mailer, smtpMailer } from './transports.js';

/**
 * Notifications in the app: the dispatcher (started on ready when `dispatch` is on) and the
 * webhook routes. Without SMTP_URL email deliveries are recorded as 'no_transport'.
 */

declare module 'fastify' {
  interface FastifyInstance {
    notifications: Dispatcher;
  }
}

/** The metric by this name if another part registered it, else a new one. */
function gauge(registry: Registry, name: string, help: string): Gauge {
  return (
    (registry.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, registers: [registry] })
  );
}
function counter(registry: Registry, name: string, help: string): Counter {
  return (
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, registers: [registry] })
  );
}

export const notificationsPlugin = definePlugin<{ mailer?: Mailer | null }>(
  async (app, opts) => {
    const config = app.config.notifications ?? defaultNotificationsConfig;
    const mailer =
      opts.mailer !== undefined
        ? opts.mailer
        : config.smtpUrl === null
          ? null
          : smtpMailer(config.smtpUrl, config.mailFrom);
    const registry = app.metrics.registry;
    const depth = gauge(
      registry,
      'parkedge_notifications_outbox_depth',
      'Notification deliveries waiting to be sent',
    );
    const failed = counter(
      registry,
      'parkedge_notifications_failed_total',
      'Notification delivery attempts that failed',
    );
    const receipts = receiptLinks(app.config);
    const dispatcher = new Dispatcher({
      db: app.db,
      clock: app.clock,
      logger: app.log,
      config,
      publicUrl: app.config.publicUrl,
      payments: app.payments,
      mailer,
      receiptUrl: (paymentId) => receipts.url(paymentId),
      onFailed: () => failed.inc(),
      onDepth: (n) => depth.set(n),
    });
    app.decorate('notifications', dispatcher);
    if (config.dispatch) app.addHook('onReady', async () => dispatcher.start());
    app.addHook('onClose', async () => dispatcher.stop());
    await app.register(webhookRoutes);
  },
  { name: 'notifications', dependencies: ['core', 'db', 'payments'] },
);
