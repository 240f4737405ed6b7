import { randomUUID } from 'node:crypto';
import { KeyedSerialQueue, within } from '../../protocol/async.js';
import type { Logger } from '../../protocol/logger.js';
import { type CommandInput, CommandPublisher } from './commands.js';
import { MoneyPublisher } from '../exit-payments/publisher.js';
import { ConfigPublisher } from './config-publisher.js';
import { gateEventEffects } from './effects.js';
import { EffectsApplier } from './effects-applier.js';
import { cloudInbound } from './inbound.js';
import { CloudLink } from './link.js';
import { CloudSyncMetrics } from './metrics.js';
import type { CloudSyncDeps, CloudSyncTuning, CommandRecord, EventEffects, PresenceRecord } from './ports.js';
import { PresenceTracker } from './presence.js';
import { ChangeRelay } from './relay.js';
import { RequestHandler } from './requests.js';

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

interface CloudParts {
  deps: CloudSyncDeps;
  log: Logger;
  metrics: CloudSyncMetrics;
  link: CloudLink;
  lanes: KeyedSerialQueue;
  relay: ChangeRelay;
  requests: RequestHandler;
  presence: PresenceTracker;
  commands: CommandPublisher;
  configs: ConfigPublisher;
  money: MoneyPublisher | null;
  applier: EffectsApplier;
}

/**
 * The cloud side of sync, one per cloud instance: a single MQTT connection (the cloud account) carrying
 * the relay, the event consumer, the request handler, presence, commands and config. This is its
 * composition root; the connection is `link.ts`, inbound dispatch `inbound.ts`.
 */
export async function startCloudSync(deps: CloudSyncDeps): Promise<CloudSync> {
  const parts = assemble(deps);
  const { link, log, presence, commands, configs, relay, applier, money } = parts;
  presence.on('presence', ({ lotId, state }) => {
    if (state !== 'online') return;
    commands
      .republishPending(lotId)
      .catch((error: unknown) => log.error({ err: error, lotId }, 'pending commands not republished'));
  });
  link.connect(deps.mqtt, {
    ready: () => {
      configs.republishAll();
      money?.republishAll();
      relay.resume();
    },
    message: cloudInbound({ ...parts, store: deps.store }),
  });
  await relay.start(() => link.connected);
  await configs.start();
  money?.start();
  applier.start();
  return facade(parts);
}

/** Builds every part over the deps; nothing is connected yet. */
function assemble(deps: CloudSyncDeps): CloudParts {
  const tuning: CloudSyncTuning = { ...DEFAULT_CLOUD_SYNC_TUNING, ...deps.tuning };
  const log: Logger = deps.logger.child({ component: 'cloud-sync', instance: deps.mqtt.instanceId });
  const newId = deps.newId ?? randomUUID;
  const metrics = new CloudSyncMetrics(deps.metricsRegistry);
  const { clock, store } = deps;
  const link = new CloudLink({ clock, newId, log });
  const batch = Math.min(2000, tuning.relayBatch);
  return {
    deps,
    log,
    metrics,
    link,
    // Per-lot serial work (events and requests of one lot in arrival order; lots in parallel).
    lanes: new KeyedSerialQueue((error, lotId) => log.error({ err: error, lotId }, 'sync handler failed')),
    relay: new ChangeRelay({
      changeLog: deps.changeLog,
      store,
      publish: async (lotId, changes) => {
        await link.send(lotId, 'changes', { changes });
        metrics.changes(changes.length);
      },
      logger: log.child({ part: 'relay' }),
      pollMs: tuning.relayPollMs,
      batch,
      notifications: deps.notifications,
    }),
    requests: new RequestHandler({
      changeLog: deps.changeLog,
      overflow: deps.overflow,
      store,
      reply: (lotId, reply) => link.send(lotId, 'reply', reply),
      clock,
      logger: log.child({ part: 'requests' }),
      metrics,
      batch,
    }),
    presence: new PresenceTracker({
      store,
      clock,
      logger: log.child({ part: 'presence' }),
      metrics,
      skewAlarmMs: tuning.skewAlarmMs,
    }),
    commands: new CommandPublisher({
      store,
      send: (lotId, command, sentAt) => link.send(lotId, 'command', command, { sentAt }),
      clock,
      logger: log.child({ part: 'commands' }),
      newId,
      republishWindowMs: tuning.commandRepublishMs,
    }),
    configs: new ConfigPublisher(
      deps.config,
      (lotId, config) => link.send(lotId, 'config', config, { retain: true }),
      log.child({ part: 'config' }),
      tuning.configPollMs,
    ),
    money: deps.money
      ? new MoneyPublisher(
          deps.money,
          (lotId, body) => link.send(lotId, 'money', body, { retain: true }),
          log.child({ part: 'money' }),
          tuning.configPollMs,
        )
      : null,
    applier: new EffectsApplier(
      store,
      eventEffects(deps, log),
      log.child({ part: 'effects' }),
      deps.mqtt.instanceId,
      {
        leaseMs: tuning.effectsLeaseMs,
        batch: tuning.effectsBatch,
        maxAttempts: tuning.effectsMaxAttempts,
        sweepMs: tuning.effectsSweepMs,
      },
    ),
  };
}

/** The given effects (tests), else the built-in ones over `reservations` and `sql`. */
function eventEffects(deps: CloudSyncDeps, log: Logger): EventEffects {
  if (deps.effects) return deps.effects;
  if (!deps.sql) throw new Error('startCloudSync needs `sql` (or `effects`)');
  return gateEventEffects(deps.reservations, deps.sql, log.child({ part: 'effects' }));
}

function facade(parts: CloudParts): CloudSync {
  const { deps, link, relay, configs, lanes, applier, commands } = parts;
  let stopped = false;
  const bounded = (work: Promise<unknown>, ms: number, what: string) =>
    within(work, ms, (error) => parts.log.error({ err: error }, `${what} failed while stopping`));
  return {
    metrics: parts.metrics,
    presence: parts.presence,
    relay,
    effects: applier,
    sendCommand: (lotId, input) => commands.sendCommand(lotId, input),
    commands: (lotId, limit = 50) => deps.store.commands(lotId, limit),
    fleet: (lotId) => deps.store.presence(lotId),
    changesCommitted: (lotId) => relay.wake(lotId),
    configChanged: (lotId) => configs.changed(lotId),
    connected: () => link.connected,
    idle: async () => {
      await relay.idle();
      await configs.idle();
      await parts.money?.idle();
      await lanes.idle();
      await applier.idle();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      // Bounded: work stuck on a dead broker link must not hold shutdown.
      await bounded(relay.stop(), 3000, 'relay');
      await bounded(configs.stop(), 3000, 'config publisher');
      if (parts.money) await bounded(parts.money.stop(), 3000, 'money publisher');
      await bounded(lanes.settled(), 3000, 'inbound work');
      await bounded(applier.stop(), 3000, 'effects applier');
      if (link.client) await bounded(link.close(), 2000, 'mqtt end');
      link.connected = false;
    },
  };
}

export type { CommandInput };
