import Database from 'better-sqlite3';
import { LotBitmap } from '../../protocol/bitmap.js';
import type { Clock } from '../../protocol/clock.js';
import type { PublicKeyEntry } from '../../protocol/credential.js';
import {
  ACTIVE_STATUSES,
  ELIGIBLE_SPOT_TYPES,
  type LotConfig,
  type Reservation,
  type ReservationStatus,
  type Spot,
  type SpotPool,
  type VehicleType,
} from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';
import type { Change, GateEvent } from '../../protocol/mqtt.js';
import { normalizePlate } from '../../protocol/plates.js';
import { SLOT_MS, slotOf } from '../../protocol/slots.js';
import type { Unsubscribe } from '../devices/types.js';
import { migrate } from './migrate.js';
import type {
  AlarmRecord,
  AttendantAccount,
  AuditRecord,
  CredentialKindT,
  GateEventDraft,
  MirrorReservation,
  PassbackState,
  SessionKind,
  Settlement,
  StoredConfig,
  StoreView,
  UnableToCollectRecord,
  VehicleSession,
} from './types.js';

const SLOTS_PER_DAY = 96;
const DAY_MS = 86_400_000;
const ACTIVE = new Set<string>(ACTIVE_STATUSES);

export interface OpenStoreOptions {
  /** SQLite file, or ':memory:'. */
  path: string;
  lotId: string;
  clock: Clock;
  logger: Logger;
  /** The lot config from the local file (version 0); used until the cloud delivers a newer one. */
  fileConfig: { lot: LotConfig; publicKeys: PublicKeyEntry[] };
}

export interface ApplyResult {
  applied: number;
  skipped: number;
  /** Set when the batch skipped ahead: the cursor (last applied seq) at the gap; resync from here. */
  gapFrom?: number;
}

/** What one committed write produced, for the event bus and the sync client. */
export interface CommitNotice {
  events: GateEvent[];
  alarms: AlarmRecord[];
  /** Alarms acknowledged in the transaction. */
  acknowledged: AlarmRecord[];
  /** Attendant actions audited in the transaction (login, manual open, cash, passback reset, alarm ack). */
  audits: AuditRecord[];
}

export interface EntryRecord {
  sessionId: string;
  atMs: number;
  laneId: string | null;
  correlationId: string | null;
  kind: SessionKind;
  reservationId: string | null;
  plate: string | null;
  credential: CredentialKindT;
  pool: SpotPool | null;
  spotId: string | null;
  spotLabel: string | null;
  reservationStartMs: number | null;
  reservationEndMs: number | null;
  overflowReservationId: string | null;
  /** Soft anti-passback: admitted although already inside; records the violation and an alarm. */
  softPassbackViolation: boolean;
  /** A stale inside session of the same plate to close (soft anti-passback for drive-ups). */
  supersedesSessionId: string | null;
}

export interface ExitRecord {
  sessionId: string;
  atMs: number;
  laneId: string | null;
  correlationId: string | null;
  charge: Money | null;
  overstayMinutes: number;
  settlement: Settlement;
  /** Amount owed when settlement is 'owed' (charge minus cash already paid). */
  owed: Money | null;
}

export interface OccupancyGroup {
  key: string;
  total: number;
  held: number;
}

export interface Occupancy {
  at: string;
  pools: {
    bookable: { total: number; held: number; free: number; full: boolean };
    driveup: { total: number; inside: number; free: number; full: boolean };
  };
  levels: OccupancyGroup[];
  spotTypes: OccupancyGroup[];
  vehiclesInside: number;
  /** The driveup pool is full: drive-ups are turned away unless an online overflow succeeds. */
  full: boolean;
}

interface ReservationRow {
  id: string;
  spot_id: string;
  spot_label: string;
  vehicle_type: string;
  plate: string;
  start_ms: number;
  end_ms: number;
  status: string;
  kind: string;
  price_amount: number;
  price_currency: string;
  seq: number;
}

interface SessionRow {
  id: string;
  kind: string;
  reservation_id: string | null;
  plate: string | null;
  credential: string;
  pool: string | null;
  spot_id: string | null;
  spot_label: string | null;
  reservation_start_ms: number | null;
  reservation_end_ms: number | null;
  overflow_reservation_id: string | null;
  entry_lane_id: string | null;
  correlation_id: string | null;
  entered_at: number;
  entry_event_id: number;
  cash_paid: number;
  exited_at: number | null;
  exit_lane_id: string | null;
  exit_event_id: number | null;
  closed_reason: string | null;
}

interface AlarmRow {
  id: number;
  kind: string;
  lane_id: string | null;
  detail: string;
  raised_at: number;
  event_id: number | null;
  acked_at: number | null;
  acked_by: string | null;
  ack_note: string | null;
}

interface UtcRow {
  id: number;
  session_id: string;
  reservation_id: string | null;
  plate: string | null;
  amount: number;
  currency: string;
  at: number;
  lane_id: string | null;
  event_id: number;
}

const toReservation = (r: ReservationRow): MirrorReservation => ({
  id: r.id,
  spotId: r.spot_id,
  spotLabel: r.spot_label,
  vehicleType: r.vehicle_type as VehicleType,
  plate: r.plate,
  startMs: r.start_ms,
  endMs: r.end_ms,
  status: r.status as ReservationStatus,
  kind: r.kind as 'booking' | 'driveup',
  price: { amount: r.price_amount, currency: r.price_currency },
  seq: r.seq,
});

