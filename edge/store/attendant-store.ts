import type { Clock } from '../../protocol/clock.js';
import type { Journal } from './journal.js';
import type { GateLedger } from './ledger.js';
import type { MirrorStore } from './mirror.js';
import { occupancyOf } from './occupancy.js';
import {
  type AlarmRow,
  type AuditRow,
  type ReservationRow,
  type SessionRow,
  storedPlate,
  toAlarm,
  toAudit,
  toReservation,
  toSession,
  toUtc,
  type UtcRow,
} from './rows.js';
import type {
  AlarmRecord,
  AttendantAccount,
  AuditRecord,
  MirrorReservation,
  Occupancy,
  PassbackState,
  UnableToCollectRecord,
  VehicleSession,
} from './types.js';

export interface AttendantStoreOptions {
  journal: Journal;
  mirror: MirrorStore;
  ledger: GateLedger;
  clock: Clock;
}

function prepareStatements(db: Journal['db']) {
  return {
    reservationsByPlateAll: db.prepare<[string], ReservationRow>(
      'SELECT * FROM reservations WHERE plate = ? ORDER BY start_ms DESC LIMIT 50',
    ),
    sessionsByPlate: db.prepare<[string], SessionRow>(
      'SELECT * FROM sessions WHERE plate = ? ORDER BY entered_at DESC LIMIT 20',
    ),
    sessionsByReservation: db.prepare<[string], SessionRow>(
      'SELECT * FROM sessions WHERE reservation_id = ? ORDER BY entered_at DESC LIMIT 20',
    ),
    insideList: db.prepare<[number], SessionRow>(
      'SELECT * FROM sessions WHERE exited_at IS NULL ORDER BY entered_at LIMIT ?',
    ),
    insideCount: db.prepare<[], number>('SELECT count(*) FROM sessions WHERE exited_at IS NULL').pluck(),
    alarmById: db.prepare<[number], AlarmRow>('SELECT * FROM alarms WHERE id = ?'),
    openAlarms: db.prepare<[number], AlarmRow>(
      'SELECT * FROM alarms WHERE acked_at IS NULL ORDER BY raised_at DESC, id DESC LIMIT ?',
    ),
    allAlarms: db.prepare<[number], AlarmRow>(
      'SELECT * FROM alarms ORDER BY raised_at DESC, id DESC LIMIT ?',
    ),
    openAlarmCount: db.prepare<[], number>('SELECT count(*) FROM alarms WHERE acked_at IS NULL').pluck(),
    utcBetween: db.prepare<[number, number], UtcRow>(
      'SELECT * FROM unable_to_collect WHERE at >= ? AND at < ? ORDER BY at, id',
    ),
    recentAudit: db.prepare<[number], AuditRow>('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?'),
    attendant: db.prepare<
      [string],
      { username: string; display_name: string; password_hash: string; disabled: number }
    >('SELECT username, display_name, password_hash, disabled FROM attendants WHERE username = ?'),
    upsertAttendant: db.prepare(
      `INSERT INTO attendants (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name,
       password_hash = excluded.password_hash, disabled = 0`,
    ),
  };
}

/**
 * What the attendant console reads and the little it writes without a gate event: accounts and
 * logins, look-ups by plate or reservation, vehicles inside, alarms, reports and occupancy.
 */
export class AttendantStore {
  readonly #journal: Journal;
  readonly #mirror: MirrorStore;
  readonly #ledger: GateLedger;
  readonly #clock: Clock;
  readonly #q: ReturnType<typeof prepareStatements>;

  constructor(opts: AttendantStoreOptions) {
    this.#journal = opts.journal;
    this.#mirror = opts.mirror;
    this.#ledger = opts.ledger;
    this.#clock = opts.clock;
    this.#q = prepareStatements(opts.journal.db);
  }

  // -------------------------------------------------------------------------------------------
  // Accounts and audit

  attendant(username: string): AttendantAccount | undefined {
    const r = this.#q.attendant.get(username);
    return r
      ? {
          username: r.username,
          displayName: r.display_name,
          passwordHash: r.password_hash,
          disabled: r.disabled !== 0,
        }
      : undefined;
  }

  upsertAttendant(a: { username: string; displayName: string; passwordHash: string }): void {
    this.#q.upsertAttendant.run(a.username, a.displayName, a.passwordHash, this.#clock.now());
  }

  /** An audit line with no event (e.g. a login). */
  audit(a: {
    atMs: number;
    attendant: string;
    action: string;
    reason?: string | null;
    target?: string | null;
  }): void {
    this.#journal.write(() =>
      this.#journal.audit({
        atMs: a.atMs,
        attendant: a.attendant,
        action: a.action,
        reason: a.reason ?? null,
        target: a.target ?? null,
        detail: {},
        eventId: null,
      }),
    );
  }

  recentAudit(limit: number): AuditRecord[] {
    return this.#q.recentAudit.all(limit).map(toAudit);
  }

  // -------------------------------------------------------------------------------------------
  // Look-ups

  sessionsInside(limit = 1000): VehicleSession[] {
    return this.#q.insideList.all(limit).map(toSession);
  }

  lookupPlate(plate: string): { reservations: MirrorReservation[]; sessions: VehicleSession[] } {
    const p = storedPlate(plate);
    return {
      reservations: this.#q.reservationsByPlateAll.all(p).map(toReservation),
      sessions: this.#q.sessionsByPlate.all(p).map(toSession),
    };
  }

  lookupReservation(id: string): {
    reservation: MirrorReservation | null;
    sessions: VehicleSession[];
    passback: PassbackState | null;
  } {
    return {
      reservation: this.#mirror.reservationById(id) ?? null,
      sessions: this.#q.sessionsByReservation.all(id).map(toSession),
      passback: this.#ledger.passbackState(id) ?? null,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Alarms, reports, occupancy

  alarms(options: { openOnly: boolean; limit: number }): AlarmRecord[] {
    return (options.openOnly ? this.#q.openAlarms : this.#q.allAlarms).all(options.limit).map(toAlarm);
  }

  alarmById(id: number): AlarmRecord | undefined {
    const r = this.#q.alarmById.get(id);
    return r ? toAlarm(r) : undefined;
  }

  openAlarmCount(): number {
    return this.#q.openAlarmCount.get()!;
  }

  unableToCollect(fromMs: number, toMs: number): UnableToCollectRecord[] {
    return this.#q.utcBetween.all(fromMs, toMs).map(toUtc);
  }

  occupancy(): Occupancy {
    const bitmap = this.#mirror.freshBitmap();
    return occupancyOf({
      index: this.#mirror.lotIndex(),
      bitmap,
      nowMs: this.#clock.now(),
      driveupInside: this.#ledger.driveupInside(),
      permitInside: this.#ledger.permitPoolInside(),
      vehiclesInside: this.#q.insideCount.get()!,
    });
  }
}
