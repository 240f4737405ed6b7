import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { SerialQueue } from '../../protocol/async.js';
import type { Reservation } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { BodyOf, ConnectivityState } from '../../protocol/mqtt.js';
import { CommandRunner } from './commands.js';
import { ConfigFollower } from './config.js';
import { ConnectivityMonitor } from './connectivity.js';
import type { EdgeSyncEvents } from './events.js';
import { edgeInbound } from './inbound.js';
import { EdgeLink } from './link.js';
import { EdgeSyncMetrics } from './metrics.js';
import { OutboxPublisher } from './outbox.js';
import { OverflowRequests } from './overflow.js';
import type { EdgeSyncDeps, EdgeSyncTuning, OutboxEvent, OverflowRequest } from './ports.js';
import { ChangeFollower } from './resync.js';
import { onClosed, onConnected, type SessionParts, startTimers, stopSession } from './session.js';
import { StatusReporter } from './status.js';

export type { EdgeSyncEvents } from './events.js';

export const DEFAULT_EDGE_SYNC_TUNING: EdgeSyncTuning = {
  heartbeatMs: 30_000,
  cloudTimeoutMs: 5_000,
  probeIntervalMs: 15_000,
  eventBatchSize: 500,
  maxInFlightBatches: 4,
  retransmitAfterMs: 10_000,
  outboxPollMs: 200,
  maxCommandAgeMs: 120_000,
  lateOverflowMemoryMs: 10 * 60_000,
};

export interface EdgeSyncStats {
  connectivity: ConnectivityState;
  connected: boolean;
  cursor: number;
  highestSeenSeq: number;
  ackedUpTo: number;
  sentUpTo: number;
  inFlightBatches: number;
  resyncInFlight: boolean;
  metrics: EdgeSyncMetrics;
}

export interface EdgeSync {
  readonly events: EventEmitter<EdgeSyncEvents>;
  /**
   * Ask the cloud for a drive-up booking in a bookable spot. Resolves the reservation when granted within
   * the deadline, null otherwise (refused, offline, degraded, timeout). Never rejects.
   */
  requestOverflow(request: OverflowRequest): Promise<Reservation | null>;
  /** Give a granted overflow booking back (e.g. the car backed out). */
  cancelOverflow(reservationId: string): Promise<void>;
  connectivity(): ConnectivityState;
  /** Call after writing gate events to the outbox so they go out without waiting for the poll. */
  notifyEventsWritten(): void;
  /** Publish a heartbeat now (e.g. after a lane state change). */
  publishStatus(): Promise<void>;
  stats(): Promise<EdgeSyncStats>;
  /** Publishes a retained offline status, stops timers, closes the connection. */
  stop(): Promise<void>;
}

interface ClientParts extends SessionParts {
  deps: EdgeSyncDeps;
  metrics: EdgeSyncMetrics;
  config: ConfigFollower;
  commands: CommandRunner;
}

/**
 * The lot's sync client (docs/architecture.md#sync-protocol). One MQTT connection with a persistent session:
 * down/# in (changes, config, replies, commands, acks), up/* out (events, requests, status).
 * This is its composition root; each concern lives in its own file (link, inbound, resync, overflow,
 * commands, config, status, session).
 */
export async function startEdgeSync(deps: EdgeSyncDeps): Promise<EdgeSync> {
  const parts = assemble(deps);
  const { connectivity, metrics, log, link, outbox } = parts;
  const { store } = deps;
  connectivity.on('change', (change) => {
    metrics.connectivity(change.state);
    log.info({ state: change.state, previous: change.previous, reason: change.reason }, 'connectivity');
    Promise.resolve(store.setConnectivity(change.state, change.sinceMs)).catch((error: unknown) =>
      log.error({ err: error }, 'store.setConnectivity failed'),
    );
    parts.events.emit('connectivity', change);
  });
  metrics.connectivity(connectivity.state);
  await store.setConnectivity(connectivity.state, connectivity.sinceMs);

  await outbox.init();
  link.connect(deps.mqtt, await parts.status.offlineMessage(), {
    connect: () => parts.queue.push(() => onConnected(parts)),
    close: () => onClosed(parts),
    error: (error) => log.warn({ err: error }, 'mqtt error'),
    message: edgeInbound({ ...parts, money: async (body) => parts.deps.store.setMoney?.(body) }),
  });
  const timers = startTimers(parts);
  return facade(parts, async () => {
    if (link.stopped) return;
    link.stopped = true;
    await stopSession(parts, timers);
  });
}