const toSession = (r: SessionRow): VehicleSession => ({
  id: r.id,
  kind: r.kind as SessionKind,
  reservationId: r.reservation_id,
  plate: r.plate,
  credential: r.credential as CredentialKindT,
  pool: r.pool as SpotPool | null,
  spotId: r.spot_id,
  spotLabel: r.spot_label,
  reservationStartMs: r.reservation_start_ms,
  reservationEndMs: r.reservation_end_ms,
  overflowReservationId: r.overflow_reservation_id,
  entryLaneId: r.entry_lane_id,
  correlationId: r.correlation_id,
  enteredAt: r.entered_at,
  entryEventId: r.entry_event_id,
  cashPaid: r.cash_paid,
  exitedAt: r.exited_at,
  exitLaneId: r.exit_lane_id,
  exitEventId: r.exit_event_id,
  closedReason: r.closed_reason,
});

const toAlarm = (r: AlarmRow): AlarmRecord => ({
  id: r.id,
  kind: r.kind,
  laneId: r.lane_id,
  detail: r.detail,
  raisedAt: r.raised_at,
  eventId: r.event_id,
  ackedAt: r.acked_at,
  ackedBy: r.acked_by,
  ackNote: r.ack_note,
});

const toUtc = (r: UtcRow): UnableToCollectRecord => ({
  id: r.id,
  sessionId: r.session_id,
  reservationId: r.reservation_id,
  plate: r.plate,
  amount: { amount: r.amount, currency: r.currency },
  at: r.at,
  laneId: r.lane_id,
  eventId: r.event_id,
});

/** Plates are stored normalised; an unparseable plate is kept upper-cased so it still round-trips. */
export function storedPlate(raw: string): string {
  return normalizePlate(raw) ?? raw.toUpperCase();
}

const iso = (ms: number) => new Date(ms).toISOString();

