import type { Reservation } from '../../protocol/domain.js';
import type { Change, ConnectivityState } from '../../protocol/mqtt.js';
import type { Connectivity } from '../connectivity.js';
import type { ApplyResult, EdgeHealth, EdgeSyncStore, LotConfigMessage, OutboxEvent } from '../sync/ports.js';
import type { EdgeStore } from './store.js';

/**
 * What the MQTT sync client calls into: the edge store behind the `EdgeSyncStore` port
 * (edge/sync/ports.ts). All methods are synchronous (better-sqlite3); each write is one transaction.
 *
 *   applyChanges   in seq order, idempotent, with the cursor in one transaction; stops at a gap
 *   applySnapshot  replace the active mirror and set the cursor, one transaction
 *   setConfig      lot config + public keys, applied when the version is newer
 *   pendingEvents / ackEvents / outboxDepth / lastEventId   the gate-event outbox
 *   setConnectivity   read by the lanes (overflow, online charging) and the attendant UI
 */
export interface EdgeSyncPort extends EdgeSyncStore {
  getCursor(): number;
  applyChanges(changes: readonly Change[]): ApplyResult;
  applySnapshot(reservations: readonly Reservation[], asOfSeq: number): void;
  configVersion(): number;
  setConfig(config: LotConfigMessage): void;
  pendingEvents(afterEventId: number, limit: number): OutboxEvent[];
  ackEvents(upTo: number): void;
  outboxDepth(): number;
  lastEventId(): number;
  setConnectivity(state: ConnectivityState, sinceMs: number): void;
  health(): EdgeHealth;
  commandSeen(commandId: string): boolean;
  recordCommandAck(commandId: string, ok: boolean, detail: string): void;
}

/** The store methods the sync port forwards to. */
export type SyncedStore = Pick<
  EdgeStore,
  | 'getCursor'
  | 'applyChanges'
  | 'applySnapshot'
  | 'config'
  | 'setConfig'
  | 'pendingEvents'
  | 'ackEvents'
  | 'outboxDepth'
  | 'lastEventId'
  | 'occupancy'
  | 'commandSeen'
  | 'recordCommandAck'
>;

export function createSyncPort(deps: {
  store: SyncedStore;
  connectivity: Connectivity;
  /** Lane and device health for the heartbeat. */
  lanes: () => EdgeHealth['lanes'];
}): EdgeSyncPort {
  const { store, connectivity } = deps;
  return {
    getCursor: () => store.getCursor(),
    applyChanges: (changes) => store.applyChanges(changes),
    applySnapshot: (reservations, asOfSeq) => {
      store.applySnapshot({ asOfSeq, reservations });
    },
    configVersion: () => store.config().version,
    setConfig: (config) => {
      store.setConfig({ version: config.version, lot: config.lot, publicKeys: config.publicKeys });
    },
    pendingEvents: (afterEventId, limit) => store.pendingEvents(afterEventId, limit),
    ackEvents: (upTo) => {
      store.ackEvents(upTo);
    },
    outboxDepth: () => store.outboxDepth(),
    lastEventId: () => store.lastEventId(),
    setConnectivity: (state, sinceMs) => connectivity.set(state, sinceMs),
    health: () => {
      const o = store.occupancy();
      return {
        occupancy: {
          bookable: { held: o.pools.bookable.held, total: o.pools.bookable.total },
          driveup: { held: o.pools.driveup.inside, total: o.pools.driveup.total },
        },
        lanes: deps.lanes(),
      };
    },
    commandSeen: (commandId) => store.commandSeen(commandId),
    recordCommandAck: (commandId, ok, detail) => {
      store.recordCommandAck(commandId, ok, detail);
    },
  };
}
