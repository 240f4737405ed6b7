import type { AttendantApi, RouteDeps } from '../context.js';
import * as S from '../schemas.js';
import { iso } from '../views.js';

/** Open probes for supervisors and scrapers: /health and Prometheus /metrics. */
export function probeRoutes(app: AttendantApi, { edge }: RouteDeps): void {
  app.get('/health', { schema: { response: { 200: S.HealthReply } } }, async () => ({
    status: 'ok' as const,
    lotId: edge.lotId,
    connectivity: edge.connectivity.state,
    outboxDepth: edge.store.ledger.outboxDepth(),
    lanes: edge.lanes().map((l) => ({ id: l.config.id, state: l.state })),
  }));

  app.get('/metrics', async (_request, reply) => {
    const m = edge.metrics;
    m.outboxDepth.set(edge.store.ledger.outboxDepth());
    m.lastEventId.set(edge.store.ledger.lastEventId());
    m.syncCursor.set(edge.store.mirror.getCursor());
    m.openAlarms.set(edge.store.attendants.openAlarmCount());
    reply.header('content-type', m.registry.contentType);
    return m.registry.metrics();
  });
}

/** The lot at a glance: occupancy and the link to the cloud. */
export function statusRoutes(api: AttendantApi, { edge }: RouteDeps): void {
  api.get('/api/occupancy', { schema: { response: { 200: S.OccupancyReply } } }, async () =>
    edge.store.attendants.occupancy(),
  );

  api.get('/api/connectivity', { schema: { response: { 200: S.ConnectivityReply } } }, async () => ({
    state: edge.connectivity.state,
    since: iso(edge.connectivity.sinceMs),
    outboxDepth: edge.store.ledger.outboxDepth(),
    lastEventId: edge.store.ledger.lastEventId(),
    lastAppliedSeq: edge.store.mirror.getCursor(),
    configVersion: edge.store.mirror.config().version,
  }));
}
