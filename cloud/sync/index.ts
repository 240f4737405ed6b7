import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../../protocol/logger.js';
import {
  type BodyOf,
  type Change,
  type DownChannel,
  decodeMessage,
  encodeMessage,
  parseTopic,
  TOPIC_ROOT,
  topics,
} from '../../protocol/mqtt.js';
import { type CommandInput, CommandPublisher } from './commands.js';
import { ConfigPublisher } from './config-publisher.js';
import { gateEventEffects } from './effects.js';
import { EffectsApplier } from './effects-applier.js';
import { CloudSyncMetrics } from './metrics.js';
import type {
  CloudSyncDeps,
  CloudSyncTuning,
  CommandRecord,
  LotConfigMessage,
  PresenceRecord,
  WireEvent,
} from './ports.js';
import { PresenceTracker } from './presence.js';
import { ChangeRelay } from './relay.js';
import { RequestHandler } from './requests.js';

/** Waits for p, at most ms; never rejects. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

export const DEFAULT_CLOUD_SYNC_TUNING: CloudSyncTuning = {
  relayPollMs: 1000,
  relayBatch: 1000,
  configPollMs: 2000,
  skewAlarmMs: 5000,
  commandRepublishMs: 60_000,
  effectsLeaseMs: 30_000,
  effectsBatch: 500,
  effectsMaxAttempts: 5,
  effectsSweepMs: 2000,
};

export interface CloudSync {
  readonly metrics: CloudSyncMetrics;
  readonly presence: PresenceTracker;
  readonly relay: ChangeRelay;
  readonly effects: EffectsApplier;
  /** Operator command → stored, published on down/command. */
  sendCommand(lotId: string, input: CommandInput): Promise<CommandRecord>;
  commands(lotId: string, limit?: number): Promise<CommandRecord[]>;
  fleet(lotId?: string): Promise<PresenceRecord[]>;
  /** Tell the relay a lot's log grew (when the caller knows before NOTIFY arrives). */
  changesCommitted(lotId: string): void;
  /** Tell the config publisher a lot's configuration changed. */
  configChanged(lotId: string): Promise<void>;
  connected(): boolean;
  /** Resolves when the relay and config publisher are idle and no event batch is being stored (tests). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The cloud side of sync, one per cloud instance: a single MQTT connection (the cloud account) carrying
 * the relay, the event consumer, the request handler, presence, commands and config.
 */
