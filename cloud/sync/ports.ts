import type { z } from 'zod';
import type { MoneySource } from '../exit-payments/publisher.js';
import type { Clock } from '../../protocol/clock.js';
import type { Reservation, VehicleType } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Permit } from '../../protocol/permits.js';
import type { Change, CommandBody, ConfigBody, GateEvent, StatusBody } from '../../protocol/mqtt.js';

/**
 * The ports the cloud sync engines talk through. `repo-adapter.ts` binds them to the cloud's
 * repositories; `pg-store.ts` implements the sync-owned tables (migration 004); tests use fakes.
 */

/** The slice of node-postgres the sync code uses (pg.Pool / pg.PoolClient satisfy it). */
export interface SqlResult<R> {
  rows: R[];
  rowCount: number | null;
}
export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<SqlResult<R>>;
}
export interface SqlClient extends Sql {
  release(error?: Error | boolean): void;
}
export interface SqlPool extends Sql {
  connect(): Promise<SqlClient>;
}

export type LotConfigMessage = z.infer<typeof ConfigBody>;
export type Command = z.infer<typeof CommandBody>;
export type Status = z.infer<typeof StatusBody>;

/** The per-lot change log written by the cloud's reservation code (`lot_changes`). */
export interface ChangeLog {
  headSeq(lotId: string): Promise<number>;
  /** Changes with seq > fromSeq, ascending, at most `limit`. */
  changesSince(lotId: string, fromSeq: number, limit: number): Promise<Change[]>;
  /** Every lot that has a log, with its newest seq (the relay's poll). */
  heads(): Promise<Array<{ lotId: string; headSeq: number }>>;
  /** Changes with seq <= floor are no longer in the log (pruned); a resync from below it gets a snapshot. */
  logFloor(lotId: string): Promise<number>;
  /** The lot's active and future reservations, consistent with the log at asOfSeq (one snapshot tx). */
  snapshot(
    lotId: string,
    nowMs: number,
  ): Promise<{ asOfSeq: number; reservations: Reservation[]; permits?: Permit[] }>;
}

/** Wakes the relay when a lot's log grows (LISTEN lot_changes). Optional: polling covers it. */
export interface ChangeNotifications {
  /** Starts listening; returns a function that stops. */
  listen(onLot: (lotId: string) => void): Promise<() => Promise<void>>;
  /**
   * Leader election among cloud instances, so one relay publishes (others stand by). Optional; when
   * absent every instance relays (duplicates are harmless, the edge dedupes by seq).
   */
  tryLead?(): Promise<boolean>;
}

/** Lot configuration as shipped to the edge (retained on down/config). */
export interface ConfigSource {
  /** Current version per lot (cheap; polled). */
  versions(): Promise<Array<{ lotId: string; version: number }>>;
  config(lotId: string): Promise<LotConfigMessage | null>;
  /** Optional push: call onChange(lotId) when a lot's configuration changed. */
  watch?(onChange: (lotId: string) => void): Promise<() => Promise<void>>;
}

export interface OverflowAsk {
  lotId: string;
  plate: string;
  vehicleType: VehicleType;
  startMs: number;
  endMs: number;
  correlationId: string;
}

/** The cloud's reserve path for online drive-up overflow. */
export interface OverflowBooking {
  /** Book a drive-up into a free bookable spot for [start, end); CONFIRMED, kind 'driveup'. */
  book(
    ask: OverflowAsk,
  ): Promise<{ granted: true; reservation: Reservation } | { granted: false; reason: string }>;
  /** Cancel a drive-up booking of this lot (idempotent; refuses other lots' or non-driveup reservations). */
  cancel(lotId: string, reservationId: string): Promise<{ cancelled: boolean; reason?: string }>;
}

/**
 * Reservation effects of gate events (the cloud's checkIn/depart). Each call carries `factKey`
 * (`edge:<eventId>`, unique per lot): a second call with the same key must change nothing, which is
 * what makes the effects exactly once even when an event is applied again after a crash.
 * Implementations must scope everything to `lotId`.
 */
export interface ReservationEffects {
  /** entry → CHECKED_IN (also for an overflow drive-up booking). */
  checkIn(lotId: string, reservationId: string, atMs: number, factKey: string): Promise<void>;
  /** exit → COMPLETED; overstay charge, early release of future slots. */
  depart(
    lotId: string,
    reservationId: string,
    atMs: number,
    exit: Extract<GateEvent, { kind: 'exit' }>,
    factKey: string,
  ): Promise<void>;
}

/** A gate event as received: validated loosely (eventId, kind, at) so unknown kinds still get stored. */
export interface WireEvent {
  eventId: number;
  kind: string;
  at: string;
  [field: string]: unknown;
}

/**
 * Applies stored events' effects, in eventId order per lot, after they are stored. Must be idempotent
 * per (lot, eventId): after a crash the same event may be applied again.
 */
export interface EventEffects {
  /** Cheap filter: false for events that are only recorded. */
  affects(event: WireEvent): boolean;
  apply(lotId: string, event: WireEvent): Promise<void>;
}

export interface StoreEventsResult {
  /** Events newly stored by this call. */
  inserted: number;
  /** Highest contiguous stored event id for the lot after this call (what is acknowledged). */
  upTo: number;
}

/** A lease on applying one lot's effects (several cloud instances may receive the same lot's events). */
export interface EffectsClaim {
  /** Effects applied up to here. */
  appliedUpTo: number;
  /** Stored (contiguously) up to here. */
  storedUpTo: number;
}

