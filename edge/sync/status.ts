import type { Clock } from '../../protocol/clock.js';
import { within } from '../../protocol/async.js';
import type { Logger } from '../../protocol/logger.js';
import { PROTOCOL_VERSION } from '../../protocol/mqtt.js';
import type { EdgeLink } from './link.js';
import type { EdgeSyncStore, Status } from './ports.js';

export interface StatusReporterOptions {
  link: EdgeLink;
  store: EdgeSyncStore;
  clock: Clock;
  log: Logger;
  edgeVersion: string;
}

/**
 * Presence (docs/architecture.md#presence-and-health): the retained up/status heartbeat while online, and
 * the offline status kept current as the connection's last will.
 */
export class StatusReporter {
  constructor(private readonly options: StatusReporterOptions) {}

  async body(state: 'online' | 'offline'): Promise<Status> {
    const { store, clock, edgeVersion } = this.options;
    const health = await store.health();
    return {
      state,
      edgeVersion: edgeVersion.slice(0, 32),
      protocolVersion: PROTOCOL_VERSION,
      lastAppliedSeq: await store.getCursor(),
      lastEventId: await store.lastEventId(),
      outboxDepth: await store.outboxDepth(),
      configVersion: await store.configVersion(),
      occupancy: health.occupancy,
      lanes: health.lanes.slice(0, 64),
      clock: new Date(clock.now()).toISOString(),
    };
  }

  async offlineMessage(): Promise<Buffer> {
    return this.options.link.message('status', await this.body('offline'));
  }

  /** The heartbeat; never rejects (a dropped link just skips one). */
  async publish(): Promise<void> {
    const { link, log } = this.options;
    if (!link.connected) return;
    try {
      await link.publish('status', link.message('status', await this.body('online')), true);
    } catch (error) {
      log.debug({ err: error }, 'status publish failed');
    }
  }

  /** Keeps the will's numbers (cursor, outbox depth) current for the next connect; never rejects. */
  async refreshWill(): Promise<void> {
    const { link, log } = this.options;
    if (!link.client) return;
    try {
      link.setWill(await this.offlineMessage());
    } catch (error) {
      log.warn({ err: error }, 'will refresh failed');
    }
  }

  /** On a clean stop: say offline ourselves, waiting at most a second (the will says the same). */
  async publishOffline(): Promise<void> {
    const { link, log } = this.options;
    if (!link.connected) return;
    const onError = (error: unknown) => log.debug({ err: error }, 'offline status not published');
    try {
      await within(link.publish('status', await this.offlineMessage(), true), 1000, onError);
    } catch (error) {
      onError(error);
    }
  }
}
