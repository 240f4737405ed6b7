import type { EventEmitter } from 'node:events';
import type { Clock } from '../../protocol/clock.js';
import type { Reservation } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Permit } from '../../protocol/permits.js';
import type { BodyOf, Change } from '../../protocol/mqtt.js';
import type { ConnectivityMonitor } from './connectivity.js';
import type { EdgeSyncEvents } from './events.js';
import type { EdgeLink } from './link.js';
import type { EdgeSyncMetrics } from './metrics.js';
import type { EdgeSyncStore, EdgeSyncTuning } from './ports.js';

type ResyncReply = Extract<BodyOf<'reply'>, { kind: 'resync' }>;
type SnapshotReply = Extract<BodyOf<'reply'>, { kind: 'snapshot' }>;

interface ResyncState {
  correlationId: string;
  startedAt: number;
  cursorAtRequest: number;
  snapshot: {
    asOfSeq: number;
    parts: number;
    received: Map<number, Reservation[]>;
    /** Undefined until a part carries permits (an older cloud sends none). */
    permits?: Permit[];
  } | null;
}

export interface ChangeFollowerOptions {
  link: EdgeLink;
  store: EdgeSyncStore;
  clock: Clock;
  log: Logger;
  metrics: EdgeSyncMetrics;
  events: EventEmitter<EdgeSyncEvents>;
  connectivity: ConnectivityMonitor;
  tuning: Pick<EdgeSyncTuning, 'cloudTimeoutMs' | 'probeIntervalMs'>;
  newId: () => string;
}

/**
 * Down: booking changes (docs/architecture.md#down-booking-changes). Applies live change batches in seq order, and keeps at most one
 * resync request open: on connect, on a gap, as the idle probe, and again when an answer goes missing.
 * A resync is answered by change batches, or by a snapshot in parts when the cloud's log does not reach back.
 */
export class ChangeFollower {
  /** Highest seq the cloud has shown us (a change, or a resync's head). */
  highestSeenSeq = 0;
  #resync: ResyncState | null = null;
  #again = false;
  #lastResyncAt = 0;

  constructor(private readonly options: ChangeFollowerOptions) {}

  get resyncInFlight(): boolean {
    return this.#resync !== null;
  }

  async requestResync(reason: string): Promise<void> {
    const { link, store, clock, metrics, connectivity, log } = this.options;
    if (!link.connected || link.stopped) return;
    if (this.#resync) {
      this.#again = true;
      return;
    }
    const cursor = await store.getCursor();
    const correlationId = this.options.newId();
    this.#resync = { correlationId, startedAt: clock.now(), cursorAtRequest: cursor, snapshot: null };
    this.#lastResyncAt = clock.now();
    this.#again = false;
    metrics.resync('request');
    connectivity.expect('resync');
    log.debug({ reason, fromSeq: cursor, correlationId }, 'resync requested');
    // Not awaited (the PUBACK may only come after a reconnect): an unanswered request is retried by the tick.
    link
      .publish('request', link.message('request', { kind: 'resync', correlationId, fromSeq: cursor }))
      .catch((error: unknown) => {
        log.debug({ err: error }, 'resync request not sent');
        this.refused(correlationId);
      });
  }

  async applyChanges(changes: readonly Change[]): Promise<void> {
    if (changes.length === 0) return;
    const { store, metrics, events, log } = this.options;
    const sorted = [...changes].sort((a, b) => a.seq - b.seq);
    this.highestSeenSeq = Math.max(this.highestSeenSeq, sorted[sorted.length - 1]!.seq);
    const result = await store.applyChanges(sorted);
    metrics.applied(result.applied, result.skipped);
    const cursor = await store.getCursor();
    events.emit('applied', { applied: result.applied, skipped: result.skipped, cursor });
    if (result.gapFrom !== undefined) {
      metrics.gaps++;
      log.info({ gapFrom: result.gapFrom, first: sorted[0]!.seq }, 'gap in the change stream; resyncing');
      await this.requestResync('gap');
    }
  }

  async onResyncReply(body: ResyncReply): Promise<void> {
    this.highestSeenSeq = Math.max(this.highestSeenSeq, body.headSeq);
    await this.applyChanges(body.changes);
    if (this.#resync?.correlationId === body.correlationId) {
      this.#resync.startedAt = this.options.clock.now();
      if (body.done) await this.#finish(false);
    }
  }

  async onSnapshotReply(body: SnapshotReply): Promise<void> {
    const resync = this.#resync;
    if (resync?.correlationId !== body.correlationId) return; // parts of an abandoned request
    const { store, metrics, log, clock } = this.options;
    resync.startedAt = clock.now();
    resync.snapshot ??= { asOfSeq: body.asOfSeq, parts: body.parts, received: new Map() };
    const snap = resync.snapshot;
    if (snap.asOfSeq !== body.asOfSeq || snap.parts !== body.parts) {
      log.warn({ correlationId: body.correlationId }, 'inconsistent snapshot parts; asking again');
      this.refused(body.correlationId);
      await this.requestResync('bad snapshot');
      return;
    }
    snap.received.set(body.part, body.reservations);
    if (body.permits !== undefined) snap.permits = [...(snap.permits ?? []), ...body.permits];
    if (snap.received.size < snap.parts) return;
    const all: Reservation[] = [];
    for (let i = 0; i < snap.parts; i++) all.push(...(snap.received.get(i) ?? []));
    await store.applySnapshot(all, snap.asOfSeq, snap.permits);
    metrics.resync('snapshot');
    this.highestSeenSeq = Math.max(this.highestSeenSeq, snap.asOfSeq);
    log.info({ asOfSeq: snap.asOfSeq, reservations: all.length }, 'snapshot applied');
    await this.#finish(true);
  }

  /** The request under this id failed (not sent, or refused by the cloud): forget it. */
  refused(correlationId: string): void {
    if (this.#resync?.correlationId !== correlationId) return;
    this.#resync = null;
    this.options.connectivity.fulfilled('resync');
  }

  /** The connection closed: an open request died with it. */
  disconnected(): void {
    this.#resync = null;
  }

  /**
   * Periodic: the reason to ask (again) now, or null. A request unanswered for long is forgotten
   * ('retry'); an idle link is probed ('probe').
   */
  due(now: number): 'retry' | 'probe' | null {
    if (!this.options.link.connected) return null;
    const { cloudTimeoutMs, probeIntervalMs } = this.options.tuning;
    if (this.#resync && now - this.#resync.startedAt > Math.max(cloudTimeoutMs, probeIntervalMs)) {
      this.#resync = null;
      return 'retry';
    }
    if (!this.#resync && now - this.#lastResyncAt > probeIntervalMs) return 'probe';
    return null;
  }

  async #finish(snapshot: boolean): Promise<void> {
    const finished = this.#resync;
    this.#resync = null;
    this.options.connectivity.fulfilled('resync');
    const cursor = await this.options.store.getCursor();
    const progressed = finished !== null && cursor > finished.cursorAtRequest;
    if (this.highestSeenSeq > cursor || this.#again) {
      // Something newer was seen (or asked for) while this resync ran. Go again right away if it made
      // progress; otherwise leave it to the probe so a stuck store cannot spin us.
      if (progressed || this.#again) {
        await this.requestResync('behind after resync');
        return;
      }
      // No progress: what we saw was not real (or not there yet); trust the cloud's head and let the
      // probe look again later.
      this.highestSeenSeq = cursor;
    }
    this.options.events.emit('resynced', { cursor, snapshot });
  }
}
