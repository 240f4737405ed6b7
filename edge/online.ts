import type { Clock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import type { CommandResult } from './commands.js';
import type { EdgeConfig } from './config.js';
import type { OnlineHooks } from './lane/types.js';
import type { EdgeMetrics } from './metrics.js';
import type { EdgeSyncPort } from './store/sync-port.js';
import type { EdgeSync } from './sync/client.js';
import type { Command, EdgeSyncDeps } from './sync/ports.js';

export type StartSync = (deps: EdgeSyncDeps) => Promise<EdgeSync>;

/**
 * Connects the lot to the cloud: starts the MQTT sync client (edge/sync/client.ts unless one is
 * passed in) and returns the online hooks the lanes use through it.
 */
export async function startOnline(options: {
  config: EdgeConfig;
  edgeVersion: string;
  startSync: StartSync | undefined;
  syncPort: EdgeSyncPort;
  onCommand: (command: Command) => Promise<CommandResult>;
  hooks: OnlineHooks;
  clock: Clock;
  random: Random;
  metrics: EdgeMetrics;
  logger: Logger;
}): Promise<{ sync: EdgeSync; hooks: OnlineHooks }> {
  const { config, random } = options;
  const mqtt = config.mqtt;
  if (!mqtt.url) throw new Error(`lot ${config.lotId}: sync needs mqtt.url`);
  const start: StartSync = options.startSync ?? (await import('./sync/client.js')).startEdgeSync;
  const sync = await start({
    lotId: config.lotId,
    edgeVersion: options.edgeVersion,
    mqtt: {
      url: mqtt.url,
      ...(mqtt.username ? { username: mqtt.username } : {}),
      ...(mqtt.password ? { password: mqtt.password } : {}),
      ...(mqtt.clientId ? { clientId: mqtt.clientId } : {}),
    },
    store: options.syncPort,
    onCommand: options.onCommand,
    clock: options.clock,
    logger: options.logger,
    metricsRegistry: options.metrics.registry,
    newId: () => random.id(20),
  });
  return { sync, hooks: syncHooks(sync, options.hooks) };
}

function syncHooks(client: EdgeSync, hooks: OnlineHooks): OnlineHooks {
  return {
    ...hooks,
    requestOverflow: (req) => client.requestOverflow(req),
    cancelOverflow: (id) => client.cancelOverflow(id),
    notifyEventsWritten: () => client.notifyEventsWritten(),
    // The cloud charges the stored payment method of a booking when it stores an exit event
    // with settlement 'cloud'; a drive-up has no method on file, so its fee is cash or owed.
    chargeOnline:
      hooks.chargeOnline ??
      (async (req) =>
        req.reason === 'overstay' ? { ok: true } : { ok: false, reason: 'no online payment for drive-ups' }),
  };
}
