import { Counter, Gauge, Registry } from 'prom-client';
import type { ConnectivityState } from '../../protocol/mqtt.js';

/** Edge sync counters: kept as plain numbers (for tests and the heartbeat) and mirrored to Prometheus. */
export class EdgeSyncMetrics {
  readonly dropped: Record<string, number> = {};
  changesApplied = 0;
  changesSkipped = 0;
  gaps = 0;
  resyncs = 0;
  snapshots = 0;
  eventsAcked = 0;
  eventBatchesPublished = 0;
  versionMismatches = 0;
  commandsExecuted = 0;
  overflowCancelled = 0;

  readonly #dropped: Counter<'reason'>;
  readonly #applied: Counter;
  readonly #resyncs: Counter<'kind'>;
  readonly #batches: Counter;
  readonly #connectivity: Gauge<'state'>;
  readonly #ackedUpTo: Gauge;

  constructor(registry: Registry = new Registry()) {
    const registers = [registry];
    this.#dropped = new Counter({
      name: 'parkedge_edge_sync_dropped_messages_total',
      help: 'MQTT messages dropped by the edge (malformed, oversized, wrong lot, unsupported version)',
      labelNames: ['reason'],
      registers,
    });
    this.#applied = new Counter({
      name: 'parkedge_edge_sync_changes_applied_total',
      help: 'Booking changes applied to the local mirror',
      registers,
    });
    this.#resyncs = new Counter({
      name: 'parkedge_edge_sync_resyncs_total',
      help: 'Resync requests sent (connect, gap, probe) and snapshots applied',
      labelNames: ['kind'],
      registers,
    });
    this.#batches = new Counter({
      name: 'parkedge_edge_sync_event_batches_published_total',
      help: 'Gate event batches published (including republished ones)',
      registers,
    });
    this.#connectivity = new Gauge({
      name: 'parkedge_edge_sync_connectivity',
      help: '1 for the current link state (online, degraded, offline)',
      labelNames: ['state'],
      registers,
    });
    this.#ackedUpTo = new Gauge({
      name: 'parkedge_edge_sync_events_acked_up_to',
      help: 'Highest gate event id acknowledged by the cloud',
      registers,
    });
  }

  drop(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    this.#dropped.inc({ reason });
  }

  applied(applied: number, skipped: number): void {
    this.changesApplied += applied;
    this.changesSkipped += skipped;
    if (applied > 0) this.#applied.inc(applied);
  }

  resync(kind: 'request' | 'snapshot'): void {
    if (kind === 'request') this.resyncs++;
    else this.snapshots++;
    this.#resyncs.inc({ kind });
  }

  batchPublished(): void {
    this.eventBatchesPublished++;
    this.#batches.inc();
  }

  acked(upTo: number): void {
    this.eventsAcked = upTo;
    this.#ackedUpTo.set(upTo);
  }

  connectivity(state: ConnectivityState): void {
    for (const s of ['online', 'degraded', 'offline'] as const)
      this.#connectivity.set({ state: s }, s === state ? 1 : 0);
  }

  get droppedTotal(): number {
    return Object.values(this.dropped).reduce((a, b) => a + b, 0);
  }
}
