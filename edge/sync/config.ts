import type { EventEmitter } from 'node:events';
import type { Logger } from '../../protocol/logger.js';
import type { EdgeSyncEvents } from './events.js';
import type { EdgeSyncMetrics } from './metrics.js';
import type { EdgeSyncStore, LotConfigMessage } from './ports.js';

export interface ConfigFollowerOptions {
  lotId: string;
  store: EdgeSyncStore;
  log: Logger;
  metrics: EdgeSyncMetrics;
  events: EventEmitter<EdgeSyncEvents>;
}

/**
 * The lot's configuration and public keys from the retained down/config: a newer version replaces the
 * stored one, an older or equal one never does. The newest seen is kept for the overflow policy.
 */
export class ConfigFollower {
  /** The newest config received on this run (applied or not). */
  last: LotConfigMessage | null = null;

  constructor(private readonly options: ConfigFollowerOptions) {}

  async onConfig(body: LotConfigMessage): Promise<void> {
    const { lotId, store, log, metrics, events } = this.options;
    if (body.lot.id !== lotId) {
      metrics.drop('wrong_lot');
      log.warn({ configLot: body.lot.id }, 'config for another lot dropped');
      return;
    }
    this.last = body;
    const held = await store.configVersion();
    if (body.version <= held) return;
    await store.setConfig(body);
    log.info({ version: body.version, previous: held }, 'config applied');
    events.emit('config', body);
  }
}
