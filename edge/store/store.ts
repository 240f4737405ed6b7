import type Database from 'better-sqlite3';
import type { Clock } from '../../protocol/clock.js';
import type { Reservation, VehicleType } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Change } from '../../protocol/mqtt.js';
import type { Unsubscribe } from '../devices/types.js';
import { AttendantStore } from './attendant-store.js';
import { openDatabase } from './database.js';
import { Journal } from './journal.js';
import {
  type AlarmAck,
  type CashPaymentRecord,
  GateLedger,
  type ManualOpenRecord,
  type PassbackResetRecord,
} from './ledger.js';
import { type LotFileConfig, MirrorStore } from './mirror.js';
import type { CommitNotice, EntryRecord, ExitRecord, GateEventDraft, StoreView } from './types.js';

export interface OpenStoreOptions {
  /** SQLite file, or ':memory:'. */
  path: string;
  lotId: string;
  clock: Clock;
  logger: Logger;
  /** The lot config from the local file (version 0); used until the cloud delivers a newer one. */
  fileConfig: LotFileConfig;
}

/**
 * The edge's durable state in one SQLite file, opened once and shared by three parts:
 *   mirror     the cloud's bookings: lot config, spot index, reservations, change cursor, bitmap
 *   ledger     what happened at the gates: sessions, passback, alarms, cash, and the outbox
 *   attendant  accounts, audit, look-ups, reports, occupancy
 * A write that spans parts (an entry's session and its outbox event) is one transaction. Callers
 * that need one part take it (or a Pick of this class); the flat methods below forward to the
 * parts for callers that use several.
 */
export class EdgeStore implements StoreView {
  readonly db: Database.Database;
  readonly lotId: string;
  readonly mirror: MirrorStore;
  readonly ledger: GateLedger;
  readonly attendants: AttendantStore;
  readonly #journal: Journal;

  private constructor(journal: Journal, opts: OpenStoreOptions) {
    this.db = journal.db;
    this.lotId = opts.lotId;
    this.#journal = journal;
    const { clock, logger } = opts;
    this.mirror = new MirrorStore({ journal, lotId: opts.lotId, clock, logger, fileConfig: opts.fileConfig });
    this.ledger = new GateLedger({ journal, clock, logger });
    this.attendants = new AttendantStore({ journal, mirror: this.mirror, ledger: this.ledger, clock });
  }

