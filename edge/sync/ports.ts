import type { MoneyStateBody } from '../../protocol/money-sync.js';
import type { z } from 'zod';
import type { Clock } from '../../protocol/clock.js';
import type { Reservation, VehicleType } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Permit } from '../../protocol/permits.js';
import type { Change, CommandBody, ConfigBody, ConnectivityState, StatusBody } from '../../protocol/mqtt.js';

/**
 * The ports the edge sync engine talks through. The engine knows nothing about SQLite or lanes:
 * `edge/store/sync-port.ts` binds these to the edge store, tests bind them to in-memory fakes.
 * Every method may be synchronous (better-sqlite3) or return a promise.
 */
export type MaybePromise<T> = T | Promise<T>;
export type LotConfigMessage = z.infer<typeof ConfigBody>;
export type Command = z.infer<typeof CommandBody>;
export type Status = z.infer<typeof StatusBody>;

export interface ApplyResult {
  applied: number;
  skipped: number;
  /** Set when the batch did not start right after the cursor: the cursor (last applied seq) at the gap. */
  gapFrom?: number;
}

/** A gate event as it sits in the outbox, already in wire shape (`GateEventSchema`). */
export interface OutboxEvent {
  eventId: number;
  kind: string;
  at: string;
  [field: string]: unknown;
}

export interface EdgeHealth {
  occupancy: Status['occupancy'];
  lanes: Status['lanes'];
}

export interface EdgeSyncStore {
  /** Last applied change seq (0 when nothing applied yet). */
  getCursor(): MaybePromise<number>;
  /**
   * In seq order, in one transaction with the cursor: seq <= cursor skipped; stops at the first gap
   * (seq > cursor + 1) and reports `gapFrom` = cursor.
   */
  applyChanges(changes: readonly Change[]): MaybePromise<ApplyResult>;
  /** Replace the lot's mirror with a full snapshot and set the cursor to asOfSeq, one transaction. */
  applySnapshot(
    reservations: readonly Reservation[],
    asOfSeq: number,
    /** The lot's live permits; undefined when the cloud sent none (an older cloud). */
    permits?: readonly Permit[],
  ): MaybePromise<void>;
  /** Version of the configuration currently held (0 = none). */
  configVersion(): MaybePromise<number>;
  setConfig(config: LotConfigMessage): MaybePromise<void>;
  /** Unacknowledged events with eventId > afterEventId, ascending, at most `limit`. */
  pendingEvents(afterEventId: number, limit: number): MaybePromise<OutboxEvent[]>;
  /** The cloud has durably stored every event <= upTo. */
  ackEvents(upTo: number): MaybePromise<void>;
  outboxDepth(): MaybePromise<number>;
  lastEventId(): MaybePromise<number>;
  setConnectivity(state: ConnectivityState, sinceMs: number): MaybePromise<void>;
  /** Occupancy and lane/device health for the heartbeat. */
  health(): MaybePromise<EdgeHealth>;
  /** True when a command with this id was already executed (durable dedupe across restarts). */
  commandSeen(commandId: string): MaybePromise<boolean>;
  /** Writes the `command_ack` gate event to the outbox. */
  recordCommandAck(commandId: string, ok: boolean, detail: string): MaybePromise<void>;
  /** Replace the lot's money state (open debts by plate, stays paid online) from down/money. */
  setMoney?(body: MoneyStateBody): MaybePromise<void>;
}

/** Executes an operator command on the lanes (open a lane, reset passback). */
export type CommandHandler = (command: Command) => Promise<{ ok: boolean; detail: string }>;

export interface OverflowRequest {
  plate: string;
  vehicleType: VehicleType;
  laneId?: string | null;
  /** Defaults to the lot policy's overflowTimeoutMs (from config), else 1500 ms. */
  timeoutMs?: number;
  /** Defaults: start of the current slot … now + the lot's overflow horizon, slot aligned. */
  startMs?: number;
  endMs?: number;
}

/** Connection parameters; the composition root reads them from its validated config. */
export interface EdgeMqttOptions {
  url: string;
  username?: string;
  password?: string;
  /** Stable across restarts so the broker keeps the session (default `edge-${lotId}`). */
  clientId?: string;
  keepaliveSec?: number;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  /** TLS material when the URL is mqtts:// (passed to mqtt.js as is). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  /** Seam: opens the connection (default mqtt.connect); the simulation passes its simulated broker's. */
  connect?: (url: string, options: import('mqtt').IClientOptions) => import('mqtt').MqttClient;
}

export interface EdgeSyncTuning {
  /** Heartbeat period (retained status). Default 30 s. */
  heartbeatMs: number;
  /** A cloud reply/ack not arriving within this makes the state degraded. Default 5 s. */
  cloudTimeoutMs: number;
  /** Idle liveness probe (an empty resync) period while connected. Default 15 s. */
  probeIntervalMs: number;
  /** Events per published batch (also kept under MAX_PAYLOAD_BYTES). Default 500. */
  eventBatchSize: number;
  /** Batches published but not yet acknowledged. Default 4. */
  maxInFlightBatches: number;
  /** No ack progress for this long with events in flight → republish from the acked watermark. Default 10 s. */
  retransmitAfterMs: number;
  /** How often to look for newly written outbox events when nothing kicked the publisher. Default 200 ms. */
  outboxPollMs: number;
  /** Commands whose envelope is older than this are refused (acked ok:false), never executed. Default 120 s. */
  maxCommandAgeMs: number;
  /** How long a timed-out overflow request is remembered so a late grant gets cancelled. Default 10 min. */
  lateOverflowMemoryMs: number;
}

export interface EdgeSyncDeps {
  lotId: string;
  edgeVersion: string;
  mqtt: EdgeMqttOptions;
  store: EdgeSyncStore;
  onCommand: CommandHandler;
  clock: Clock;
  logger: Logger;
  /** prom-client registry to register metrics on; a private one when omitted. */
  metricsRegistry?: import('prom-client').Registry;
  tuning?: Partial<EdgeSyncTuning>;
  /** Correlation / message ids; default crypto.randomUUID. */
  newId?: () => string;
}
