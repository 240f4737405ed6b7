import {
  type FastifyPluginAsyncZod,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { attendantAuth } from './auth.js';
import type { AttendantContext, RouteDeps } from './context.js';
import { attendantErrorHandler } from './errors.js';
import { alarmRoutes } from './routes/alarms.js';
import { debtRoutes } from './routes/debts.js';
import { eventRoutes } from './routes/events.js';
import { laneRoutes } from './routes/lanes.js';
import { reportRoutes } from './routes/reports.js';
import { loginRoutes, logoutRoutes, meRoutes } from './routes/session.js';
import { probeRoutes, statusRoutes } from './routes/status.js';
import { validationRoutes } from './routes/validations.js';
import { vehicleRoutes } from './routes/vehicles.js';
import { attendantViews } from './views.js';

export type { AttendantContext } from './context.js';

/**
 * The attendant JSON API under /api (plus /health and /metrics). Local accounts, works offline.
 * Every action is audited with who and why, and sent up as a gate event in the same transaction.
 * This plugin only assembles: the routes live in ./routes by concern.
 */
export const attendantPlugin: FastifyPluginAsyncZod<{ edge: AttendantContext }> = async (app, { edge }) => {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(attendantErrorHandler(edge.logger));
  const auth = attendantAuth(edge);
  const deps: RouteDeps = {
    edge,
    views: attendantViews({ exitCharge: edge.exitCharge, logger: edge.logger }),
    who: auth.who,
    lot: () => ({
      lotId: edge.lotId,
      lotName: edge.store.mirror.config().lot.name,
      currency: edge.store.mirror.config().lot.rates.currency,
      simulatedLanes: [...edge.simulatedLanes],
    }),
  };

  probeRoutes(app, deps);
  loginRoutes(app, deps);
  logoutRoutes(app, deps);

  await app.register(async (scope) => {
    const api = scope.withTypeProvider<ZodTypeProvider>();
    api.addHook('onRequest', auth.authenticate);
    for (const routes of [
      meRoutes,
      statusRoutes,
      laneRoutes,
      vehicleRoutes,
      validationRoutes,
      alarmRoutes,
      reportRoutes,
      debtRoutes,
      eventRoutes,
    ])
      routes(api, deps);
  });
};
