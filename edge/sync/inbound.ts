import type { EventEmitter } from 'node:events';
import type { SerialQueue } from '../../protocol/async.js';
import type { Logger } from '../../protocol/logger.js';
import type { MoneyStateBody } from '../../protocol/money-sync.js';
import { mqttDispatcher, type PacketInfo } from '../../protocol/mqtt-dispatch.js';
import type { CommandRunner } from './commands.js';
import type { ConfigFollower } from './config.js';
import type { ConnectivityMonitor } from './connectivity.js';
import type { DropReason, EdgeSyncEvents } from './events.js';
import type { EdgeSyncMetrics } from './metrics.js';
import type { OutboxPublisher } from './outbox.js';
import type { OverflowRequests } from './overflow.js';
import type { ChangeFollower } from './resync.js';

export interface EdgeInboundParts {
  lotId: string;
  log: Logger;
  metrics: EdgeSyncMetrics;
  events: EventEmitter<EdgeSyncEvents>;
  connectivity: ConnectivityMonitor;
  /** Store work, one message at a time in arrival order. */
  queue: SerialQueue;
  changes: ChangeFollower;
  config: ConfigFollower;
  overflow: OverflowRequests;
  commands: CommandRunner;
  outbox: OutboxPublisher;
  /** Applies down/money (the store's money state); absent = ignored. */
  money?: (body: MoneyStateBody) => Promise<void> | void;
}

export type MessageListener = (topic: string, payload: Buffer, packet: PacketInfo) => void;

/**
 * Inbound dispatch of the lot's down/# subscription: only this lot's down topics are accepted; anything
 * live (not retained) proves the cloud is there. Store work is queued in arrival order; overflow answers
 * and commands do not wait behind it.
 */
export function edgeInbound(parts: EdgeInboundParts): MessageListener {
  const { lotId, log, metrics, events, connectivity, queue, changes } = parts;
  const drop = (topic: string, reason: DropReason, text: string): void => {
    metrics.drop(reason);
    log.warn({ topic, reason, detail: text }, 'mqtt message dropped');
    events.emit('dropped', { topic, reason, message: text });
  };
  return mqttDispatcher<'wrong_lot'>({
    accept: (topic) =>
      topic.lotId !== lotId || topic.direction !== 'down'
        ? { reason: 'wrong_lot', detail: `topic for lot ${topic.lotId}` }
        : null,
    accepted: (_topic, retained) => {
      if (!retained) connectivity.cloudHeard();
    },
    undecodable: (topic, _payload, error) => {
      if (error.reason !== 'version_unsupported') return;
      metrics.versionMismatches++;
      log.error({ topic, detail: error.message }, 'protocol major version mismatch: message refused');
      events.emit('version_mismatch', { topic, message: error.message });
    },
    drop,
    handlers: {
      changes: (body) => queue.push(() => changes.applyChanges(body.changes)),
      reply: (body) => {
        switch (body.kind) {
          case 'overflow':
            // Overflow answers must not wait behind a long resync apply.
            return parts.overflow.onReply(body);
          case 'resync':
            return queue.push(() => changes.onResyncReply(body));
          case 'snapshot':
            return queue.push(() => changes.onSnapshotReply(body));
          case 'error':
            return queue.push(async () => {
              log.warn(
                { correlationId: body.correlationId, message: body.message },
                'cloud refused a request',
              );
              changes.refused(body.correlationId);
              parts.overflow.settle(body.correlationId, null);
            });
        }
      },
      config: (body) => queue.push(() => parts.config.onConfig(body)),
      money: (body) => queue.push(async () => parts.money?.(body)),
      command: (body, inbound) => parts.commands.run(body, inbound.sentAt),
      ack: ({ upTo }) =>
        queue.push(async () => {
          await parts.outbox.onAck(upTo);
          metrics.acked(parts.outbox.ackedUpTo);
        }),
    },
  });
}
