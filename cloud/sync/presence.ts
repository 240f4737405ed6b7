import { EventEmitter } from 'node:events';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import { PROTOCOL_MAJOR } from '../../protocol/mqtt.js';
import type { CloudSyncMetrics } from './metrics.js';
import type { PresenceRecord, Status, SyncStore } from './ports.js';

export interface PresenceEvents {
  /** A lot went online or offline (retained status / last will). */
  presence: [{ lotId: string; state: 'online' | 'offline'; previous: 'online' | 'offline' | null }];
  /** |edge clock − cloud clock| passed the bound. */
  skew_alarm: [{ lotId: string; skewMs: number }];
  /** A lot speaks a protocol major this cloud does not. */
  version_skew: [{ lotId: string; protocolVersion: string }];
}

export interface PresenceTrackerOptions {
  store: SyncStore;
  clock: Clock;
  logger: Logger;
  metrics: CloudSyncMetrics;
  /** |edge clock − cloud clock| above this raises the skew alarm. */
  skewAlarmMs: number;
}

/**
 * Lot presence and health from the retained status, the heartbeats and the last will
 * (docs/architecture.md#presence-and-health). Kept in memory for this instance and written to lot_presence
 * for the fleet API (every instance sees every status: status is a plain, not shared, subscription).
 */
export class PresenceTracker extends EventEmitter<PresenceEvents> {
  readonly #state = new Map<string, 'online' | 'offline'>();

  private readonly store: SyncStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: CloudSyncMetrics;
  private readonly skewAlarmMs: number;

  constructor(options: PresenceTrackerOptions) {
    super();
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.skewAlarmMs = options.skewAlarmMs;
  }

  stateOf(lotId: string): 'online' | 'offline' | null {
    return this.#state.get(lotId) ?? null;
  }

  /**
   * `retained` statuses were published earlier (delivered on subscribe); their clock says nothing about
   * skew now. An offline status is the last will, written at connect time: same.
   */
  async onStatus(lotId: string, status: Status, retained: boolean): Promise<void> {
    const now = this.clock.now();
    const edgeMs = Date.parse(status.clock);
    const measurable = !retained && status.state === 'online';
    const skewMs = measurable ? edgeMs - now : null;
    const skewAlarm = skewMs !== null && Math.abs(skewMs) > this.skewAlarmMs;
    const major = Number(status.protocolVersion.split('.')[0]);
    const protocolSupported = major === PROTOCOL_MAJOR;
    const record: PresenceRecord = {
      lotId,
      state: status.state,
      lastSeen: new Date(retained || status.state === 'offline' ? Math.min(now, edgeMs) : now).toISOString(),
      edgeClock: status.clock,
      skewMs,
      skewAlarm,
      edgeVersion: status.edgeVersion,
      protocolVersion: status.protocolVersion,
      protocolSupported,
      lastAppliedSeq: status.lastAppliedSeq,
      lastEventId: status.lastEventId,
      outboxDepth: status.outboxDepth,
      configVersion: status.configVersion,
      occupancy: status.occupancy,
      lanes: status.lanes,
    };
    await this.store.upsertPresence(record);
    if (skewMs !== null) this.metrics.skew(lotId, skewMs);
    if (skewAlarm) {
      this.metrics.skewAlarms++;
      this.logger.warn({ lotId, skewMs, boundMs: this.skewAlarmMs }, 'lot clock skew alarm');
      this.emit('skew_alarm', { lotId, skewMs });
    }
    if (!protocolSupported) this.#versionSkew(lotId, status.protocolVersion);
    const previous = this.#state.get(lotId) ?? null;
    if (previous !== status.state) {
      this.#state.set(lotId, status.state);
      this.logger.info({ lotId, state: status.state, retained }, 'lot presence');
      this.emit('presence', { lotId, state: status.state, previous });
    }
  }

  /** A status we could not accept because of its protocol major: still report the lot's version. */
  async onRefusedVersion(lotId: string, protocolVersion: string): Promise<void> {
    await this.store.markProtocolRefused(lotId, protocolVersion, new Date(this.clock.now()).toISOString());
    this.#versionSkew(lotId, protocolVersion);
  }

  #versionSkew(lotId: string, protocolVersion: string): void {
    this.metrics.versionMismatches++;
    this.logger.error(
      { lotId, protocolVersion },
      'lot speaks an unsupported protocol major (fleet version skew)',
    );
    this.emit('version_skew', { lotId, protocolVersion });
  }
}

export type { PresenceRecord };
