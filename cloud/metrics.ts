import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** The cloud's Prometheus metrics, one Registry per app instance (no global registry). */
export interface CloudMetrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly reservations: Counter<'outcome'>;
  /** Exclusion-constraint refusals: the bitmap should have prevented every one of them. */
  readonly constraintViolations: Counter<'constraint'>;
  /** A released window whose bits were not all set: bitmap and rows disagreed. */
  readonly bitmapDrift: Counter;
  readonly transitions: Counter<'reason'>;
  readonly sweeps: Counter<'sweeper' | 'outcome'>;
  readonly payments: Counter<'kind' | 'outcome'>;
  readonly idempotentReplays: Counter;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): CloudMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'parkedge_cloud_' });
  const registers = [registry];
  return {
    registry,
    httpDuration: new Histogram({
      name: 'parkedge_cloud_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    reservations: new Counter({
      name: 'parkedge_cloud_reservations_total',
      help: 'Reserve attempts by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    constraintViolations: new Counter({
      name: 'parkedge_cloud_constraint_violations_total',
      help: 'Exclusion constraint violations caught (should stay zero: the bitmap decides first)',
      labelNames: ['constraint'],
      registers,
    }),
    bitmapDrift: new Counter({
      name: 'parkedge_cloud_bitmap_drift_total',
      help: 'Released windows whose bits were not all held',
      registers,
    }),
    transitions: new Counter({
      name: 'parkedge_cloud_reservation_changes_total',
      help: 'Reservation changes by reason',
      labelNames: ['reason'],
      registers,
    }),
    sweeps: new Counter({
      name: 'parkedge_cloud_sweeps_total',
      help: 'Sweeper runs by outcome (ran, skipped: another instance holds the lock, failed)',
      labelNames: ['sweeper', 'outcome'],
      registers,
    }),
    payments: new Counter({
      name: 'parkedge_cloud_payments_total',
      help: 'Payment provider calls by kind and outcome',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    idempotentReplays: new Counter({
      name: 'parkedge_cloud_idempotent_replays_total',
      help: 'Responses replayed for a repeated Idempotency-Key',
      registers,
    }),
  };
}
