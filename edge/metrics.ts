import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one edge, in a registry of its own (several lots may share a process). */
export interface EdgeMetrics {
  registry: Registry;
  decisionSeconds: Histogram<'lane' | 'outcome'>;
  transitions: Counter<'lane' | 'to'>;
  passages: Counter<'lane' | 'direction'>;
  denied: Counter<'lane' | 'reason'>;
  alarms: Counter<'kind'>;
  outboxDepth: Gauge;
  lastEventId: Gauge;
  syncCursor: Gauge;
  openAlarms: Gauge;
}

export function createEdgeMetrics(
  labels: { lot: string },
  options: { processMetrics?: boolean } = {},
): EdgeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    decisionSeconds: new Histogram({
      name: 'parkedge_gate_decision_seconds',
      help: 'Time from credential read to barrier decision (CPU, local store only)',
      labelNames: ['lane', 'outcome'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05],
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'parkedge_lane_transitions_total',
      help: 'Lane state machine transitions',
      labelNames: ['lane', 'to'],
      registers: [registry],
    }),
    passages: new Counter({
      name: 'parkedge_passages_total',
      help: 'Vehicles recorded passing a barrier',
      labelNames: ['lane', 'direction'],
      registers: [registry],
    }),
    denied: new Counter({
      name: 'parkedge_denied_total',
      help: 'Refused credentials by reason',
      labelNames: ['lane', 'reason'],
      registers: [registry],
    }),
    alarms: new Counter({
      name: 'parkedge_alarms_total',
      help: 'Alarms raised',
      labelNames: ['kind'],
      registers: [registry],
    }),
    outboxDepth: new Gauge({
      name: 'parkedge_outbox_depth',
      help: 'Gate events not yet acknowledged by the cloud',
      registers: [registry],
    }),
    lastEventId: new Gauge({
      name: 'parkedge_outbox_last_event_id',
      help: 'Last gate event id',
      registers: [registry],
    }),
    syncCursor: new Gauge({
      name: 'parkedge_sync_last_seq',
      help: 'Last applied booking change seq',
      registers: [registry],
    }),
    openAlarms: new Gauge({
      name: 'parkedge_open_alarms',
      help: 'Unacknowledged alarms',
      registers: [registry],
    }),
  };
}