  /** Opens (creating if needed) the file, applies pragmas and migrations, loads config, rebuilds the bitmap. */
  static open(opts: OpenStoreOptions): EdgeStore {
    const db = openDatabase(opts.path, opts.clock.now());
    try {
      return new EdgeStore(new Journal(db, opts.logger), opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Called after every commit that appended events, raised or acknowledged alarms, or audited. */
  onCommit(listener: (notice: CommitNotice) => void): Unsubscribe {
    return this.#journal.onCommit(listener);
  }

  // ---- mirror --------------------------------------------------------------------------------

  config() {
    return this.mirror.config();
  }
  lotIndex() {
    return this.mirror.lotIndex();
  }
  setConfig(body: Parameters<MirrorStore['setConfig']>[0]) {
    return this.mirror.setConfig(body);
  }
  rebuildBitmap(): void {
    this.mirror.rebuildBitmap();
  }
  bitmap() {
    return this.mirror.bitmap();
  }
  reservationById(id: string) {
    return this.mirror.reservationById(id);
  }
  reservationsForPlate(plate: string, fromMs: number, toMs: number) {
    return this.mirror.reservationsForPlate(plate, fromMs, toMs);
  }
  bookableFree(vehicleType: VehicleType, startSlot: number, endSlot: number) {
    return this.mirror.bookableFree(vehicleType, startSlot, endSlot);
  }
  upsertLocalReservation(r: Reservation): void {
    this.mirror.upsertLocalReservation(r);
  }
  getCursor() {
    return this.mirror.getCursor();
  }
  applyChanges(changes: readonly Change[]) {
    return this.mirror.applyChanges(changes);
  }
  applySnapshot(snapshot: { asOfSeq: number; reservations: readonly Reservation[] }) {
    return this.mirror.applySnapshot(snapshot);
  }

  // ---- ledger --------------------------------------------------------------------------------

  insideByPlate(plate: string) {
    return this.ledger.insideByPlate(plate);
  }
  insideByReservation(reservationId: string) {
    return this.ledger.insideByReservation(reservationId);
  }
  passbackState(reservationId: string) {
    return this.ledger.passbackState(reservationId);
  }
  driveupInside() {
    return this.ledger.driveupInside();
  }
  sessionById(id: string) {
    return this.ledger.sessionById(id);
  }
  recordEntry(e: EntryRecord) {
    return this.ledger.recordEntry(e);
  }
  recordExit(x: ExitRecord) {
    return this.ledger.recordExit(x);
  }
  recordEvent(draft: GateEventDraft, atMs: number) {
    return this.ledger.recordEvent(draft, atMs);
  }
  recordAlarm(draft: GateEventDraft, atMs: number, detail: string) {
    return this.ledger.recordAlarm(draft, atMs, detail);
  }
  recordManualOpen(m: ManualOpenRecord) {
    return this.ledger.recordManualOpen(m);
  }
  resetPassback(r: PassbackResetRecord) {
    return this.ledger.resetPassback(r);
  }
  recordCashPayment(p: CashPaymentRecord) {
    return this.ledger.recordCashPayment(p);
  }
  acknowledgeAlarm(a: AlarmAck) {
    return this.ledger.acknowledgeAlarm(a);
  }
  commandSeen(commandId: string) {
    return this.ledger.commandSeen(commandId);
  }
  recordCommandAck(commandId: string, ok: boolean, detail: string) {
    return this.ledger.recordCommandAck(commandId, ok, detail);
  }
  lastEventId() {
    return this.ledger.lastEventId();
  }
  ackedEventId() {
    return this.ledger.ackedEventId();
  }
  outboxDepth() {
    return this.ledger.outboxDepth();
  }
  pendingEvents(afterEventId: number, limit: number) {
    return this.ledger.pendingEvents(afterEventId, limit);
  }
  eventsAfter(afterEventId: number, limit: number) {
    return this.ledger.eventsAfter(afterEventId, limit);
  }
  ackEvents(upTo: number) {
    return this.ledger.ackEvents(upTo);
  }
  pruneAcked(olderThanMs: number, batch?: number) {
    return this.ledger.pruneAcked(olderThanMs, batch);
  }
  housekeeping(retentionDays: number, yieldBetween: () => Promise<void>) {
    return this.ledger.housekeeping(retentionDays, yieldBetween);
  }

  // ---- attendant -----------------------------------------------------------------------------

  attendant(username: string) {
    return this.attendants.attendant(username);
  }
  upsertAttendant(a: Parameters<AttendantStore['upsertAttendant']>[0]): void {
    this.attendants.upsertAttendant(a);
  }
  audit(a: Parameters<AttendantStore['audit']>[0]): void {
    this.attendants.audit(a);
  }
  recentAudit(limit: number) {
    return this.attendants.recentAudit(limit);
  }
  sessionsInside(limit?: number) {
    return this.attendants.sessionsInside(limit);
  }
  lookupPlate(plate: string) {
    return this.attendants.lookupPlate(plate);
  }
  lookupReservation(id: string) {
    return this.attendants.lookupReservation(id);
  }
  alarms(options: { openOnly: boolean; limit: number }) {
    return this.attendants.alarms(options);
  }
  alarmById(id: number) {
    return this.attendants.alarmById(id);
  }
  openAlarmCount() {
    return this.attendants.openAlarmCount();
  }
  unableToCollect(fromMs: number, toMs: number) {
    return this.attendants.unableToCollect(fromMs, toMs);
  }
  occupancy() {
    return this.attendants.occupancy();
  }
}