export interface PresenceRecord {
  lotId: string;
  state: 'online' | 'offline';
  lastSeen: string;
  edgeClock: string | null;
  skewMs: number | null;
  skewAlarm: boolean;
  edgeVersion: string | null;
  protocolVersion: string | null;
  protocolSupported: boolean;
  lastAppliedSeq: number | null;
  lastEventId: number | null;
  outboxDepth: number | null;
  configVersion: number | null;
  occupancy: Status['occupancy'] | null;
  lanes: Status['lanes'] | null;
}

export interface CommandRecord {
  commandId: string;
  lotId: string;
  body: Command;
  sentAt: string;
  createdBy: string;
  ackedAt: string | null;
  ok: boolean | null;
  detail: string | null;
}

export type OverflowRow =
  | { state: 'pending' }
  | { state: 'granted'; reservation: Reservation }
  | { state: 'refused'; reason: string }
  | { state: 'cancelled'; reservationId: string | null };

/** The sync-owned tables (gate_events, watermarks, presence, commands, ...). */
export interface SyncStore {
  /** Stores each event once and moves the contiguous watermark, one transaction. */
  storeEvents(lotId: string, events: readonly WireEvent[]): Promise<StoreEventsResult>;
  watermark(lotId: string): Promise<number>;
  /** Lots whose stored watermark is ahead of their applied-effects watermark. */
  effectsBacklog(): Promise<string[]>;
  /** Take (or renew) the lot's effects lease; null when another owner holds a live lease. */
  claimEffects(lotId: string, owner: string, leaseMs: number): Promise<EffectsClaim | null>;
  /** Stored events in (after, upTo], ascending, at most limit. */
  storedEvents(lotId: string, after: number, upTo: number, limit: number): Promise<WireEvent[]>;
  /** Effects applied up to `upTo` (only by the lease owner); records per-event errors. */
  markEffectsApplied(
    lotId: string,
    owner: string,
    upTo: number,
    errors: ReadonlyArray<{ eventId: number; error: string }>,
  ): Promise<void>;
  releaseEffects(lotId: string, owner: string): Promise<void>;
  relayCursor(lotId: string): Promise<number | null>;
  setRelayCursor(lotId: string, seq: number): Promise<void>;
  upsertPresence(record: PresenceRecord): Promise<void>;
  /** Status messages refused for their protocol version (fleet skew), recorded without the body. */
  markProtocolRefused(lotId: string, version: string, atIso: string): Promise<void>;
  presence(lotId?: string): Promise<PresenceRecord[]>;
  /** Claim a correlation id; returns the earlier outcome when the request was seen before. */
  claimOverflow(lotId: string, correlationId: string): Promise<OverflowRow | null>;
  settleOverflow(
    lotId: string,
    correlationId: string,
    row: Exclude<OverflowRow, { state: 'pending' }>,
  ): Promise<void>;
  insertCommand(record: Omit<CommandRecord, 'ackedAt' | 'ok' | 'detail'>): Promise<void>;
  commands(lotId: string, limit: number): Promise<CommandRecord[]>;
  /** Commands not yet acknowledged and sent after `sinceIso` (to republish after a lot reconnects). */
  unackedCommands(lotId: string, sinceIso: string): Promise<CommandRecord[]>;
}

/** MQTT connection of a cloud instance (the cloud account). */
export interface CloudMqttOptions {
  url: string;
  username?: string;
  password?: string;
  /** Stable per instance so the broker keeps its session across restarts (identity.ts). */
  instanceId: string;
  /**
   * Connect with MQTT 5 and this session expiry (seconds): the broker ends the session this long after
   * the instance went away, so an instance that never comes back leaves no ghost in the shared group.
   * Absent: MQTT 3.1.1 persistent session (the embedded aedes speaks only 3.1.1).
   */
  sessionExpirySec?: number;
  /** Use `$share/cloud/...` for up/events and up/request (false on brokers without shared subscriptions). */
  sharedSubscription: boolean;
  keepaliveSec?: number;
  reconnectPeriodMs?: number;
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  /** Seam: opens the connection (default mqtt.connect); the simulation passes its simulated broker's. */
  connect?: MqttConnect;
}

/** How a link opens its MQTT connection (mqtt.connect's shape). */
export type MqttConnect = (url: string, options: import('mqtt').IClientOptions) => import('mqtt').MqttClient;

export interface CloudSyncTuning {
  /** Relay poll period (fallback for lost notifications). Default 1000 ms. */
  relayPollMs: number;
  /** Changes read per query (also the max per message). Default 1000. */
  relayBatch: number;
  /** Config version poll period. Default 2000 ms. */
  configPollMs: number;
  /** |edge clock − cloud clock| above this raises the skew alarm. Default 5000 ms. */
  skewAlarmMs: number;
  /** Operator commands older than this are not republished on reconnect. Default 60 s. */
  commandRepublishMs: number;
  /** Effects applier: lease, batch, retries, backlog sweep. */
  effectsLeaseMs: number;
  effectsBatch: number;
  effectsMaxAttempts: number;
  effectsSweepMs: number;
}

export interface CloudSyncDeps {
  mqtt: CloudMqttOptions;
  changeLog: ChangeLog;
  notifications?: ChangeNotifications;
  config: ConfigSource;
  /** Open debts and paid stays each lot holds (down/money); absent = not published. */
  money?: MoneySource;
  overflow: OverflowBooking;
  reservations: ReservationEffects;
  store: SyncStore;
  /** PostgreSQL for the built-in effects on the sync tables (debts, cash, gate charges, command acks). */
  sql?: Sql;
  /** Replaces the built-in gate-event effects (gateEventEffects over `reservations` + `sql`); tests. */
  effects?: EventEffects;
  clock: Clock;
  logger: Logger;
  metricsRegistry?: import('prom-client').Registry;
  tuning?: Partial<CloudSyncTuning>;
  newId?: () => string;
}
