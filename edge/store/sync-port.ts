import type { Reservation } from '../../protocol/domain.js';
import type { MoneyStateBody } from '../../protocol/money-sync.js';
import type { Change, ConnectivityState } from '../../protocol/mqtt.js';
import type { Permit } from '../../protocol/permits.js';
import type { Connectivity } from '../connectivity.js';
import type { ApplyResult, EdgeHealth, EdgeSyncStore, LotConfigMessage, OutboxEvent } from '../sync/ports.js';
import type { AttendantStore } from './attendant-store.js';
import type { GateLedger } from './ledger.js';
import type { MirrorStore } from './mirror.js';
import type { MoneyStore } from './money.js';

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
  setMoney(body: MoneyStateBody): void;
  getCursor(): number;
  applyChanges(changes: readonly Change[]): ApplyResult;
  applySnapshot(reservations: readonly Reservation[], asOfSeq: number, permits?: readonly Permit[]): void;
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

/** The parts of the store the sync port binds to. */
export interface SyncedStore {
  mirror: Pick<MirrorStore, 'getCursor' | 'applyChanges' | 'applySnapshot' | 'config' | 'setConfig'>;
  ledger: Pick<
    GateLedger,
    'pendingEvents' | 'ackEvents' | 'outboxDepth' | 'lastEventId' | 'commandSeen' | 'recordCommandAck'
  >;
  attendants: Pick<AttendantStore, 'occupancy'>;
  money: Pick<MoneyStore, 'replace'>;
}

export function createSyncPort(deps: {
  store: SyncedStore;
  connectivity: Connectivity;
  /** Lane and device health for the heartbeat. */
  lanes: () => EdgeHealth['lanes'];
  /** The money state was replaced (waiting exit lanes look again). */
  onMoney?: () => void;
}): EdgeSyncPort {
  const { connectivity } = deps;
  const { mirror, ledger, attendants } = deps.store;
  return {
    getCursor: () => mirror.getCursor(),
    applyChanges: (changes) => mirror.applyChanges(changes),
    applySnapshot: (reservations, asOfSeq, permits) => {
      mirror.applySnapshot({ asOfSeq, reservations, permits });
    },
    configVersion: () => mirror.config().version,
    setConfig: (config) => {
      mirror.setConfig({ version: config.version, lot: config.lot, publicKeys: config.publicKeys });
    },
    pendingEvents: (afterEventId, limit) => ledger.pendingEvents(afterEventId, limit),
    ackEvents: (upTo) => {
      ledger.ackEvents(upTo);
    },
    outboxDepth: () => ledger.outboxDepth(),
    lastEventId: () => ledger.lastEventId(),
    setConnectivity: (state, sinceMs) => connectivity.set(state, sinceMs),
    health: () => {
      const o = attendants.occupancy();
      return {
        occupancy: {
          bookable: { held: o.pools.bookable.held, total: o.pools.bookable.total },
          driveup: { held: o.pools.driveup.inside, total: o.pools.driveup.total },
        },
        lanes: deps.lanes(),
      };
    },
    commandSeen: (commandId) => ledger.commandSeen(commandId),
    recordCommandAck: (commandId, ok, detail) => {
      ledger.recordCommandAck(commandId, ok, detail);
    },
    setMoney: (body) => {
      deps.store.money.replace(body);
      deps.onMoney?.();
    },
  };
}
