import { Counter, Gauge, Registry } from 'prom-client';

/** Cloud sync counters: plain numbers for tests and the fleet API, mirrored to Prometheus. */
export class CloudSyncMetrics {
  readonly dropped: Record<string, number> = {};
  eventsStored = 0;
  eventsDuplicate = 0;
  effectErrors = 0;
  changesPublished = 0;
  resyncs = 0;
  snapshots = 0;
  overflowGranted = 0;
  overflowRefused = 0;
  overflowCancelled = 0;
  versionMismatches = 0;
  skewAlarms = 0;

  readonly #dropped: Counter<'reason'>;
  readonly #events: Counter<'outcome'>;
  readonly #changes: Counter;
  readonly #requests: Counter<'kind'>;
  readonly #skew: Gauge<'lot'>;

  constructor(registry: Registry = new Registry()) {
    const registers = [registry];
    this.#dropped = new Counter({
      name: 'parkedge_cloud_sync_dropped_messages_total',
      help: 'MQTT messages dropped by the cloud (malformed, oversized, wrong lot, unsupported version)',
      labelNames: ['reason'],
      registers,
    });
    this.#events = new Counter({
      name: 'parkedge_cloud_sync_gate_events_total',
      help: 'Gate events received, by outcome (stored, duplicate, effect_error)',
      labelNames: ['outcome'],
      registers,
    });
    this.#changes = new Counter({
      name: 'parkedge_cloud_sync_changes_published_total',
      help: 'Booking changes published by the relay',
      registers,
    });
    this.#requests = new Counter({
      name: 'parkedge_cloud_sync_requests_total',
      help: 'Edge requests handled, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.#skew = new Gauge({
      name: 'parkedge_cloud_lot_clock_skew_ms',
      help: 'Edge clock minus cloud clock at the last heartbeat',
      labelNames: ['lot'],
      registers,
    });
  }

  drop(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    this.#dropped.inc({ reason });
  }

  events(stored: number, duplicate: number, effectErrors: number): void {
    this.eventsStored += stored;
    this.eventsDuplicate += duplicate;
    this.effectErrors += effectErrors;
    if (stored) this.#events.inc({ outcome: 'stored' }, stored);
    if (duplicate) this.#events.inc({ outcome: 'duplicate' }, duplicate);
    if (effectErrors) this.#events.inc({ outcome: 'effect_error' }, effectErrors);
  }

  changes(n: number): void {
    this.changesPublished += n;
    this.#changes.inc(n);
  }

  request(kind: string): void {
    this.#requests.inc({ kind });
  }

  skew(lotId: string, ms: number): void {
    this.#skew.set({ lot: lotId }, ms);
  }

  get droppedTotal(): number {
    return Object.values(this.dropped).reduce((a, b) => a + b, 0);
  }
}
