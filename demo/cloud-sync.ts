import type { Cloud } from '../cloud/compose.js';
import type { Logger } from '../protocol/logger.js';

/** The demo's view of the cloud's MQTT sync engine (started by cloud/compose.ts). */
export interface CloudSyncHandle {
  /** Tell the engine these lots' configuration exists or changed (publishes their retained config now). */
  lotsChanged(lotIds: readonly string[]): void;
  connected(): boolean;
}

export function cloudSyncHandle(cloud: Cloud, logger: Logger): CloudSyncHandle | null {
  const engine = cloud.sync?.engine;
  if (!engine) return null;
  return {
    lotsChanged(lotIds) {
      for (const lotId of lotIds) {
        engine
          .configChanged(lotId)
          .catch((err: unknown) => logger.warn({ err, lotId }, 'config publish failed'));
      }
    },
    connected: () => engine.connected(),
  };
}
