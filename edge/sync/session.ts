import type { EventEmitter } from 'node:events';
import { type SerialQueue, within } from '../../protocol/async.js';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import { topics } from '../../protocol/mqtt.js';
import type { ConnectivityMonitor } from './connectivity.js';
import type { EdgeSyncEvents } from './events.js';
import type { EdgeLink } from './link.js';
import type { OutboxPublisher } from './outbox.js';
import type { OverflowRequests } from './overflow.js';
import type { EdgeSyncTuning } from './ports.js';
import type { ChangeFollower } from './resync.js';
import type { StatusReporter } from './status.js';

/** The parts one session of the sync client drives: what connect, close, the timers and stop touch. */
export interface SessionParts {
  lotId: string;
  clock: Clock;
  log: Logger;
  tuning: EdgeSyncTuning;
  events: EventEmitter<EdgeSyncEvents>;
  link: EdgeLink;
  queue: SerialQueue;
  connectivity: ConnectivityMonitor;
  status: StatusReporter;
  changes: ChangeFollower;
  overflow: OverflowRequests;
  outbox: OutboxPublisher;
}

/**
 * Broker connected (runs on the inbound queue). Nothing here waits for the broker's acknowledgements:
 * the queue must never stall on a link that dropped again. Packets leave in order on one connection, so
 * the broker has the subscription before it sees the resync request, and the reply cannot be missed.
 */
export async function onConnected(parts: SessionParts): Promise<void> {
  const { link, log } = parts;
  const c = link.client;
  if (!c) return;
  link.connected = true;
  parts.connectivity.brokerConnected();
  c.subscribeAsync(topics.lotDownFilter(parts.lotId), { qos: 1 }).catch((error: unknown) =>
    log.error({ err: error }, 'subscription to down/# refused'),
  );
  await parts.status.refreshWill();
  void parts.status.publish();
  await parts.changes.requestResync('connect');
  await parts.outbox.init();
  parts.outbox.connected();
}

/** Broker connection gone: whatever waited on it is over (requests answer null, the outbox rewinds). */
export function onClosed(parts: SessionParts): void {
  const { link } = parts;
  // On stop() the end is ours: say so quietly; otherwise the operator should hear about it.
  if (link.connected && link.stopped) parts.log.info('broker connection closed');
  else if (link.connected) parts.log.warn('broker connection lost');
  link.connected = false;
  parts.changes.disconnected();
  parts.connectivity.brokerDisconnected();
  parts.outbox.disconnected();
  parts.overflow.settleAll();
}

/**
 * The periodic work: the state tick (connectivity timeouts, outbox retransmit, resync retry and probe),
 * the outbox poll and the heartbeat. Returns the timers for stop().
 */
export function startTimers(parts: SessionParts): NodeJS.Timeout[] {
  const { tuning, log, clock } = parts;
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => void): void => {
    const t = setInterval(() => {
      try {
        fn();
      } catch (error) {
        log.error({ err: error }, 'sync timer failed');
      }
    }, ms);
    t.unref?.();
    timers.push(t);
  };
  const tickMs = Math.max(20, Math.min(250, Math.floor(tuning.cloudTimeoutMs / 4)));
  every(tickMs, () => {
    parts.connectivity.tick();
    parts.outbox.tick();
    const now = clock.now();
    const reason = parts.changes.due(now);
    if (reason) parts.queue.push(() => parts.changes.requestResync(reason));
    parts.overflow.forgetExpired(now);
  });
  every(tuning.outboxPollMs, () => parts.outbox.kick());
  every(tuning.heartbeatMs, () => {
    void parts.status.publish();
    void parts.status.refreshWill();
  });
  return timers;
}

/** Says offline, closes the connection and drains, each step bounded (a dead link must not hold shutdown). */
export async function stopSession(parts: SessionParts, timers: readonly NodeJS.Timeout[]): Promise<void> {
  const { link, log } = parts;
  for (const t of timers) clearInterval(t);
  parts.overflow.settleAll();
  const c = link.client;
  if (c) {
    await parts.status.publishOffline();
    await within(c.endAsync(true), 2000, (error) => log.debug({ err: error }, 'mqtt end failed'));
  }
  await within(parts.queue.idle(), 2000, (error) => log.error({ err: error }, 'inbound queue failed'));
  await within(parts.outbox.idle(), 2000, (error) => log.error({ err: error }, 'outbox drain failed'));
  link.connected = false;
}
