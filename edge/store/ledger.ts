import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';
import type { GateEvent } from '../../protocol/mqtt.js';
import type { Journal } from './journal.js';
import { type AlarmRow, iso, type SessionRow, toAlarm, toSession } from './rows.js';
import type {
  AlarmRecord,
  EntryRecord,
  ExitRecord,
  GateEventDraft,
  PassbackState,
  VehicleSession,
} from './types.js';

const DAY_MS = 86_400_000;
const PRUNE_BATCH = 5000;

export interface GateLedgerOptions {
  journal: Journal;
  clock: Clock;
  logger: Logger;
}

export interface ManualOpenRecord {
  atMs: number;
  laneId: string;
  attendant: string;
  reason: string;
  correlationId: string | null;
  commandId: string | null;
}

export interface PassbackResetRecord {
  atMs: number;
  reservationId: string;
  attendant: string;
  reason: string;
  commandId: string | null;
}

export interface CashPaymentRecord {
  atMs: number;
  sessionId: string;
  amount: Money;
  attendant: string;
}

export interface AlarmAck {
  atMs: number;
  alarmId: number;
  attendant: string;
  note: string | null;
}

function prepareStatements(db: Journal['db']) {
  return {
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
    insideByPlate: db.prepare<[string], SessionRow>(
      'SELECT * FROM sessions WHERE plate = ? AND exited_at IS NULL ORDER BY entered_at DESC LIMIT 1',
    ),
    insideByReservation: db.prepare<[string], SessionRow>(
      'SELECT * FROM sessions WHERE reservation_id = ? AND exited_at IS NULL',
    ),
    sessionById: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?'),
    reservationKnown: db.prepare<[string], number>('SELECT 1 FROM reservations WHERE id = ?').pluck(),
    driveupInside: db
      .prepare<[], number>("SELECT count(*) FROM sessions WHERE pool = 'driveup' AND exited_at IS NULL")
      .pluck(),
    insertSession: db.prepare(
      `INSERT INTO sessions (id, kind, reservation_id, plate, credential, pool, spot_id, spot_label,
       reservation_start_ms, reservation_end_ms, overflow_reservation_id, entry_lane_id, correlation_id,
       entered_at, entry_event_id, permit_id)
     VALUES (@id, @kind, @reservation_id, @plate, @credential, @pool, @spot_id, @spot_label,
       @reservation_start_ms, @reservation_end_ms, @overflow_reservation_id, @entry_lane_id, @correlation_id,
       @entered_at, @entry_event_id, @permit_id)`,
    ),
    permitInside: db
      .prepare<[string], number>('SELECT count(*) FROM sessions WHERE permit_id = ? AND exited_at IS NULL')
      .pluck(),
    insideByPermit: db.prepare<[string], SessionRow>(
      'SELECT * FROM sessions WHERE permit_id = ? AND exited_at IS NULL ORDER BY entered_at DESC LIMIT 1',
    ),
    permitPoolInside: db
      .prepare<[], number>("SELECT count(*) FROM sessions WHERE pool = 'permit' AND exited_at IS NULL")
      .pluck(),
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
    ackAlarm: db.prepare<[number, string, string | null, number], AlarmRow>(
      'UPDATE alarms SET acked_at = ?, acked_by = ?, ack_note = ? WHERE id = ? AND acked_at IS NULL RETURNING *',
    ),
    insertUtc: db.prepare(
      `INSERT INTO unable_to_collect (session_id, reservation_id, plate, amount, currency, at, lane_id, event_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    commandSeen: db.prepare<[string], number>('SELECT 1 FROM commands WHERE command_id = ?').pluck(),
    insertCommand: db.prepare(
      'INSERT OR IGNORE INTO commands (command_id, ok, detail, at, event_id) VALUES (?, ?, ?, ?, ?)',
    ),
  };
}

/**
 * What happened at the gates: vehicle sessions, anti-passback, alarms, cash and command acks, each
 * written in one transaction with the gate event(s) it reports, and the outbox those events wait
 * in until the cloud acknowledges them.
 */
export class GateLedger {
  readonly #journal: Journal;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #q: ReturnType<typeof prepareStatements>;

  constructor(opts: GateLedgerOptions) {
    this.#journal = opts.journal;
    this.#clock = opts.clock;
    this.#log = opts.logger;
    this.#q = prepareStatements(opts.journal.db);
  }

  // -------------------------------------------------------------------------------------------
  // Hot reads for the gate decision (StoreView)

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

  permitInside(permitId: string): number {
    return this.#q.permitInside.get(permitId)!;
  }

  insideByPermit(permitId: string): VehicleSession | undefined {
    const r = this.#q.insideByPermit.get(permitId);
    return r ? toSession(r) : undefined;
  }

  permitPoolInside(): number {
    return this.#q.permitPoolInside.get()!;
  }

  sessionById(id: string): VehicleSession | undefined {
    const r = this.#q.sessionById.get(id);
    return r ? toSession(r) : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Gate writes: each one transaction with its outbox event(s)

  recordEntry(e: EntryRecord): { session: VehicleSession; events: GateEvent[] } {
    return this.#journal.write(() => {
      this.#closeSuperseded(e);
      const entry = this.#journal.append(
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
          ...(e.permitId ? { permitId: e.permitId } : {}),
        },
        e.atMs,
      );
      const events: GateEvent[] = [entry];
      this.#q.insertSession.run({
        id: e.sessionId,
        kind: e.sessionKind,
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
        permit_id: e.permitId ?? null,
      });
      if (e.reservationId !== null) {
        this.#q.setPassback.run(e.reservationId, 'in', e.sessionId, e.atMs);
        if (e.softPassbackViolation) events.push(this.#softPassbackViolation(e, e.reservationId));
      } else if (e.permitId && e.softPassbackViolation) {
        events.push(this.#softPassbackViolation(e, e.permitId));
      }
      return { session: toSession(this.#q.sessionById.get(e.sessionId)!), events };
    });
  }

  /** Sessions an entry replaces: the reservation's open one, and a stale drive-up of the same plate. */
  #closeSuperseded(e: EntryRecord): void {
    if (e.reservationId !== null) {
      const previous = this.#q.insideByReservation.get(e.reservationId);
      if (previous) this.#q.closeSession.run(e.atMs, e.laneId, null, 'superseded', previous.id);
    }
    if (e.supersedesSessionId !== null) {
      this.#q.closeSession.run(e.atMs, e.laneId, null, 'superseded', e.supersedesSessionId);
    }
  }

  #softPassbackViolation(e: EntryRecord, reservationId: string): GateEvent {
    const v = this.#journal.append(
      {
        kind: 'passback_violation',
        at: iso(e.atMs),
        laneId: e.laneId,
        correlationId: e.correlationId,
        reservationId,
        mode: 'soft',
      },
      e.atMs,
    );
    this.#journal.raiseAlarm({
      kind: 'passback_violation',
      laneId: e.laneId,
      detail: `${e.permitId ? 'permit' : 'reservation'} ${reservationId} entered again without exiting (soft anti-passback)`,
      atMs: e.atMs,
      eventId: v.eventId,
    });
    return v;
  }

  /** Returns null when the session is unknown or already closed (e.g. two exits raced). */
  recordExit(x: ExitRecord): { session: VehicleSession; events: GateEvent[] } | null {
    return this.#journal.write(() => {
      const row = this.#q.sessionById.get(x.sessionId);
      if (!row || row.exited_at !== null) return null;
      const exit = this.#journal.append(
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
          validation: x.validation ?? null,
        },
        x.atMs,
      );
      const events: GateEvent[] = [exit];
      this.#q.closeSession.run(x.atMs, x.laneId, exit.eventId, 'exit', x.sessionId);
      if (row.reservation_id !== null)
        this.#q.setPassback.run(row.reservation_id, 'out', x.sessionId, x.atMs);
      if (x.settlement === 'owed' && x.owed !== null && x.owed.amount > 0) {
        events.push(this.#unableToCollect(x, row, x.owed));
      }
      return { session: toSession(this.#q.sessionById.get(x.sessionId)!), events };
    });
  }

  #unableToCollect(x: ExitRecord, row: SessionRow, owed: Money): GateEvent {
    const event = this.#journal.append(
      {
        kind: 'unable_to_collect',
        at: iso(x.atMs),
        laneId: x.laneId,
        correlationId: x.correlationId,
        sessionId: x.sessionId,
        reservationId: row.reservation_id,
        plate: row.plate,
        amount: owed,
      },
      x.atMs,
    );
    this.#q.insertUtc.run(
      x.sessionId,
      row.reservation_id,
      row.plate,
      owed.amount,
      owed.currency,
      x.atMs,
      x.laneId,
      event.eventId,
    );
    return event;
  }

  /** A single event with no other state change (denied attempt, hard passback violation, command ack). */
  recordEvent(draft: GateEventDraft, atMs: number): GateEvent {
    return this.#journal.write(() => this.#journal.append(draft, atMs));
  }

  /** An event that also raises an alarm for the attendant (tailgate, barrier fault, device lost). */
  recordAlarm(draft: GateEventDraft, atMs: number, detail: string): { event: GateEvent; alarm: AlarmRecord } {
    return this.#journal.write(() => {
      const event = this.#journal.append(draft, atMs);
      const alarm = this.#journal.raiseAlarm({
        kind: draft.kind,
        laneId: draft.laneId,
        detail,
        atMs,
        eventId: event.eventId,
      });
      return { event, alarm };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Attendant and cloud actions: audited and sent up in the same transaction

  /** Attendant or cloud command opened a lane. */
  recordManualOpen(m: ManualOpenRecord): GateEvent {
    return this.#journal.write(() => {
      const event = this.#journal.append(
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
      this.#journal.audit({
        atMs: m.atMs,
        attendant: m.attendant,
        action: 'manual_open',
        reason: m.reason,
        target: m.laneId,
        detail: { commandId: m.commandId },
        eventId: event.eventId,
      });
      return event;
    });
  }

  /**
   * Back to neutral: the attendant asserts the vehicle is not inside; its open session is closed.
   * Null (nothing written, audited or sent) when the lot knows no such reservation.
   */
  resetPassback(r: PassbackResetRecord): { event: GateEvent; closedSessionId: string | null } | null {
    return this.#journal.write(() => {
      const inside = this.#q.insideByReservation.get(r.reservationId);
      const known =
        inside !== undefined ||
        this.#q.passbackState.get(r.reservationId) !== undefined ||
        this.#q.reservationKnown.get(r.reservationId) !== undefined;
      if (!known) return null;
      if (inside) this.#q.closeSession.run(r.atMs, null, null, 'passback_reset', inside.id);
      this.#q.setPassback.run(r.reservationId, 'neutral', null, r.atMs);
      return this.#passbackResetEvent(r, r.reservationId, inside?.id ?? null);
    });
  }

  /**
   * Passback reset by vehicle session (a drive-up refused as "already inside" has no reservation): the
   * open session is closed (and its reservation, if any, set neutral). Null when no such session is open.
   */
  resetPassbackBySession(
    r: Omit<PassbackResetRecord, 'reservationId'> & { sessionId: string },
  ): { event: GateEvent; closedSessionId: string } | null {
    return this.#journal.write(() => {
      const session = this.#q.sessionById.get(r.sessionId);
      if (!session || session.exited_at !== null) return null;
      this.#q.closeSession.run(r.atMs, null, null, 'passback_reset', session.id);
      if (session.reservation_id !== null)
        this.#q.setPassback.run(session.reservation_id, 'neutral', null, r.atMs);
      const { event } = this.#passbackResetEvent(r, session.reservation_id, session.id);
      return { event, closedSessionId: session.id };
    });
  }

  #passbackResetEvent(
    r: Omit<PassbackResetRecord, 'reservationId'>,
    reservationId: string | null,
    closedSessionId: string | null,
  ): { event: GateEvent; closedSessionId: string | null } {
    const event = this.#journal.append(
      {
        kind: 'passback_reset',
        at: iso(r.atMs),
        laneId: null,
        correlationId: null,
        reservationId,
        sessionId: closedSessionId,
        attendant: r.attendant,
        reason: r.reason,
      },
      r.atMs,
    );
    this.#journal.audit({
      atMs: r.atMs,
      attendant: r.attendant,
      action: 'passback_reset',
      reason: r.reason,
      target: reservationId ?? `session:${closedSessionId}`,
      detail: { closedSessionId, commandId: r.commandId },
      eventId: event.eventId,
    });
    return { event, closedSessionId };
  }

  /** Cash taken by the attendant for a vehicle still inside. Null when the session is not inside. */
  recordCashPayment(p: CashPaymentRecord): { event: GateEvent; session: VehicleSession } | null {
    return this.#journal.write(() => {
      const changed = this.#q.addCash.run(p.amount.amount, p.sessionId).changes;
      if (changed === 0) return null;
      const event = this.#journal.append(
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
      this.#journal.audit({
        atMs: p.atMs,
        attendant: p.attendant,
        action: 'cash_payment',
        reason: null,
        target: p.sessionId,
        detail: { amount: p.amount },
        eventId: event.eventId,
      });
      return { event, session: toSession(this.#q.sessionById.get(p.sessionId)!) };
    });
  }

  /** Null when the alarm is unknown or already acknowledged. */
  acknowledgeAlarm(a: AlarmAck): AlarmRecord | null {
    return this.#journal.write(() => {
      const row = this.#q.ackAlarm.get(a.atMs, a.attendant, a.note, a.alarmId);
      if (!row) return null;
      this.#journal.audit({
        atMs: a.atMs,
        attendant: a.attendant,
        action: 'alarm_ack',
        reason: a.note,
        target: String(a.alarmId),
        detail: { kind: row.kind },
        eventId: null,
      });
      const acked = toAlarm(row);
      this.#journal.acknowledged(acked);
      return acked;
    });
  }

  /** Durable dedupe of cloud commands across restarts. */
  commandSeen(commandId: string): boolean {
    return this.#q.commandSeen.get(commandId) !== undefined;
  }

  /** The command_ack event and the dedupe row, in one transaction. */
  recordCommandAck(commandId: string, ok: boolean, detail: string): GateEvent {
    return this.#journal.write(() => {
      const atMs = this.#clock.now();
      const event = this.#journal.append(
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
    return this.#journal.counter('last_event_id');
  }

  ackedEventId(): number {
    return this.#journal.counter('acked_event_id');
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
    return this.#journal.tx(() => {
      const last = this.lastEventId();
      const current = this.ackedEventId();
      if (upTo > last) this.#log.error({ upTo, last }, 'cloud acknowledged events this edge never wrote');
      const next = Math.max(current, Math.min(upTo, last));
      if (next !== current) this.#journal.setCounter('acked_event_id', next);
      return { acked: next };
    });
  }

  /**
   * Drop acknowledged events older than `olderThanMs`, at most `batch` per call (short transactions,
   * so a lane never waits long for the database). Unacknowledged events are never pruned.
   */
  pruneAcked(olderThanMs: number, batch = PRUNE_BATCH): number {
    return this.#q.pruneEvents.run(this.ackedEventId(), batch, olderThanMs).changes;
  }

  /** Housekeeping: prune acknowledged events past retention in batches, yielding between them. */
  async housekeeping(retentionDays: number, yieldBetween: () => Promise<void>): Promise<{ pruned: number }> {
    const before = this.#clock.now() - retentionDays * DAY_MS;
    let pruned = 0;
    for (;;) {
      if (!this.#journal.db.open) break;
      const n = this.pruneAcked(before);
      pruned += n;
      if (n < PRUNE_BATCH) break;
      await yieldBetween();
    }
    return { pruned };
  }
}