function prepareStatements(db: Database.Database) {
  return {
    counter: db.prepare<[string], number>('SELECT value FROM counters WHERE name = ?').pluck(),
    setCounter: db.prepare('UPDATE counters SET value = ? WHERE name = ?'),
    nextEventId: db
      .prepare<[], number>(
        "UPDATE counters SET value = value + 1 WHERE name = 'last_event_id' RETURNING value",
      )
      .pluck(),
    insertEvent: db.prepare(
      'INSERT INTO outbox (event_id, kind, at, lane_id, correlation_id, payload) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    eventsAfter: db
      .prepare<[number, number], string>(
        'SELECT payload FROM outbox WHERE event_id > ? ORDER BY event_id LIMIT ?',
      )
      .pluck(),
    // Ids follow time, so the oldest `batch` rows are the only candidates: never a full scan.
    pruneEvents: db.prepare(
      `DELETE FROM outbox WHERE event_id IN (
       SELECT event_id FROM outbox WHERE event_id <= ? ORDER BY event_id LIMIT ?) AND at < ?`,
    ),
    latestConfig: db.prepare<[], { version: number; source: string; body: string }>(
      'SELECT version, source, body FROM lot_config ORDER BY version DESC LIMIT 1',
    ),
    insertConfig: db.prepare(
      'INSERT OR REPLACE INTO lot_config (version, source, body, applied_at) VALUES (?, ?, ?, ?)',
    ),
    clearSpots: db.prepare('DELETE FROM spots'),
    insertSpot: db.prepare('INSERT INTO spots (id, idx, label, level, type, pool) VALUES (?, ?, ?, ?, ?, ?)'),
    reservationById: db.prepare<[string], ReservationRow>('SELECT * FROM reservations WHERE id = ?'),
    reservationsForPlate: db.prepare<[string, number, number], ReservationRow>(
      `SELECT * FROM reservations WHERE plate = ? AND end_ms > ? AND start_ms < ?
       AND status IN ('CONFIRMED', 'CHECKED_IN') ORDER BY start_ms LIMIT 16`,
    ),
    reservationsByPlateAll: db.prepare<[string], ReservationRow>(
      'SELECT * FROM reservations WHERE plate = ? ORDER BY start_ms DESC LIMIT 50',
    ),
    // Narrow and raw: the rebuild touches every active row, so it allocates as little as possible.
    activeWindows: db
      .prepare<[number], [string, string, number, number]>(
        `SELECT id, spot_id, start_ms, end_ms FROM reservations
        WHERE end_ms > ? AND status IN ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN')`,
      )
      .raw(),
    upsertReservation: db.prepare(
      `INSERT INTO reservations (id, spot_id, spot_label, vehicle_type, plate, start_ms, end_ms, status, kind,
       price_amount, price_currency, seq, updated_at)
     VALUES (@id, @spot_id, @spot_label, @vehicle_type, @plate, @start_ms, @end_ms, @status, @kind,
       @price_amount, @price_currency, @seq, @updated_at)
     ON CONFLICT (id) DO UPDATE SET spot_id = excluded.spot_id, spot_label = excluded.spot_label,
       vehicle_type = excluded.vehicle_type, plate = excluded.plate, start_ms = excluded.start_ms,
       end_ms = excluded.end_ms, status = excluded.status, kind = excluded.kind,
       price_amount = excluded.price_amount, price_currency = excluded.price_currency,
       seq = max(reservations.seq, excluded.seq), updated_at = excluded.updated_at`,
    ),
    deactivateMissing: db.prepare(
      `UPDATE reservations SET status = 'CANCELLED', updated_at = ?
      WHERE status IN ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN')
        AND id NOT IN (SELECT value FROM json_each(?))`,
    ),
    insideByPlate: db.prepare<[string], SessionRow>(
      'SELECT * FROM sessions WHERE plate = ? AND exited_at IS NULL ORDER BY entered_at DESC LIMIT 1',
    ),
    insideByReservation: db.prepare<[string], SessionRow>(
      'SELECT * FROM sessions WHERE reservation_id = ? AND exited_at IS NULL',
    ),
    sessionById: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?'),
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
    driveupInside: db
      .prepare<[], number>("SELECT count(*) FROM sessions WHERE pool = 'driveup' AND exited_at IS NULL")
      .pluck(),
    insertSession: db.prepare(
      `INSERT INTO sessions (id, kind, reservation_id, plate, credential, pool, spot_id, spot_label,
       reservation_start_ms, reservation_end_ms, overflow_reservation_id, entry_lane_id, correlation_id,
       entered_at, entry_event_id)
     VALUES (@id, @kind, @reservation_id, @plate, @credential, @pool, @spot_id, @spot_label,
       @reservation_start_ms, @reservation_end_ms, @overflow_reservation_id, @entry_lane_id, @correlation_id,
       @entered_at, @entry_event_id)`,
    ),
    closeSession: db.prepare(
      `UPDATE sessions SET exited_at = ?, exit_lane_id = ?, exit_event_id = ?, closed_reason = ?
      WHERE id = ? AND exited_at IS NULL`,
    ),
    addCash: db.prepare('UPDATE sessions SET cash_paid = cash_paid + ? WHERE id = ? AND exited_at IS NULL'),
    passbackState: db
      .prepare<[string], string>('SELECT state FROM passback WHERE reservation_id = ?')
      .pluck(),
    setPassback: db.prepare(
      `INSERT INTO passback (reservation_id, state, session_id, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (reservation_id) DO UPDATE SET state = excluded.state, session_id = excluded.session_id,
       updated_at = excluded.updated_at`,
    ),
    insertAlarm: db.prepare<unknown[], AlarmRow>(
      'INSERT INTO alarms (kind, lane_id, detail, raised_at, event_id) VALUES (?, ?, ?, ?, ?) RETURNING *',
    ),
    ackAlarm: db.prepare<[number, string, string | null, number], AlarmRow>(
      'UPDATE alarms SET acked_at = ?, acked_by = ?, ack_note = ? WHERE id = ? AND acked_at IS NULL RETURNING *',
    ),
    alarmById: db.prepare<[number], AlarmRow>('SELECT * FROM alarms WHERE id = ?'),
    openAlarms: db.prepare<[number], AlarmRow>(
      'SELECT * FROM alarms WHERE acked_at IS NULL ORDER BY raised_at DESC, id DESC LIMIT ?',
    ),
    allAlarms: db.prepare<[number], AlarmRow>(
      'SELECT * FROM alarms ORDER BY raised_at DESC, id DESC LIMIT ?',
    ),
    openAlarmCount: db.prepare<[], number>('SELECT count(*) FROM alarms WHERE acked_at IS NULL').pluck(),
    insertUtc: db.prepare(
      `INSERT INTO unable_to_collect (session_id, reservation_id, plate, amount, currency, at, lane_id, event_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    utcBetween: db.prepare<[number, number], UtcRow>(
      'SELECT * FROM unable_to_collect WHERE at >= ? AND at < ? ORDER BY at, id',
    ),
    insertAudit: db.prepare(
      'INSERT INTO audit_log (at, attendant, action, reason, target, detail, event_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    recentAudit: db.prepare<
      [number],
      {
        id: number;
        at: number;
        attendant: string;
        action: string;
        reason: string | null;
        target: string | null;
        detail: string;
        event_id: number | null;
      }
    >('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?'),
    attendant: db.prepare<
      [string],
      { username: string; display_name: string; password_hash: string; disabled: number }
    >('SELECT username, display_name, password_hash, disabled FROM attendants WHERE username = ?'),
    commandSeen: db.prepare<[string], number>('SELECT 1 FROM commands WHERE command_id = ?').pluck(),
    insertCommand: db.prepare(
      'INSERT OR IGNORE INTO commands (command_id, ok, detail, at, event_id) VALUES (?, ?, ?, ?, ?)',
    ),
    upsertAttendant: db.prepare(
      `INSERT INTO attendants (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name,
       password_hash = excluded.password_hash, disabled = 0`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** Spot lookups derived from one config version. */
export class LotIndex {
  readonly spots: readonly Spot[];
  readonly indexById: ReadonlyMap<string, number>;
  /** Bookable spot indices eligible per vehicle type, in config order. */
  readonly bookableFor: ReadonlyMap<VehicleType, Int32Array>;
  readonly bookable: Int32Array;
  readonly driveupCount: number;

  constructor(lot: LotConfig) {
    this.spots = lot.spots;
    this.indexById = new Map(lot.spots.map((s, i) => [s.id, i]));
    const bookable: number[] = [];
    let driveup = 0;
    lot.spots.forEach((s, i) => {
      if (s.pool === 'bookable') bookable.push(i);
      else driveup++;
    });
    this.bookable = Int32Array.from(bookable);
    this.driveupCount = driveup;
    const byType = new Map<VehicleType, Int32Array>();
    for (const vt of Object.keys(ELIGIBLE_SPOT_TYPES) as VehicleType[]) {
      const eligible = ELIGIBLE_SPOT_TYPES[vt];
      byType.set(vt, Int32Array.from(bookable.filter((i) => eligible.includes(lot.spots[i]!.type))));
    }
    this.bookableFor = byType;
  }
}

/**
 * The edge's durable state in one SQLite file. Every gate event is appended to the outbox in the
 * same transaction as the state change it reports, with the next gapless event id.
 */
export class EdgeStore implements StoreView {
  readonly db: Database.Database;
  readonly lotId: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  #config!: StoredConfig;
  #index!: LotIndex;
  #bitmap!: LotBitmap;
  #listeners = new Set<(notice: CommitNotice) => void>();
  #pendingEvents: GateEvent[] = [];
  #pendingAlarms: AlarmRecord[] = [];
  #pendingAudits: AuditRecord[] = [];
  #pendingAcks: AlarmRecord[] = [];
  readonly #tx: <T>(fn: () => T) => T;
  // Prepared statements: every hot read and every write.
  readonly #q: Statements;

  private constructor(db: Database.Database, opts: OpenStoreOptions) {
    this.db = db;
    this.lotId = opts.lotId;
    this.#clock = opts.clock;
    this.#log = opts.logger;
    const txn = db.transaction((fn: () => unknown) => fn());
    this.#tx = <T>(fn: () => T) => txn(fn) as T;
    this.#q = prepareStatements(db);
  }

  /** Opens (creating if needed) the file, applies pragmas and migrations, loads config, rebuilds the bitmap. */
  static open(opts: OpenStoreOptions): EdgeStore {
    const db = new Database(opts.path);
    try {
      // WAL + synchronous=FULL: a commit returns only after the WAL is fsynced, so a recorded
      // passage and its outbox event survive power loss (NORMAL could lose the last commits).
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      // 8 MB page cache (better-sqlite3 defaults to 16 MB): the gate's working set is the plate and
      // id indexes plus today's rows; the OS file cache holds the rest.
      db.pragma('cache_size = -8000');
      migrate(db, undefined, opts.clock.now());
      const store = new EdgeStore(db, opts);
      store.#loadConfig(opts.fileConfig);
      return store;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // -------------------------------------------------------------------------------------------
  // Notifications

  /** Called after every commit that appended events or raised alarms. */
  onCommit(listener: (notice: CommitNotice) => void): Unsubscribe {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** One write transaction; buffered events/alarms are announced only after it commits. */
  #write<T>(fn: () => T): T {
    this.#resetPending();
    let result: T;
    try {
      result = this.#tx(fn);
    } catch (e) {
      this.#resetPending();
      throw e;
    }
    const notice: CommitNotice = {
      events: this.#pendingEvents,
      alarms: this.#pendingAlarms,
      acknowledged: this.#pendingAcks,
      audits: this.#pendingAudits,
    };
    this.#resetPending();
    if (
      notice.events.length > 0 ||
      notice.alarms.length > 0 ||
      notice.acknowledged.length > 0 ||
      notice.audits.length > 0
    ) {
      for (const l of this.#listeners) {
        try {
          l(notice);
        } catch (e) {
          this.#log.error({ err: e }, 'commit listener failed');
        }
      }
    }
    return result;
  }

  #resetPending(): void {
    this.#pendingEvents = [];
    this.#pendingAlarms = [];
    this.#pendingAudits = [];
    this.#pendingAcks = [];
  }

  /** Inside a transaction: the next gapless event id, the row, and the buffered notice. */
  #append(draft: GateEventDraft, atMs: number): GateEvent {
    const eventId = this.#q.nextEventId.get()!;
    const event = { eventId, ...draft } as GateEvent;
    this.#q.insertEvent.run(
      eventId,
      event.kind,
      atMs,
      event.laneId,
      event.correlationId,
      JSON.stringify(event),
    );
    this.#pendingEvents.push(event);
    return event;
  }

  #alarm(
    kind: string,
    laneId: string | null,
    detail: string,
    atMs: number,
    eventId: number | null,
  ): AlarmRecord {
    const row = this.#q.insertAlarm.get(kind, laneId, detail, atMs, eventId)!;
    const alarm = toAlarm(row);
    this.#pendingAlarms.push(alarm);
    return alarm;
  }

  #audit(
    atMs: number,
    attendant: string,
    action: string,
    reason: string | null,
    target: string | null,
    detail: Record<string, unknown>,
    eventId: number | null,
  ): void {
    const { lastInsertRowid } = this.#q.insertAudit.run(
      atMs,
      attendant,
      action,
      reason,
      target,
      JSON.stringify(detail),
      eventId,
    );
    this.#pendingAudits.push({
      id: Number(lastInsertRowid),
      at: atMs,
      attendant,
      action,
      reason,
      target,
      detail,
      eventId,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Config, spots and the occupancy bitmap

  #loadConfig(file: { lot: LotConfig; publicKeys: PublicKeyEntry[] }): void {
    if (file.lot.id !== this.lotId)
      throw new Error(`lot config is for ${file.lot.id}, this edge is ${this.lotId}`);
    const row = this.#q.latestConfig.get();
    if (row && row.version > 0) {
      const body = JSON.parse(row.body) as { lot: LotConfig; publicKeys: PublicKeyEntry[] };
      this.#install({ version: row.version, source: 'sync', lot: body.lot, publicKeys: body.publicKeys });
      return;
    }
    // No cloud config yet: the local file is version 0 and is re-read on every start.
    const config: StoredConfig = { version: 0, source: 'file', lot: file.lot, publicKeys: file.publicKeys };
    this.#write(() => this.#persistConfig(config));
    this.#install(config);
  }

  #persistConfig(config: StoredConfig): void {
    const now = this.#clock.now();
    this.#q.insertConfig.run(
      config.version,
      config.source,
      JSON.stringify({ lot: config.lot, publicKeys: config.publicKeys }),
      now,
    );
    this.#q.clearSpots.run();
    config.lot.spots.forEach((s, i) => {
      this.#q.insertSpot.run(s.id, i, s.label, s.level, s.type, s.pool);
    });
  }

  #install(config: StoredConfig): void {
    this.#config = config;
    this.#index = new LotIndex(config.lot);
    this.rebuildBitmap();
  }

  config(): StoredConfig {
    return this.#config;
  }

  lotIndex(): LotIndex {
    return this.#index;
  }

  /** A cloud config: applied only when newer than what is installed. */
  setConfig(body: { version: number; lot: LotConfig; publicKeys: PublicKeyEntry[] }): { applied: boolean } {
    if (body.lot.id !== this.lotId)
      throw new Error(`config for lot ${body.lot.id} delivered to ${this.lotId}`);
    if (this.#config.source === 'sync' && body.version <= this.#config.version) return { applied: false };
    const config: StoredConfig = {
      version: body.version,
      source: 'sync',
      lot: body.lot,
      publicKeys: body.publicKeys,
    };
    this.#write(() => this.#persistConfig(config));
    this.#install(config);
    this.#log.info({ version: body.version, spots: body.lot.spots.length }, 'lot config installed');
    return { applied: true };
  }

  /** Rebuild the in-memory bitmap from the reservation mirror (at open, on config change, daily). */
  rebuildBitmap(): void {
    const policy = this.#config.lot.policy;
    const nowSlot = slotOf(this.#clock.now());
    const base = nowSlot - SLOTS_PER_DAY;
    const span = (policy.bookingHorizonDays + 2) * SLOTS_PER_DAY + Math.ceil(policy.maxDurationMinutes / 15);
    this.#bitmap = new LotBitmap(this.#index.spots.length, base, span);
    for (const [id, spotId, startMs, endMs] of this.#q.activeWindows.iterate(base * SLOT_MS)) {
      this.#setBits({ id, spotId, startMs, endMs });
    }
  }

  #ensureFresh(): void {
    // Slide a day at a time; a rebuild (not rebase) re-sets reservations that reach the new tail.
    if (slotOf(this.#clock.now()) - this.#bitmap.baseSlot > 2 * SLOTS_PER_DAY) this.rebuildBitmap();
  }

  #setBits(r: Pick<MirrorReservation, 'id' | 'spotId' | 'startMs' | 'endMs'>): void {
    const idx = this.#index.indexById.get(r.spotId);
    if (idx === undefined) return;
    const b = this.#bitmap;
    const s = Math.max(slotOf(r.startMs), b.baseSlot);
    const e = Math.min(Math.ceil(r.endMs / SLOT_MS), b.baseSlot + b.slotSpan);
    if (e <= s) return;
    if (!b.isFree(idx, s, e)) {
      // The cloud is the authority; a conflict here means a bug somewhere, so shout.
      this.#log.error({ reservationId: r.id, spotId: r.spotId }, 'mirror double booking: spot already held');
    }
    b.reserve(idx, s, e);
  }

  #clearBits(r: MirrorReservation): void {
    const idx = this.#index.indexById.get(r.spotId);
    if (idx === undefined) return;
    this.#bitmap.release(idx, slotOf(r.startMs), Math.ceil(r.endMs / SLOT_MS));
  }

  bitmap(): LotBitmap {
    return this.#bitmap;
  }

  // -------------------------------------------------------------------------------------------
  // StoreView (hot reads)

  reservationById(id: string): MirrorReservation | undefined {
    const r = this.#q.reservationById.get(id);
    return r ? toReservation(r) : undefined;
  }

  reservationsForPlate(plate: string, fromMs: number, toMs: number): MirrorReservation[] {
    return this.#q.reservationsForPlate.all(plate, fromMs, toMs).map(toReservation);
  }

  insideByPlate(plate: string): VehicleSession | undefined {
    const r = this.#q.insideByPlate.get(plate);
    return r ? toSession(r) : undefined;
  }

  insideByReservation(reservationId: string): VehicleSession | undefined {
    const r = this.#q.insideByReservation.get(reservationId);
    return r ? toSession(r) : undefined;
  }

  passbackState(reservationId: string): PassbackState | undefined {
    return this.#q.passbackState.get(reservationId) as PassbackState | undefined;
  }

  driveupInside(): number {
    return this.#q.driveupInside.get()!;
  }

  bookableFree(vehicleType: VehicleType, startSlot: number, endSlot: number): number {
    this.#ensureFresh();
    const candidates = this.#index.bookableFor.get(vehicleType);
    if (!candidates || candidates.length === 0) return 0;
    return this.#bitmap.countFree(candidates, startSlot, endSlot);
  }

  // -------------------------------------------------------------------------------------------
  // Gate writes: each one transaction with its outbox event(s)

  recordEntry(e: EntryRecord): { session: VehicleSession; events: GateEvent[] } {
    return this.#write(() => {
      const events: GateEvent[] = [];
      if (e.reservationId !== null) {
        const previous = this.#q.insideByReservation.get(e.reservationId);
        if (previous) this.#q.closeSession.run(e.atMs, e.laneId, null, 'superseded', previous.id);
      }
      if (e.supersedesSessionId !== null) {
        this.#q.closeSession.run(e.atMs, e.laneId, null, 'superseded', e.supersedesSessionId);
      }
      const entry = this.#append(
        {
          kind: 'entry',
          at: iso(e.atMs),
          laneId: e.laneId,
          correlationId: e.correlationId,
          sessionId: e.sessionId,
          reservationId: e.reservationId,
          plate: e.plate,
          credential: e.credential,
          pool: e.pool,
          spotId: e.spotId,
          overflowReservationId: e.overflowReservationId,
        },
        e.atMs,
      );
      events.push(entry);
      this.#q.insertSession.run({
        id: e.sessionId,
        kind: e.kind,
        reservation_id: e.reservationId,
        plate: e.plate,
        credential: e.credential,
        pool: e.pool,
        spot_id: e.spotId,
        spot_label: e.spotLabel,
        reservation_start_ms: e.reservationStartMs,
        reservation_end_ms: e.reservationEndMs,
        overflow_reservation_id: e.overflowReservationId,
        entry_lane_id: e.laneId,
        correlation_id: e.correlationId,
        entered_at: e.atMs,
        entry_event_id: entry.eventId,
      });
      if (e.reservationId !== null) {
        this.#q.setPassback.run(e.reservationId, 'in', e.sessionId, e.atMs);
        if (e.softPassbackViolation) {
          const v = this.#append(
            {
              kind: 'passback_violation',
              at: iso(e.atMs),
              laneId: e.laneId,
              correlationId: e.correlationId,
              reservationId: e.reservationId,
              mode: 'soft',
            },
            e.atMs,
          );
          events.push(v);
          this.#alarm(
            'passback_violation',
            e.laneId,
            `reservation ${e.reservationId} entered again without exiting (soft anti-passback)`,
            e.atMs,
            v.eventId,
          );
        }
      }
      return { session: toSession(this.#q.sessionById.get(e.sessionId)!), events };
    });
  }

  /** Returns null when the session is unknown or already closed (e.g. two exits raced). */
  recordExit(x: ExitRecord): { session: VehicleSession; events: GateEvent[] } | null {
    return this.#write(() => {
      const row = this.#q.sessionById.get(x.sessionId);
      if (!row || row.exited_at !== null) return null;
      const events: GateEvent[] = [];
      const exit = this.#append(
        {
          kind: 'exit',
          at: iso(x.atMs),
          laneId: x.laneId,
          correlationId: x.correlationId,
          sessionId: x.sessionId,
          reservationId: row.reservation_id,
          plate: row.plate,
          charge: x.charge,
          overstayMinutes: x.overstayMinutes,
          settlement: x.settlement,
        },
        x.atMs,
      );
      events.push(exit);
      this.#q.closeSession.run(x.atMs, x.laneId, exit.eventId, 'exit', x.sessionId);
      if (row.reservation_id !== null)
        this.#q.setPassback.run(row.reservation_id, 'out', x.sessionId, x.atMs);
      if (x.settlement === 'owed' && x.owed !== null && x.owed.amount > 0) {
        const owed = this.#append(
          {
            kind: 'unable_to_collect',
            at: iso(x.atMs),
            laneId: x.laneId,
            correlationId: x.correlationId,
            sessionId: x.sessionId,
            reservationId: row.reservation_id,
            plate: row.plate,
            amount: x.owed,
          },
          x.atMs,
        );
        events.push(owed);
        this.#q.insertUtc.run(
          x.sessionId,
          row.reservation_id,
          row.plate,
          x.owed.amount,
          x.owed.currency,
          x.atMs,
          x.laneId,
          owed.eventId,
        );
      }
      return { session: toSession(this.#q.sessionById.get(x.sessionId)!), events };
    });
  }

  /** A single event with no other state change (denied attempt, hard passback violation, command ack). */
  recordEvent(draft: GateEventDraft, atMs: number): GateEvent {
    return this.#write(() => this.#append(draft, atMs));
  }

  /** An event that also raises an alarm for the attendant (tailgate, barrier fault, device lost). */
  recordAlarm(draft: GateEventDraft, atMs: number, detail: string): { event: GateEvent; alarm: AlarmRecord } {
    return this.#write(() => {
      const event = this.#append(draft, atMs);
      const alarm = this.#alarm(draft.kind, draft.laneId, detail, atMs, event.eventId);
      return { event, alarm };
    });
  }

  /** Attendant or cloud command opened a lane. Audited (attendant) and sent up in one transaction. */
  recordManualOpen(m: {
    atMs: number;
    laneId: string;
    attendant: string;
    reason: string;
    correlationId: string | null;
    commandId: string | null;
  }): GateEvent {
    return this.#write(() => {
      const event = this.#append(
        {
          kind: 'manual_open',
          at: iso(m.atMs),
          laneId: m.laneId,
          correlationId: m.correlationId,
          attendant: m.attendant,
          reason: m.reason,
          commandId: m.commandId,
        },
        m.atMs,
      );
      this.#audit(
        m.atMs,
        m.attendant,
        'manual_open',
        m.reason,
        m.laneId,
        { commandId: m.commandId },
        event.eventId,
      );
      return event;
    });
  }

  /** Back to neutral: the attendant asserts the vehicle is not inside; its open session is closed. */
  resetPassback(r: {
    atMs: number;
    reservationId: string;
    attendant: string;
    reason: string;
    commandId: string | null;
  }): { event: GateEvent; closedSessionId: string | null } {
    return this.#write(() => {
      const inside = this.#q.insideByReservation.get(r.reservationId);
      if (inside) this.#q.closeSession.run(r.atMs, null, null, 'passback_reset', inside.id);
      this.#q.setPassback.run(r.reservationId, 'neutral', null, r.atMs);
      const event = this.#append(
        {
          kind: 'passback_reset',
          at: iso(r.atMs),
          laneId: null,
          correlationId: null,
          reservationId: r.reservationId,
          attendant: r.attendant,
          reason: r.reason,
        },
        r.atMs,
      );
      this.#audit(
        r.atMs,
        r.attendant,
        'passback_reset',
        r.reason,
        r.reservationId,
        { closedSessionId: inside?.id ?? null, commandId: r.commandId },
        event.eventId,
      );
      return { event, closedSessionId: inside?.id ?? null };
    });
  }

  /** Cash taken by the attendant for a vehicle still inside. Null when the session is not inside. */
  recordCashPayment(p: {
    atMs: number;
    sessionId: string;
    amount: Money;
    attendant: string;
  }): { event: GateEvent; session: VehicleSession } | null {
    return this.#write(() => {
      const changed = this.#q.addCash.run(p.amount.amount, p.sessionId).changes;
      if (changed === 0) return null;
      const event = this.#append(
        {
          kind: 'cash_payment',
          at: iso(p.atMs),
          laneId: null,
          correlationId: null,
          sessionId: p.sessionId,
          amount: p.amount,
          attendant: p.attendant,
        },
        p.atMs,
      );
      this.#audit(
        p.atMs,
        p.attendant,
        'cash_payment',
        null,
        p.sessionId,
        { amount: p.amount },
        event.eventId,
      );
      return { event, session: toSession(this.#q.sessionById.get(p.sessionId)!) };
    });
  }

  acknowledgeAlarm(a: {
    atMs: number;
    alarmId: number;
    attendant: string;
    note: string | null;
  }): AlarmRecord | null {
    return this.#write(() => {
      const row = this.#q.ackAlarm.get(a.atMs, a.attendant, a.note, a.alarmId);
      if (!row) return null;
      this.#audit(a.atMs, a.attendant, 'alarm_ack', a.note, String(a.alarmId), { kind: row.kind }, null);
      const acked = toAlarm(row);
      this.#pendingAcks.push(acked);
      return acked;
    });
  }

  /** An audit line with no event (e.g. a login). */
  audit(a: {
    atMs: number;
    attendant: string;
    action: string;
    reason?: string | null;
    target?: string | null;
  }): void {
    this.#write(() =>
      this.#audit(a.atMs, a.attendant, a.action, a.reason ?? null, a.target ?? null, {}, null),
    );
  }

  /** A reservation learnt outside the change stream (an online overflow grant); the stream's copy wins later. */
  upsertLocalReservation(r: Reservation): void {
    this.#write(() => {
      const old = this.#q.reservationById.get(r.id);
      const next = this.#upsert(r, old?.seq ?? 0);
      this.#afterUpsert(old ? toReservation(old) : undefined, next);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Sync: booking changes down, cursor, snapshot

  #upsert(r: Reservation, seq: number): MirrorReservation {
    const row = {
      id: r.id,
      spot_id: r.spotId,
      spot_label: r.spotLabel,
      vehicle_type: r.vehicleType,
      plate: storedPlate(r.plate),
      start_ms: Date.parse(r.start),
      end_ms: Date.parse(r.end),
      status: r.status,
      kind: r.kind,
      price_amount: r.price.amount,
      price_currency: r.price.currency,
      seq,
      updated_at: this.#clock.now(),
    };
    this.#q.upsertReservation.run(row);
    return toReservation(row);
  }

  #afterUpsert(old: MirrorReservation | undefined, next: MirrorReservation): void {
    if (old && ACTIVE.has(old.status)) this.#clearBits(old);
    if (ACTIVE.has(next.status)) this.#setBits(next);
  }

  getCursor(): number {
    return this.#q.counter.get('last_seq')!;
  }

  /**
   * Apply booking changes in seq order, idempotently, together with the cursor in one transaction.
   * Already-applied seqs are skipped; at the first gap the batch stops and gapFrom is the cursor there.
   */
  applyChanges(changes: readonly Change[]): ApplyResult {
    const sorted = [...changes].sort((a, b) => a.seq - b.seq);
    const touched: Array<{ old: MirrorReservation | undefined; next: MirrorReservation }> = [];
    const result = this.#write(() => {
      let cursor = this.getCursor();
      let applied = 0;
      let skipped = 0;
      let gapFrom: number | undefined;
      for (const c of sorted) {
        if (c.seq <= cursor) {
          skipped++;
          continue;
        }
        if (c.seq > cursor + 1) {
          gapFrom = cursor;
          break;
        }
        if (c.reservation.lotId === this.lotId) {
          const old = this.#q.reservationById.get(c.reservation.id);
          touched.push({
            old: old ? toReservation(old) : undefined,
            next: this.#upsert(c.reservation, c.seq),
          });
        } else {
          this.#log.warn({ seq: c.seq, lotId: c.reservation.lotId }, 'change for another lot ignored');
        }
        cursor = c.seq;
        applied++;
      }
      this.#q.setCounter.run(cursor, 'last_seq');
      return gapFrom === undefined ? { applied, skipped } : { applied, skipped, gapFrom };
    });
    // The bitmap is memory only: update it once the rows are durable.
    for (const t of touched) this.#afterUpsert(t.old, t.next);
    return result;
  }

  /**
   * Replace the mirror's active reservations with a full snapshot (all parts concatenated) and set
   * the cursor to asOfSeq. Active rows missing from the snapshot are no longer active in the cloud:
   * they are marked CANCELLED so a QR for them is refused.
   */
  applySnapshot(snapshot: { asOfSeq: number; reservations: readonly Reservation[] }): { applied: number } {
    const now = this.#clock.now();
    const ids = snapshot.reservations.filter((r) => r.lotId === this.lotId).map((r) => r.id);
    this.#write(() => {
      this.#q.deactivateMissing.run(now, JSON.stringify(ids));
      for (const r of snapshot.reservations) {
        if (r.lotId === this.lotId) this.#upsert(r, snapshot.asOfSeq);
      }
      this.#q.setCounter.run(snapshot.asOfSeq, 'last_seq');
    });
    this.rebuildBitmap();
    return { applied: ids.length };
  }

  /** Durable dedupe of cloud commands across restarts. */
  commandSeen(commandId: string): boolean {
    return this.#q.commandSeen.get(commandId) !== undefined;
  }

  /** The command_ack event and the dedupe row, in one transaction. */
  recordCommandAck(commandId: string, ok: boolean, detail: string): GateEvent {
    return this.#write(() => {
      const atMs = this.#clock.now();
      const event = this.#append(
        { kind: 'command_ack', at: iso(atMs), laneId: null, correlationId: null, commandId, ok, detail },
        atMs,
      );
      this.#q.insertCommand.run(commandId, ok ? 1 : 0, detail, atMs, event.eventId);
      return event;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Outbox

  lastEventId(): number {
    return this.#q.counter.get('last_event_id')!;
  }

  ackedEventId(): number {
    return this.#q.counter.get('acked_event_id')!;
  }

  outboxDepth(): number {
    return this.lastEventId() - this.ackedEventId();
  }

  /** Unacknowledged events after `afterEventId`, in order. */
  pendingEvents(afterEventId: number, limit: number): GateEvent[] {
    const from = Math.max(afterEventId, this.ackedEventId());
    return this.#q.eventsAfter
      .all(from, Math.max(0, Math.min(limit, 10_000)))
      .map((p) => JSON.parse(p) as GateEvent);
  }

  /** Every event after `afterEventId`, acknowledged or not (tests, audits). */
  eventsAfter(afterEventId: number, limit: number): GateEvent[] {
    return this.#q.eventsAfter.all(afterEventId, limit).map((p) => JSON.parse(p) as GateEvent);
  }

  /** The cloud stored everything up to `upTo`; the watermark only moves forward. */
  ackEvents(upTo: number): { acked: number } {
    return this.#tx(() => {
      const last = this.lastEventId();
      const current = this.ackedEventId();
      if (upTo > last) this.#log.error({ upTo, last }, 'cloud acknowledged events this edge never wrote');
      const next = Math.max(current, Math.min(upTo, last));
      if (next !== current) this.#q.setCounter.run(next, 'acked_event_id');
      return { acked: next };
    });
  }

  /**
   * Drop acknowledged events older than `olderThanMs`, at most `batch` per call (short transactions,
   * so a lane never waits long for the database). Unacknowledged events are never pruned.
   */
  pruneAcked(olderThanMs: number, batch = 5000): number {
    return this.#q.pruneEvents.run(this.ackedEventId(), batch, olderThanMs).changes;
  }

  // -------------------------------------------------------------------------------------------
  // Attendant reads

  sessionById(id: string): VehicleSession | undefined {
    const r = this.#q.sessionById.get(id);
    return r ? toSession(r) : undefined;
  }

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
      reservation: this.reservationById(id) ?? null,
      sessions: this.#q.sessionsByReservation.all(id).map(toSession),
      passback: this.passbackState(id) ?? null,
    };
  }

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

  recentAudit(limit: number): AuditRecord[] {
    return this.#q.recentAudit.all(limit).map((r) => ({
      id: r.id,
      at: r.at,
      attendant: r.attendant,
      action: r.action,
      reason: r.reason,
      target: r.target,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
      eventId: r.event_id,
    }));
  }

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

  occupancy(): Occupancy {
    this.#ensureFresh();
    const nowMs = this.#clock.now();
    const slot = slotOf(nowMs);
    const index = this.#index;
    const bitmap = this.#bitmap;
    const levels = new Map<string, OccupancyGroup>();
    const types = new Map<string, OccupancyGroup>();
    let bookableHeld = 0;
    index.spots.forEach((spot, i) => {
      const held = spot.pool === 'bookable' && !bitmap.isFree(i, slot, slot + 1) ? 1 : 0;
      bookableHeld += held;
      for (const [map, key] of [
        [levels, spot.level],
        [types, spot.type],
      ] as const) {
        const g = map.get(key) ?? { key, total: 0, held: 0 };
        g.total++;
        g.held += held;
        map.set(key, g);
      }
    });
    const driveupInside = this.driveupInside();
    const driveupFree = Math.max(0, index.driveupCount - driveupInside);
    const bookableTotal = index.bookable.length;
    return {
      at: iso(nowMs),
      pools: {
        bookable: {
          total: bookableTotal,
          held: bookableHeld,
          free: bookableTotal - bookableHeld,
          full: bookableHeld >= bookableTotal,
        },
        driveup: {
          total: index.driveupCount,
          inside: driveupInside,
          free: driveupFree,
          full: driveupFree === 0,
        },
      },
      levels: [...levels.values()],
      spotTypes: [...types.values()],
      vehiclesInside: this.#q.insideCount.get()!,
      full: driveupFree === 0,
    };
  }

  /** Housekeeping: prune acknowledged events past retention in batches, yielding between them. */
  async housekeeping(retentionDays: number, yieldBetween: () => Promise<void>): Promise<{ pruned: number }> {
    const before = this.#clock.now() - retentionDays * DAY_MS;
    let pruned = 0;
    for (;;) {
      if (!this.db.open) break;
      const n = this.pruneAcked(before);
      pruned += n;
      if (n < 5000) break;
      await yieldBetween();
    }
    return { pruned };
  }
}
