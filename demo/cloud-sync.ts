import type { Cloud } from '../cloud/compose.js';
import { startCloudSyncForApp } from '../cloud/sync/repo-adapter.js';
import type { Logger } from '../protocol/logger.js';

/**
 * The one place the demo starts the cloud's MQTT sync engine beside the in-process cloud app
 * (cloud/sync/repo-adapter.ts binds the engine to the app's repositories).
 */
export interface CloudSyncHandle {
  /** Tell the engine these lots' configuration exists or changed (publishes their retained config now). */
  lotsChanged(lotIds: readonly string[]): void;
  connected(): boolean;
  stop(): Promise<void>;
}

export interface DemoCloudSyncOptions {
  cloud: Cloud;
  mqtt: { url: string; username: string; password: string };
  /** `$share/…` subscriptions: only on brokers that support them (not the embedded aedes). */
  sharedSubscription: boolean;
  logger: Logger;
}

export async function startDemoCloudSync(options: DemoCloudSyncOptions): Promise<CloudSyncHandle> {
  const { mqtt } = options;
  const sync = await startCloudSyncForApp(options.cloud.app, {
    mqtt: {
      url: mqtt.url,
      ...(mqtt.username ? { username: mqtt.username } : {}),
      ...(mqtt.password ? { password: mqtt.password } : {}),
      instanceId: 'demo-cloud',
      sharedSubscription: options.sharedSubscription,
    },
    logger: options.logger,
  });
  return {
    lotsChanged(lotIds) {
      for (const lotId of lotIds) {
        sync
          .configChanged(lotId)
          .catch((err: unknown) => options.logger.warn({ err, lotId }, 'config publish failed'));
      }
    },
    connected: () => sync.connected(),
    stop: () => sync.stop(),
  };
}