/** Builds every part over the deps; nothing is connected yet. */
function assemble(deps: EdgeSyncDeps): ClientParts {
  const { lotId, store, clock } = deps;
  const tuning: EdgeSyncTuning = { ...DEFAULT_EDGE_SYNC_TUNING, ...deps.tuning };
  tuning.eventBatchSize = Math.min(1000, Math.max(1, tuning.eventBatchSize));
  const log: Logger = deps.logger.child({ component: 'edge-sync', lotId });
  const newId = deps.newId ?? randomUUID;
  const metrics = new EdgeSyncMetrics(deps.metricsRegistry);
  const events = new EventEmitter<EdgeSyncEvents>();
  const connectivity = new ConnectivityMonitor(clock, tuning.cloudTimeoutMs);
  const link = new EdgeLink({ lotId, clock, newId });
  const queue = new SerialQueue((error) => log.error({ err: error }, 'sync handler failed'));
  const outbox = eventOutbox({ deps, tuning, log, metrics, link });
  outbox.onWaiting = (waiting) =>
    waiting ? connectivity.expect('outbox') : connectivity.fulfilled('outbox');
  const shared = { clock, log, metrics, events, connectivity, newId, link };
  const config = new ConfigFollower({ lotId, store, log, metrics, events });
  return {
    deps,
    lotId,
    clock,
    log,
    tuning,
    events,
    link,
    queue,
    connectivity,
    metrics,
    outbox,
    config,
    status: new StatusReporter({ link, store, clock, log, edgeVersion: deps.edgeVersion }),
    changes: new ChangeFollower({ ...shared, store, tuning }),
    overflow: new OverflowRequests({
      ...shared,
      lateOverflowMemoryMs: tuning.lateOverflowMemoryMs,
      policy: () => config.last?.lot.policy,
    }),
    commands: new CommandRunner({
      store,
      clock,
      log,
      metrics,
      execute: deps.onCommand,
      maxCommandAgeMs: tuning.maxCommandAgeMs,
      acked: () => outbox.kick(),
    }),
  };
}

/** Up: gate events, published from the store's outbox in acknowledged batches. */
function eventOutbox(o: {
  deps: EdgeSyncDeps;
  tuning: EdgeSyncTuning;
  log: Logger;
  metrics: EdgeSyncMetrics;
  link: EdgeLink;
}): OutboxPublisher {
  const { deps, tuning, metrics, link } = o;
  return new OutboxPublisher(
    deps.store,
    async (events: OutboxEvent[]) => {
      metrics.batchPublished();
      await link.publish('events', link.message('events', { events: events as BodyOf<'events'>['events'] }));
    },
    deps.clock,
    o.log.child({ part: 'outbox' }),
    {
      batchSize: tuning.eventBatchSize,
      maxInFlightBatches: tuning.maxInFlightBatches,
      retransmitAfterMs: tuning.retransmitAfterMs,
    },
  );
}

function facade(parts: ClientParts, stop: () => Promise<void>): EdgeSync {
  const { link, outbox, connectivity, changes, overflow } = parts;
  return {
    events: parts.events,
    requestOverflow: (request) => overflow.request(request),
    cancelOverflow: (reservationId) => overflow.cancel(reservationId),
    connectivity: () => connectivity.state,
    notifyEventsWritten: () => outbox.kick(),
    publishStatus: () => parts.status.publish(),
    stats: async () => ({
      connectivity: connectivity.state,
      connected: link.connected,
      cursor: await parts.deps.store.getCursor(),
      highestSeenSeq: changes.highestSeenSeq,
      ackedUpTo: outbox.ackedUpTo,
      sentUpTo: outbox.sentUpTo,
      inFlightBatches: outbox.inFlightBatches,
      resyncInFlight: changes.resyncInFlight,
      metrics: parts.metrics,
    }),
    stop,
  };
}
