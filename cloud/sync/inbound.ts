import type { KeyedSerialQueue } from '../../protocol/async.js';
import type { Logger } from '../../protocol/logger.js';
import { mqttDispatcher, type PacketInfo } from '../../protocol/mqtt-dispatch.js';
import { type BodyOf, parseTopic } from '../../protocol/mqtt.js';
import type { EffectsApplier } from './effects-applier.js';
import type { CloudLink } from './link.js';
import type { CloudSyncMetrics } from './metrics.js';
import type { SyncStore, WireEvent } from './ports.js';
import type { PresenceTracker } from './presence.js';
import type { RequestHandler } from './requests.js';

export interface CloudInboundParts {
  log: Logger;
  metrics: CloudSyncMetrics;
  store: SyncStore;
  link: CloudLink;
  /** Events and requests of one lot in arrival order; lots in parallel. */
  lanes: KeyedSerialQueue;
  requests: RequestHandler;
  presence: PresenceTracker;
  applier: EffectsApplier;
}

type Drop = (topic: string, reason: string, detail: string) => void;

/**
 * Inbound dispatch of the up/ subscriptions: gate events are stored, acknowledged and handed to the
 * effects applier; requests are answered; statuses feed presence. A status refused for its protocol
 * major still records the lot's version (fleet skew).
 */
export function cloudInbound(
  parts: CloudInboundParts,
): (topic: string, payload: Buffer, packet: PacketInfo) => void {
  const { log, metrics, presence } = parts;
  const drop: Drop = (topic, reason, detail) => {
    metrics.drop(reason);
    log.warn({ topic, reason, detail }, 'mqtt message dropped');
  };
  return mqttDispatcher<'wrong_direction' | 'wrong_lot'>({
    accept: (topic) =>
      topic.direction !== 'up'
        ? { reason: 'wrong_direction', detail: 'down topic on an up subscription' }
        : null,
    undecodable: (topic, payload, error) => {
      if (error.reason !== 'version_unsupported') return;
      const lotId = parseTopic(topic)?.lotId;
      const version = /"v"\s*:\s*"([0-9.]{1,16})"/.exec(payload.subarray(0, 512).toString('utf8'))?.[1];
      if (lotId && version)
        presence
          .onRefusedVersion(lotId, version)
          .catch((err: unknown) => log.error({ err, lotId }, 'refused version not recorded'));
    },
    drop,
    handlers: {
      events: (body, { topic, lotId }) => {
        const events = body.events as WireEvent[];
        // The topic names the lot (the broker ACL binds it to the lot's credentials); an event claiming
        // another lot is refused as a whole batch.
        if (events.some((e) => e.lotId !== undefined && e.lotId !== lotId)) {
          drop(topic, 'wrong_lot', 'event for another lot');
          return;
        }
        parts.lanes.push(lotId, () => storeEvents(parts, lotId, events));
      },
      request: (body, { lotId }) => onRequest(parts, lotId, body),
      status: (body, { lotId, retained }) => {
        presence
          .onStatus(lotId, body, retained)
          .catch((error: unknown) => log.error({ err: error, lotId }, 'presence update failed'));
      },
    },
  });
}

function onRequest(parts: CloudInboundParts, lotId: string, body: BodyOf<'request'>): void {
  // Overflow answers have a deadline: do not queue them behind a long event batch of the same lot.
  if (body.kind === 'overflow' || body.kind === 'overflow_cancel')
    parts.requests
      .handle(lotId, body)
      .catch((error: unknown) => parts.log.error({ err: error, lotId }, 'request failed'));
  else parts.lanes.push(lotId, () => parts.requests.handle(lotId, body));
}

/** Stored once per (lot, eventId), then acknowledged up to the contiguous watermark; effects come after. */
async function storeEvents(parts: CloudInboundParts, lotId: string, events: WireEvent[]): Promise<void> {
  const { store, metrics, link, log, applier } = parts;
  const result = await store.storeEvents(lotId, events);
  metrics.events(result.inserted, events.length - result.inserted, 0);
  await link
    .send(lotId, 'ack', { upTo: result.upTo })
    .catch((error: unknown) => log.debug({ err: error, lotId }, 'ack not sent; the edge will retransmit'));
  if (result.inserted > 0) applier.kick(lotId);
}
