import type Database from 'better-sqlite3';
import type { Logger } from '../../protocol/logger.js';
import type { GateEvent } from '../../protocol/mqtt.js';
import type { Unsubscribe } from '../devices/types.js';
import { type AlarmRow, toAlarm } from './rows.js';
import type { AlarmRecord, CommitNotice, GateEventDraft } from './types.js';

export type CounterName = 'last_seq' | 'last_event_id' | 'acked_event_id';

export interface AlarmDraft {
  kind: string;
  laneId: string | null;
  detail: string;
  atMs: number;
  eventId: number | null;
}

export interface AuditDraft {
  atMs: number;
  attendant: string;
  action: string;
  reason: string | null;
  target: string | null;
  detail: Record<string, unknown>;
  eventId: number | null;
}

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
    insertAlarm: db.prepare<unknown[], AlarmRow>(
      'INSERT INTO alarms (kind, lane_id, detail, raised_at, event_id) VALUES (?, ?, ?, ?, ?) RETURNING *',
    ),
    insertAudit: db.prepare(
      'INSERT INTO audit_log (at, attendant, action, reason, target, detail, event_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
  };
}

/**
 * The write side every part of the store shares: one transaction at a time on the one handle, the
 * gapless outbox event ids, alarms and audit lines, and the notice announced once a write commits.
 * Every gate event is appended in the same transaction as the state change it reports.
 */
export class Journal {
  readonly db: Database.Database;
  readonly #log: Logger;
  readonly #q: ReturnType<typeof prepareStatements>;
  readonly #tx: <T>(fn: () => T) => T;
  #listeners = new Set<(notice: CommitNotice) => void>();
  #pending: CommitNotice = emptyNotice();

  constructor(db: Database.Database, logger: Logger) {
    this.db = db;
    this.#log = logger;
    this.#q = prepareStatements(db);
    const txn = db.transaction((fn: () => unknown) => fn());
    this.#tx = <T>(fn: () => T) => txn(fn) as T;
  }

  /** Called after every commit that appended events, raised or acknowledged alarms, or audited. */
  onCommit(listener: (notice: CommitNotice) => void): Unsubscribe {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A transaction that announces nothing (counters only). */
  tx<T>(fn: () => T): T {
    return this.#tx(fn);
  }

  /** One write transaction; buffered events/alarms/audits are announced only after it commits. */
  write<T>(fn: () => T): T {
    this.#pending = emptyNotice();
    let result: T;
    try {
      result = this.#tx(fn);
    } catch (e) {
      this.#pending = emptyNotice();
      throw e;
    }
    const notice = this.#pending;
    this.#pending = emptyNotice();
    if (hasNews(notice)) this.#announce(notice);
    return result;
  }

  #announce(notice: CommitNotice): void {
    for (const l of this.#listeners) {
      try {
        l(notice);
      } catch (e) {
        this.#log.error({ err: e }, 'commit listener failed');
      }
    }
  }

  counter(name: CounterName): number {
    return this.#q.counter.get(name)!;
  }

  setCounter(name: CounterName, value: number): void {
    this.#q.setCounter.run(value, name);
  }

  /** Inside a transaction: the next gapless event id, the row, and the buffered notice. */
  append(draft: GateEventDraft, atMs: number): GateEvent {
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
    this.#pending.events.push(event);
    return event;
  }

  /** Inside a transaction: an alarm for the attendant. */
  raiseAlarm(a: AlarmDraft): AlarmRecord {
    const row = this.#q.insertAlarm.get(a.kind, a.laneId, a.detail, a.atMs, a.eventId)!;
    const alarm = toAlarm(row);
    this.#pending.alarms.push(alarm);
    return alarm;
  }

  /** Inside a transaction: an alarm was acknowledged (announced with the commit). */
  acknowledged(alarm: AlarmRecord): void {
    this.#pending.acknowledged.push(alarm);
  }

  /** Inside a transaction: one audited attendant action. */
  audit(a: AuditDraft): void {
    const { lastInsertRowid } = this.#q.insertAudit.run(
      a.atMs,
      a.attendant,
      a.action,
      a.reason,
      a.target,
      JSON.stringify(a.detail),
      a.eventId,
    );
    this.#pending.audits.push({
      id: Number(lastInsertRowid),
      at: a.atMs,
      attendant: a.attendant,
      action: a.action,
      reason: a.reason,
      target: a.target,
      detail: a.detail,
      eventId: a.eventId,
    });
  }
}

function emptyNotice(): CommitNotice {
  return { events: [], alarms: [], acknowledged: [], audits: [] };
}

function hasNews(n: CommitNotice): boolean {
  return n.events.length > 0 || n.alarms.length > 0 || n.acknowledged.length > 0 || n.audits.length > 0;
}