export async function startCloudSync(deps: CloudSyncDeps): Promise<CloudSync> {
  const tuning: CloudSyncTuning = { ...DEFAULT_CLOUD_SYNC_TUNING, ...deps.tuning };
  const log: Logger = deps.logger.child({ component: 'cloud-sync', instance: deps.mqtt.instanceId });
  const newId = deps.newId ?? randomUUID;
  const metrics = new CloudSyncMetrics(deps.metricsRegistry);
  const { clock, store } = deps;
  let client: MqttClient | null = null;
  let connected = false;
  let stopped = false;

  const send = async <C extends DownChannel>(
    lotId: string,
    channel: C,
    body: BodyOf<C>,
    opts: { retain?: boolean; sentAt?: string } = {},
  ): Promise<void> => {
    const c = client;
    if (!c || !connected) throw new Error('broker not connected');
    const payload = encodeMessage(channel, body, {
      id: newId(),
      sentAt: opts.sentAt ?? new Date(clock.now()).toISOString(),
    });
    await c.publishAsync(topics.down(lotId, channel), payload, { qos: 1, retain: opts.retain ?? false });
  };

  const relay = new ChangeRelay(
    deps.changeLog,
    store,
    async (lotId: string, changes: Change[]) => {
      await send(lotId, 'changes', { changes });
      metrics.changes(changes.length);
    },
    log.child({ part: 'relay' }),
    { pollMs: tuning.relayPollMs, batch: Math.min(2000, tuning.relayBatch) },
    deps.notifications,
  );
  const requests = new RequestHandler(
    deps.changeLog,
    deps.overflow,
    store,
    (lotId, reply) => send(lotId, 'reply', reply),
    clock,
    log.child({ part: 'requests' }),
    metrics,
    Math.min(2000, tuning.relayBatch),
  );
  const presence = new PresenceTracker(
    store,
    clock,
    log.child({ part: 'presence' }),
    metrics,
    tuning.skewAlarmMs,
  );
  const commands = new CommandPublisher(
    store,
    (lotId, command, sentAt) => send(lotId, 'command', command, { sentAt }),
    clock,
    log.child({ part: 'commands' }),
    newId,
    tuning.commandRepublishMs,
  );
  const configs = new ConfigPublisher(
    deps.config,
    (lotId: string, config: LotConfigMessage) => send(lotId, 'config', config, { retain: true }),
    log.child({ part: 'config' }),
    tuning.configPollMs,
  );
  const effects =
    deps.effects ??
    (deps.sql
      ? gateEventEffects(deps.reservations, deps.sql, log.child({ part: 'effects' }))
      : (() => {
          throw new Error('startCloudSync needs `sql` (or `effects`)');
        })());
  const applier = new EffectsApplier(store, effects, log.child({ part: 'effects' }), deps.mqtt.instanceId, {
    leaseMs: tuning.effectsLeaseMs,
    batch: tuning.effectsBatch,
    maxAttempts: tuning.effectsMaxAttempts,
    sweepMs: tuning.effectsSweepMs,
  });

  presence.on('presence', ({ lotId, state }) => {
    if (state === 'online') void commands.republishPending(lotId).catch(() => {});
  });

  // Per-lot serial work (events and requests of one lot in arrival order; lots in parallel).
  const lanes = new Map<string, Promise<void>>();
  const serial = (lotId: string, fn: () => Promise<void>): void => {
    const prev = lanes.get(lotId) ?? Promise.resolve();
    const next = prev
      .then(fn)
      .catch((error: unknown) => log.error({ err: error, lotId }, 'sync handler failed'))
      .finally(() => {
        if (lanes.get(lotId) === next) lanes.delete(lotId);
      });
    lanes.set(lotId, next);
  };

  const drop = (topic: string, reason: string, detail: string): void => {
    metrics.drop(reason);
    log.warn({ topic, reason, detail }, 'mqtt message dropped');
  };

  const onEvents = async (lotId: string, events: WireEvent[]): Promise<void> => {
    const result = await store.storeEvents(lotId, events);
    metrics.events(result.inserted, events.length - result.inserted, 0);
    await send(lotId, 'ack', { upTo: result.upTo }).catch((error: unknown) =>
      log.debug({ err: error, lotId }, 'ack not sent; the edge will retransmit'),
    );
    if (result.inserted > 0) applier.kick(lotId);
  };

  const onMessage = (topic: string, payload: Buffer, retained: boolean): void => {
    const decoded = decodeMessage(topic, payload);
    if (!decoded.ok) {
      drop(topic, decoded.error.reason, decoded.error.message);
      if (decoded.error.reason === 'version_unsupported') {
        const lotId = parseTopic(topic)?.lotId;
        const version = /"v"\s*:\s*"([0-9.]{1,16})"/.exec(payload.subarray(0, 512).toString('utf8'))?.[1];
        if (lotId && version) void presence.onRefusedVersion(lotId, version).catch(() => {});
      }
      return;
    }
    const { topic: parsed, message } = decoded.value;
    if (parsed.direction !== 'up') {
      drop(topic, 'wrong_direction', 'down topic on an up subscription');
      return;
    }
    const lotId = parsed.lotId;
    switch (message.type) {
      case 'events': {
        const events = (message.body as BodyOf<'events'>).events as WireEvent[];
        // The topic names the lot (the broker ACL binds it to the lot's credentials); an event claiming
        // another lot is refused as a whole batch.
        if (events.some((e) => e.lotId !== undefined && e.lotId !== lotId)) {
          drop(topic, 'wrong_lot', 'event for another lot');
          return;
        }
        serial(lotId, () => onEvents(lotId, events));
        return;
      }
      case 'request': {
        const body = message.body as BodyOf<'request'>;
        // Overflow answers have a deadline: do not queue them behind a long event batch of the same lot.
        if (body.kind === 'overflow' || body.kind === 'overflow_cancel')
          void requests
            .handle(lotId, body)
            .catch((error: unknown) => log.error({ err: error, lotId }, 'request failed'));
        else serial(lotId, () => requests.handle(lotId, body));
        return;
      }
      case 'status':
        void presence
          .onStatus(lotId, message.body as BodyOf<'status'>, retained)
          .catch((error: unknown) => log.error({ err: error, lotId }, 'presence update failed'));
        return;
      default:
        drop(topic, 'type_mismatch', `unexpected ${message.type}`);
    }
  };

  const subscribe = async (c: MqttClient): Promise<void> => {
    const shared = deps.mqtt.sharedSubscription;
    const filters = shared
      ? [`$share/cloud/${TOPIC_ROOT}/+/up/events`, `$share/cloud/${TOPIC_ROOT}/+/up/request`]
      : [`${TOPIC_ROOT}/+/up/events`, `${TOPIC_ROOT}/+/up/request`];
    // Status is a plain subscription on every instance: shared subscriptions get no retained messages,
    // and presence is cheap enough for each instance to track.
    filters.push(`${TOPIC_ROOT}/+/up/status`);
    const granted = await c.subscribeAsync(filters, { qos: 1 });
    for (const g of granted)
      if (g.qos === 128) log.error({ topic: g.topic }, 'subscription refused by the broker');
  };

  const options: IClientOptions = {
    clientId: `cloud-${deps.mqtt.instanceId}`,
    clean: false,
    protocolVersion: 4,
    keepalive: deps.mqtt.keepaliveSec ?? 30,
    reconnectPeriod: deps.mqtt.reconnectPeriodMs ?? 1000,
    resubscribe: false,
    username: deps.mqtt.username,
    password: deps.mqtt.password,
    ...(deps.mqtt.tls ?? {}),
  };
  client = mqtt.connect(deps.mqtt.url, options);
  client.on('connect', () => {
    const c = client!;
    (async () => {
      await subscribe(c);
      connected = true;
      log.info({ shared: deps.mqtt.sharedSubscription }, 'cloud sync connected');
      configs.republishAll();
      relay.resume();
    })().catch((error: unknown) => log.error({ err: error }, 'cloud sync connect handling failed'));
  });
  client.on('close', () => {
    if (connected) log.warn('broker connection lost');
    connected = false;
  });
  client.on('error', (error) => log.warn({ err: error }, 'mqtt error'));
  client.on('message', (topic, payload, packet) => {
    try {
      onMessage(topic, payload, packet.retain === true);
    } catch (error) {
      drop(topic, 'handler_error', error instanceof Error ? error.message : String(error));
    }
  });

  await relay.start(() => connected);
  await configs.start();
  applier.start();

  return {
    metrics,
    presence,
    relay,
    effects: applier,
    sendCommand: (lotId, input) => commands.sendCommand(lotId, input),
    commands: (lotId, limit = 50) => store.commands(lotId, limit),
    fleet: (lotId) => store.presence(lotId),
    changesCommitted: (lotId) => relay.wake(lotId),
    configChanged: (lotId) => configs.changed(lotId),
    connected: () => connected,
    idle: async () => {
      await relay.idle();
      await configs.idle();
      while (lanes.size > 0) await Promise.all([...lanes.values()]);
      await applier.idle();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      // Bounded: work stuck on a dead broker link must not hold shutdown.
      await within(relay.stop(), 3000);
      await within(configs.stop(), 3000);
      await within(Promise.all([...lanes.values()]), 3000);
      await within(applier.stop(), 3000);
      if (client) await within(client.endAsync(true), 2000);
      connected = false;
    },
  };
}

export type { CommandInput };
