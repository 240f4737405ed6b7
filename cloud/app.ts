import fastifyRateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Clock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import type { CloudConfig } from './config.js';
import type { Database } from './db/database.js';
import { consolePlugin } from './console/plugin.js';
import { type CloudMetrics, createMetrics } from './metrics.js';
import { paymentWebhooksPlugin } from './payments/plugin.js';
import type { PaymentProvider } from './payments/provider.js';
import type { PaymentPurposes } from './payments/purposes.js';
import { authPlugin } from './plugins/auth.js';
import { businessMetricsPlugin } from './plugins/business-metrics.js';
import { corePlugin } from './plugins/core.js';
import { dbPlugin } from './plugins/db.js';
import { docsPlugin } from './plugins/docs.js';
import { errorsPlugin, frameworkErrors } from './plugins/errors.js';
import { exitDebtsPlugin } from './exit-payments/plugin.js';
import { idempotencyPlugin } from './plugins/idempotency.js';
import { notificationsPlugin } from './notifications/plugin.js';
import { metricsPlugin } from './plugins/metrics.js';
import { paymentsPlugin } from './plugins/payments.js';
import { sweepersPlugin } from './plugins/sweepers.js';
import { throttlePlugin } from './plugins/throttle.js';
import { changeLogRepository } from './repositories/changes.js';
import { lotsRepository } from './repositories/lots.js';
import { permitsRepository } from './repositories/permits.js';
import { lotLayoutRepository } from './repositories/lot-layout.js';
import { reservationsRepository } from './repositories/reservations.js';
import { signingKeysRepository } from './repositories/signing-keys.js';
import { usersRepository } from './repositories/users.js';
import { authRoutes } from './routes/auth.js';
import { type FleetSync, fleetRoutes } from './routes/fleet.js';
import { gateRoutes } from './routes/gate.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes } from './routes/keys.js';
import { lotRoutes } from './routes/lots.js';
import { receiptNumberingPlugin } from './receipts/numbering.js';
import { receiptRoutes } from './receipts/routes.js';
import { reconciliationRoutes } from './reports/reconciliation-routes.js';
import { permitRoutes } from './routes/permits.js';
import { lotLayoutRoutes } from './routes/lot-layout.js';
import { ratePlanRoutes } from './routes/rate-plans.js';
import { validationRoutes } from './routes/validations.js';
import { reportRoutes } from './routes/reports.js';
import { reservationRoutes } from './routes/reservations.js';

/** Everything the app needs from outside. Nothing is read from module state or the environment. */
export interface AppDeps {
  config: CloudConfig;
  logger: Logger;
  clock: Clock;
  random: Random;
  /** Opened and migrated by the caller, who also closes it. */
  db: Database;
  metrics?: CloudMetrics;
  /** Defaults to the provider the configuration names. */
  payments?: PaymentProvider;
  /** The registry of payment purposes; the composition root builds it, else the payments plugin. */
  purposes?: PaymentPurposes;
  /** The MQTT sync engine, started after the app is ready; fleet routes answer 503 until it is set. */
  fleet?: () => FleetSync | null;
}

export type CloudApp = FastifyInstance;

/** A caller's X-Request-ID when it is a sane token (proxies set one), else a fresh random id. */
export function requestIdFrom(random: Random): (req: { headers: Record<string, unknown> }) => string {
  return (req) => {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(given) ? given : random.id(16);
  };
}

/** The cloud service as a Fastify app, not yet listening. */
export async function buildApp(deps: AppDeps): Promise<CloudApp> {
  const app = Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // Per-request lines (LOG_REQUESTS=true) would dominate the log, so they are off by default;
    // errors are logged by the error handler either way, with the request id.
    logController: new LogController({ disableRequestLogging: deps.config.logRequests !== true }),
    genReqId: requestIdFrom(deps.random),
    bodyLimit: 1024 * 1024,
    // Proxies (and the rate limiter) see the client address from X-Forwarded-For only when told to.
    trustProxy: false,
    routerOptions: { maxParamLength: 2048 },
    // Router refusals (over-long path parameter, bad %-escape) in the one error shape.
    frameworkErrors,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Infrastructure first: later registrations see their decorators and onRoute hooks.
  await app.register(corePlugin, { config: deps.config, clock: deps.clock, random: deps.random });
  await app.register(dbPlugin, { db: deps.db });
  await app.register(metricsPlugin, { metrics: deps.metrics ?? createMetrics() });
  await app.register(businessMetricsPlugin);
  await app.register(errorsPlugin);
  await app.register(docsPlugin);
  await app.register(fastifyRateLimit, { global: false });
  await app.register(throttlePlugin);
  await app.register(usersRepository);
  await app.register(lotsRepository);
  await app.register(changeLogRepository);
  await app.register(receiptNumberingPlugin);
  await app.register(authPlugin);
  await app.register(idempotencyPlugin);
  await app.register(paymentsPlugin, { provider: deps.payments, purposes: deps.purposes });
  await app.register(signingKeysRepository);
  await app.register(reservationsRepository);
  await app.register(paymentWebhooksPlugin);
  await app.register(permitsRepository);
  await app.register(lotLayoutRepository);
  await app.register(sweepersPlugin);
  await app.register(notificationsPlugin);

  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(keyRoutes);
  await app.register(lotRoutes);
  await app.register(ratePlanRoutes);
  await app.register(validationRoutes);
  await app.register(reservationRoutes);
  await app.register(permitRoutes);
  await app.register(lotLayoutRoutes);
  await app.register(gateRoutes);
  await app.register(fleetRoutes, { sync: deps.fleet ?? (() => null) });
  await app.register(reportRoutes);
  await app.register(receiptRoutes);
  await app.register(reconciliationRoutes);
  await app.register(consolePlugin);
  await app.register(exitDebtsPlugin, { purposes: app.paymentPurposes });
  return app;
}
