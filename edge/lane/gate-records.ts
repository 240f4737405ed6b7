import type { Logger } from '../../protocol/logger.js';
import { type GateEnvironment, iso, type LanePassage } from './types.js';

export interface Denial {
  reason: string;
  plate: string | null;
  reservationId: string | null;
  /** Hard anti-passback refused a vehicle recorded as inside: record the violation instead. */
  passbackViolation: boolean;
}

interface Passed {
  sessionId: string;
  plate: string | null;
  reservationId: string | null;
  eventId: number;
}

type RecorderEnv = Pick<GateEnvironment, 'store' | 'bus' | 'metrics' | 'clock' | 'random' | 'hooks'>;

/**
 * What one lane writes to the ledger (passages, denials, alarms) and announces on the bus. Per
 * cycle it remembers the denials already recorded (camera repeats must not flood the outbox) and
 * the session that passed (a tailgate alarm names it).
 */
export class GateRecorder {
  readonly #laneId: string;
  readonly #env: RecorderEnv;
  readonly #log: Logger;
  #cycleId: string | null = null;
  #deniedInCycle = new Set<string>();
  #sessionInCycle: string | null = null;

  constructor(opts: { laneId: string; env: RecorderEnv; log: Logger }) {
    this.#laneId = opts.laneId;
    this.#env = opts.env;
    this.#log = opts.log;
  }

  /** The lane's current cycle; a new one forgets the previous cycle's denials and session. */
  cycle(correlationId: string | null): void {
    if (correlationId === this.#cycleId) return;
    this.#cycleId = correlationId;
    this.#deniedInCycle.clear();
    this.#sessionInCycle = null;
  }

  passage(correlationId: string, passage: LanePassage): void {
    const env = this.#env;
    const atMs = env.clock.now();
    if (passage.direction === 'entry') {
      const { session, events } = env.store.ledger.recordEntry({
        sessionId: env.random.id(16),
        atMs,
        laneId: this.#laneId,
        correlationId,
        ...passage.plan,
      });
      this.#sessionInCycle = session.id;
      const { plate, reservationId } = session;
      this.#passed(
        'entry',
        { sessionId: session.id, plate, reservationId, eventId: events[0]!.eventId },
        correlationId,
        atMs,
      );
      return;
    }
    const p = passage.plan;
    const recorded = env.store.ledger.recordExit({
      sessionId: p.sessionId,
      atMs,
      laneId: this.#laneId,
      correlationId,
      charge: p.charge,
      overstayMinutes: p.overstayMinutes,
      settlement: passage.settlement,
      owed: passage.owed,
      validation: p.validation ?? null,
    });
    if (!recorded) {
      this.#log.warn({ correlationId, sessionId: p.sessionId }, 'exit for a session already closed');
      return;
    }
    this.#sessionInCycle = p.sessionId;
    const { plate, reservationId } = p;
    const eventId = recorded.events[0]!.eventId;
    this.#passed('exit', { sessionId: p.sessionId, plate, reservationId, eventId }, correlationId, atMs);
  }

  #passed(direction: 'entry' | 'exit', passed: Passed, correlationId: string, atMs: number): void {
    const env = this.#env;
    env.metrics.passages.inc({ lane: this.#laneId, direction });
    this.#log.info({ correlationId, ...passed }, `${direction} recorded`);
    env.bus.emit({
      type: 'passage',
      laneId: this.#laneId,
      direction,
      ...passed,
      correlationId,
      at: iso(atMs),
    });
  }

  /** An admission that will not be used; a granted overflow booking is given back. */
  abandon(correlationId: string, passage: LanePassage, why: string): void {
    this.#log.info({ correlationId, why }, 'admission not used');
    if (passage.direction === 'entry' && passage.plan.overflowReservationId !== null) {
      this.cancelOverflow(passage.plan.overflowReservationId);
    }
  }

  cancelOverflow(reservationId: string): void {
    void Promise.resolve(this.#env.hooks().cancelOverflow?.(reservationId)).catch((e: unknown) =>
      this.#log.warn({ err: e, reservationId }, 'overflow cancel failed'),
    );
  }

  /** Once per cycle per (reason, plate, reservation). */
  deny(correlationId: string, d: Denial): void {
    const key = `${d.reason}:${d.plate ?? ''}:${d.reservationId ?? ''}`;
    if (this.#deniedInCycle.has(key)) return;
    this.#deniedInCycle.add(key);
    const env = this.#env;
    const atMs = env.clock.now();
    const base = { at: iso(atMs), laneId: this.#laneId, correlationId };
    env.metrics.denied.inc({ lane: this.#laneId, reason: d.reason });
    if (d.passbackViolation && d.reservationId !== null) {
      env.store.ledger.recordEvent(
        { kind: 'passback_violation', ...base, reservationId: d.reservationId, mode: 'hard' },
        atMs,
      );
      return;
    }
    env.store.ledger.recordEvent(
      { kind: 'denied', ...base, plate: d.plate, reservationId: d.reservationId, reason: d.reason },
      atMs,
    );
  }

  alarm(kind: 'tailgate' | 'barrier_fault', correlationId: string | null, detail: string): void {
    const env = this.#env;
    const atMs = env.clock.now();
    const base = { at: iso(atMs), laneId: this.#laneId, correlationId };
    env.metrics.alarms.inc({ kind });
    this.#log.warn({ correlationId, kind, detail }, 'alarm');
    if (kind === 'tailgate') {
      env.store.ledger.recordAlarm({ kind, ...base, sessionId: this.#sessionInCycle }, atMs, detail);
    } else {
      env.store.ledger.recordAlarm({ kind, ...base, detail }, atMs, detail);
    }
  }
}
