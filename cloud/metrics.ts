import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

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
  /**
   * Money that moved, minor units, by payment kind (capture, overstay, refund) and currency; counted
   * when the payment succeeds. Net revenue = capture + overstay − refund (cash is in the reports).
   */
  readonly revenue: Counter<'kind' | 'currency'>;
  /**
   * The notifications outbox (filled by the notifications component, which sets these): messages
   * waiting, age of the oldest waiting, sends and failures by channel.
   */
  readonly notifications: {
    readonly outboxDepth: Gauge;
    readonly oldestAgeSeconds: Gauge;
    readonly sent: Counter<'channel'>;
    readonly failures: Counter<'channel'>;
  };
}

/** Count a succeeded payment in the revenue counter. */
export function countRevenue(
  metrics: Pick<CloudMetrics, 'revenue'>,
  kind: 'capture' | 'overstay' | 'refund',
  money: { amount: number; currency: string },
): void {
  if (money.amount > 0) metrics.revenue.inc({ kind, currency: money.currency }, Number(money.amount));
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
    revenue: new Counter({
      name: 'parkedge_cloud_revenue_minor_total',
      help: 'Succeeded payments in minor units by kind (capture, overstay, refund) and currency',
      labelNames: ['kind', 'currency'],
      registers,
    }),
    notifications: {
      outboxDepth: new Gauge({
        name: 'parkedge_cloud_notifications_outbox_depth',
        help: 'Notifications waiting to be sent',
        registers,
      }),
      oldestAgeSeconds: new Gauge({
        name: 'parkedge_cloud_notifications_outbox_oldest_seconds',
        help: 'Age of the oldest notification waiting to be sent',
        registers,
      }),
      sent: new Counter({
        name: 'parkedge_cloud_notifications_sent_total',
        help: 'Notifications sent, by channel',
        labelNames: ['channel'],
        registers,
      }),
      failures: new Counter({
        name: 'parkedge_cloud_notification_failures_total',
        help: 'Notification send attempts that failed, by channel',
        labelNames: ['channel'],
        registers,
      }),
    },
  };
}
