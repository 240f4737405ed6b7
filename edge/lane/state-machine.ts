import { normalizePlate } from '../../protocol/plates.js';
import type { GateCredential } from './decision.js';
import { messages } from './messages.js';

/**
 * One lane at one barrier (docs/architecture.md#the-lane-state-machine), as a pure state machine: inputs are device events,
 * decision results and clock ticks (all stamped with the time by the caller); outputs are commands
 * the lane shell executes. No I/O, no timers, no clock of its own.
 *
 *   IDLE -arming on-> IDENTIFYING -admit-> OPENING -arm open-> OPEN -safety on-> PASSING
 *   PASSING -safety off-> PASSED -> CLOSING -arm down-> IDLE
 *   IDENTIFYING -refused / timeout-> REFUSED (arm stays down) -arming off-> IDLE
 *   OPEN -arming off, nobody passed, after backoutMs-> CLOSING (nothing recorded)
 *
 * Invariant: `lower` is only ever emitted while the safety loop is free; a vehicle arriving on the
 * safety loop while closing reverses the arm.
 */

export type LaneState =
  | 'IDLE'
  | 'IDENTIFYING'
  | 'OPENING'
  | 'OPEN'
  | 'PASSING'
  | 'PASSED'
  | 'CLOSING'
  | 'REFUSED';

export interface LaneTiming {
  /** A credential read before the vehicle reached the arming loop is kept this long. */
  credentialHoldMs: number;
  /** No admit within this after arrival: refused, "please see attendant". */
  identifyTimeoutMs: number;
  /** A confident plate read with no booking: wait this long for a QR, then try it as a drive-up. */
  driveupAfterMs: number;
  /** Open, arming loop vacated, nobody crossed: close after this (the credential stays unused). */
  backoutMs: number;
  /** Without limit switches the arm is assumed up/down after this. */
  armTravelMs: number;
  /** With limit switches, not reaching one within this is a barrier fault. */
  armFaultMs: number;
  /** The same credential read again within this is not decided again (cameras repeat reads). */
  redecideMs: number;
}

export const DEFAULT_LANE_TIMING: LaneTiming = Object.freeze({
  credentialHoldMs: 10_000,
  identifyTimeoutMs: 30_000,
  driveupAfterMs: 4_000,
  backoutMs: 8_000,
  armTravelMs: 3_000,
  armFaultMs: 8_000,
  redecideMs: 3_000,
});

export type Verdict<P> =
  | { kind: 'admit'; display: string[]; passage: P }
  | { kind: 'refuse'; display: string[] }
  | { kind: 'wait'; display: string[]; driveupPlate: string | null };

export type LaneInput<P> =
  | { type: 'arming'; occupied: boolean }
  | { type: 'safety'; occupied: boolean }
  | { type: 'limits'; open: boolean; closed: boolean }
  | { type: 'credential'; credential: GateCredential }
  | { type: 'verdict'; decisionId: string; verdict: Verdict<P> }
  /**
   * Attendant or cloud command; the shell records the manual_open event itself. `passage`: what to
   * record when a vehicle crosses (the attendant's entry, or the exit of the session the lane last
   * read); absent or null: the barrier opens and nothing is recorded at passage.
   */
  | { type: 'manual_open'; passage?: P | null }
  | { type: 'tick' };

export type LaneCommand<P> =
  | { type: 'raise' }
  | { type: 'lower' }
  | { type: 'display'; lines: string[] }
  | { type: 'decide'; decisionId: string; correlationId: string; credential: GateCredential }
  /** The vehicle crossed the safety loop and left it: record the entry/exit now. */
  | { type: 'record_passage'; correlationId: string; passage: P }
  /** An admitted passage that will not happen (backed out, or a verdict that came too late). */
  | { type: 'abandon'; correlationId: string; passage: P; why: 'backed_out' | 'late_verdict' }
  | { type: 'identify_timeout'; correlationId: string }
  | { type: 'alarm'; kind: 'tailgate' | 'barrier_fault'; correlationId: string | null; detail: string };

export interface Transition {
  from: LaneState;
  to: LaneState;
  why: string;
  correlationId: string | null;
}

export interface StepResult<P> {
  state: LaneState;
  commands: LaneCommand<P>[];
  transitions: Transition[];
}

export interface LaneStateMachineOptions {
  direction: 'entry' | 'exit';
  timing: LaneTiming;
  hasLimitSwitches: boolean;
  /** Fresh ids for cycles and decisions (seeded in tests). */
  newId: () => string;
}

interface Cycle<P> {
  correlationId: string;
  /** Id of the decision we wait for, if any. */
  pending: string | null;
  passage: P | null;
  recorded: boolean;
  /** Credential key → when it was last decided in this cycle. */
  consumed: Map<string, number>;
  /** Safety-loop crossings since the arm last started opening. */
  crossings: number;
  identifyDeadline: number;
  driveup: { plate: string; at: number } | null;
  backoutAt: number | null;
  armDeadline: number | null;
}

export interface LaneSnapshot {
  state: LaneState;
  correlationId: string | null;
  arming: boolean;
  safety: boolean;
  limits: { open: boolean; closed: boolean };
  awaitingDecision: boolean;
}

function credentialKey(c: GateCredential): string {
  if (c.kind === 'qr') return `qr:${c.text.trim()}`;
  return `${c.kind}:${normalizePlate(c.plate) ?? c.plate}`;
}

export class LaneStateMachine<P> {
  readonly #opts: LaneStateMachineOptions;
  #state: LaneState = 'IDLE';
  #arming = false;
  #safety = false;
  #limits = { open: false, closed: true };
  #held: { credential: GateCredential; at: number } | null = null;
  #cycle: Cycle<P> | null = null;
  /** Keys consumed by the last cycle, so re-reads of the car that just left are not held for the next. */
  #lastCycleKeys = new Set<string>();
  #out: LaneCommand<P>[] = [];
  #transitions: Transition[] = [];
  #now = 0;

  constructor(options: LaneStateMachineOptions) {
    this.#opts = options;
  }

  get state(): LaneState {
    return this.#state;
  }

  snapshot(): LaneSnapshot {
    return {
      state: this.#state,
      correlationId: this.#cycle?.correlationId ?? null,
      arming: this.#arming,
      safety: this.#safety,
      limits: { ...this.#limits },
      awaitingDecision: this.#cycle?.pending != null,
    };
  }

  /** Sync with the loops and limits read at start; the arm is assumed commanded down. */
  init(
    levels: { arming: boolean; safety: boolean; limits: { open: boolean; closed: boolean } },
    nowMs: number,
  ): StepResult<P> {
    this.#begin(nowMs);
    this.#arming = levels.arming;
    this.#safety = levels.safety;
    this.#limits = { ...levels.limits };
    this.#display(this.#idleDisplay());
    if (this.#arming) this.#startCycle('vehicle waiting at start');
    return this.#end();
  }

  /** When the shell should next send a tick, or null. */
  nextDeadline(): number | null {
    const c = this.#cycle;
    if (!c) return null;
    const candidates: number[] = [];
    if (this.#state === 'IDENTIFYING') {
      candidates.push(c.identifyDeadline);
      if (c.driveup) candidates.push(c.driveup.at);
    }
    if (c.backoutAt !== null && (this.#state === 'OPEN' || this.#state === 'OPENING'))
      candidates.push(c.backoutAt);
    if (c.armDeadline !== null && (this.#state === 'OPENING' || this.#state === 'CLOSING'))
      candidates.push(c.armDeadline);
    return candidates.length === 0 ? null : Math.min(...candidates);
  }

  step(input: LaneInput<P>, nowMs: number): StepResult<P> {
    this.#begin(nowMs);
    switch (input.type) {
      case 'arming':
        this.#onArming(input.occupied);
        break;
      case 'safety':
        this.#onSafety(input.occupied);
        break;
      case 'limits':
        this.#onLimits(input.open, input.closed);
        break;
      case 'credential':
        this.#onCredential(input.credential);
        break;
      case 'verdict':
        this.#onVerdict(input.decisionId, input.verdict);
        break;
      case 'manual_open':
        this.#onManualOpen(input.passage ?? null);
        break;
      case 'tick':
        this.#onTick();
        break;
    }
    return this.#end();
  }

  // -------------------------------------------------------------------------------------------

  #begin(nowMs: number): void {
    this.#now = nowMs;
    this.#out = [];
    this.#transitions = [];
  }

  #end(): StepResult<P> {
    return { state: this.#state, commands: this.#out, transitions: this.#transitions };
  }

  #go(to: LaneState, why: string): void {
    if (to === this.#state) return;
    this.#transitions.push({ from: this.#state, to, why, correlationId: this.#cycle?.correlationId ?? null });
    this.#state = to;
  }

  #display(lines: string[]): void {
    this.#out.push({ type: 'display', lines });
  }

  #idleDisplay(): string[] {
    return this.#opts.direction === 'entry' ? messages.idleEntry() : messages.idleExit();
  }

  #armTimeout(): number {
    return this.#opts.hasLimitSwitches ? this.#opts.timing.armFaultMs : this.#opts.timing.armTravelMs;
  }

  #startCycle(why: string, useHeld = true): Cycle<P> {
    const cycle: Cycle<P> = {
      correlationId: this.#opts.newId(),
      pending: null,
      passage: null,
      recorded: false,
      consumed: new Map(),
      crossings: 0,
      identifyDeadline: this.#now + this.#opts.timing.identifyTimeoutMs,
      driveup: null,
      backoutAt: null,
      armDeadline: null,
    };
    this.#cycle = cycle;
    this.#go('IDENTIFYING', why);
    this.#display(messages.reading());
    const held = this.#held;
    this.#held = null;
    if (useHeld && held && this.#now - held.at <= this.#opts.timing.credentialHoldMs)
      this.#consider(held.credential);
    return cycle;
  }

  #endCycle(why: string): void {
    this.#lastCycleKeys = new Set(this.#cycle?.consumed.keys() ?? []);
    this.#go('IDLE', why);
    this.#cycle = null;
    this.#display(this.#idleDisplay());
    if (this.#arming) this.#startCycle('next vehicle waiting');
  }

  #open(why: string): void {
    const c = this.#cycle!;
    c.driveup = null;
    c.crossings = 0;
    c.armDeadline = this.#now + this.#armTimeout();
    c.backoutAt = this.#arming ? null : this.#now + this.#opts.timing.backoutMs;
    this.#out.push({ type: 'raise' });
    this.#go('OPENING', why);
    if (this.#safety) this.#crossing();
  }

  #close(why: string): void {
    const c = this.#cycle!;
    c.backoutAt = null;
    this.#go('CLOSING', why);
    if (this.#safety) {
      // Never lower onto a vehicle: stay up until the safety loop clears.
      this.#go('PASSING', 'safety loop occupied');
      return;
    }
    c.armDeadline = this.#now + this.#armTimeout();
    this.#out.push({ type: 'lower' });
  }

  /** A vehicle arrived on the safety loop while the arm is up (or rising, or closing). */
  #crossing(): void {
    const c = this.#cycle!;
    c.crossings++;
    c.backoutAt = null;
    if (c.crossings === 2) {
      this.#out.push({
        type: 'alarm',
        kind: 'tailgate',
        correlationId: c.correlationId,
        detail: 'second vehicle crossed the safety loop in one open cycle',
      });
    }
    this.#go(
      'PASSING',
      c.crossings > 1 ? 'another vehicle on the safety loop' : 'vehicle on the safety loop',
    );
  }

  #onArming(occupied: boolean): void {
    this.#arming = occupied;
    const c = this.#cycle;
    switch (this.#state) {
      case 'IDLE':
        if (occupied) this.#startCycle('vehicle on the arming loop');
        break;
      case 'IDENTIFYING':
      case 'REFUSED':
        if (!occupied) this.#endCycle('vehicle left before admission');
        break;
      case 'OPENING':
      case 'OPEN':
        if (c && c.crossings === 0) c.backoutAt = occupied ? null : this.#now + this.#opts.timing.backoutMs;
        break;
      default:
        break;
    }
  }

  #onSafety(occupied: boolean): void {
    const was = this.#safety;
    this.#safety = occupied;
    if (occupied === was) return;
    const c = this.#cycle;
    if (occupied) {
      if (this.#state === 'OPENING' || this.#state === 'OPEN') this.#crossing();
      else if (this.#state === 'CLOSING' && c) {
        // Reverse: a vehicle is under the arm.
        c.armDeadline = null;
        this.#out.push({ type: 'raise' });
        this.#crossing();
      }
      return;
    }
    if (this.#state !== 'PASSING' || !c) return;
    this.#go('PASSED', 'safety loop clear');
    if (c.passage !== null && !c.recorded) {
      c.recorded = true;
      this.#out.push({ type: 'record_passage', correlationId: c.correlationId, passage: c.passage });
    }
    this.#close('vehicle passed');
  }

  #onLimits(open: boolean, closed: boolean): void {
    this.#limits = { open, closed };
    const c = this.#cycle;
    if (this.#state === 'OPENING' && open && c) {
      c.armDeadline = null;
      this.#go('OPEN', 'arm up');
    } else if (this.#state === 'CLOSING' && closed) {
      this.#endCycle('arm down');
    }
  }

  #onCredential(credential: GateCredential): void {
    switch (this.#state) {
      case 'IDENTIFYING':
      case 'REFUSED':
        this.#consider(credential);
        break;
      default: {
        // Most likely the next vehicle: keep the latest read, unless it is a re-read of this one.
        const key = credentialKey(credential);
        const current = this.#cycle?.consumed ?? this.#lastCycleKeys;
        if (!current.has(key)) this.#held = { credential, at: this.#now };
        break;
      }
    }
  }

  /** Decide a credential for the vehicle at the barrier (or hold it while a decision is pending). */
  #consider(credential: GateCredential): void {
    const c = this.#cycle!;
    const key = credentialKey(credential);
    if (c.pending !== null) {
      if (!c.consumed.has(key)) this.#held = { credential, at: this.#now };
      return;
    }
    const last = c.consumed.get(key);
    if (last !== undefined && this.#now - last < this.#opts.timing.redecideMs) return;
    c.consumed.set(key, this.#now);
    c.pending = this.#opts.newId();
    this.#out.push({ type: 'decide', decisionId: c.pending, correlationId: c.correlationId, credential });
  }

  #onVerdict(decisionId: string, verdict: Verdict<P>): void {
    const c = this.#cycle;
    if (!c || c.pending !== decisionId) {
      // The vehicle left or another credential won: an admission that came too late is undone.
      if (verdict.kind === 'admit') {
        this.#out.push({
          type: 'abandon',
          correlationId: c?.correlationId ?? decisionId,
          passage: verdict.passage,
          why: 'late_verdict',
        });
      }
      return;
    }
    c.pending = null;
    if (this.#state !== 'IDENTIFYING' && this.#state !== 'REFUSED') {
      // Opened meanwhile (manual open): nothing to do with this verdict.
      if (verdict.kind === 'admit') {
        this.#out.push({
          type: 'abandon',
          correlationId: c.correlationId,
          passage: verdict.passage,
          why: 'late_verdict',
        });
      }
      return;
    }
    this.#display(verdict.display);
    if (verdict.kind === 'admit') {
      c.passage = verdict.passage;
      this.#open('admitted');
      return;
    }
    if (verdict.kind === 'refuse') {
      c.driveup = null;
      this.#go('REFUSED', 'refused');
    } else if (verdict.driveupPlate !== null && c.driveup?.plate !== verdict.driveupPlate) {
      c.driveup = { plate: verdict.driveupPlate, at: this.#now + this.#opts.timing.driveupAfterMs };
    }
    const held = this.#held;
    if (held) {
      this.#held = null;
      this.#consider(held.credential);
    }
  }

  #onManualOpen(passage: P | null): void {
    switch (this.#state) {
      case 'IDLE':
        this.#startCycle('manual open', false);
        break;
      case 'IDENTIFYING':
      case 'REFUSED':
        // A decision still pending is superseded: its verdict will come back as a late one.
        this.#cycle!.pending = null;
        break;
      case 'CLOSING':
        // The arm is going down after a passage: opening for someone else is a cycle of its own,
        // so each cycle records at most one passage.
        if (passage !== null && this.#cycle!.recorded) {
          this.#lastCycleKeys = new Set(this.#cycle!.consumed.keys());
          this.#cycle = null;
          this.#startCycle('manual open', false);
        }
        break;
      default:
        return; // already open
    }
    const c = this.#cycle!;
    // The attendant's decision replaces any admission of this cycle that was not used.
    if (passage !== null || !c.recorded) c.passage = passage;
    this.#display(messages.manualOpen());
    this.#open('manual open');
  }

  #onTick(): void {
    const c = this.#cycle;
    if (!c) return;
    const now = this.#now;
    switch (this.#state) {
      case 'IDENTIFYING':
        if (c.driveup && now >= c.driveup.at && c.pending === null) {
          const plate = c.driveup.plate;
          c.driveup = null;
          this.#consider({ kind: 'driveup', plate });
        }
        if (now >= c.identifyDeadline && this.#state === 'IDENTIFYING') {
          c.driveup = null;
          this.#display(messages.seeAttendant());
          this.#go('REFUSED', 'no credential accepted in time');
          this.#out.push({ type: 'identify_timeout', correlationId: c.correlationId });
        }
        break;
      case 'OPENING':
        if (c.armDeadline !== null && now >= c.armDeadline) {
          c.armDeadline = null;
          if (this.#opts.hasLimitSwitches) {
            this.#out.push({
              type: 'alarm',
              kind: 'barrier_fault',
              correlationId: c.correlationId,
              detail: 'arm did not reach the open limit switch in time',
            });
          }
          this.#go(
            'OPEN',
            this.#opts.hasLimitSwitches ? 'open limit not reached' : 'arm travel time elapsed',
          );
        }
        if ((this.#state as LaneState) === 'OPEN') this.#checkBackout();
        break;
      case 'OPEN':
        this.#checkBackout();
        break;
      case 'CLOSING':
        if (c.armDeadline !== null && now >= c.armDeadline) {
          c.armDeadline = null;
          if (this.#opts.hasLimitSwitches) {
            this.#out.push({
              type: 'alarm',
              kind: 'barrier_fault',
              correlationId: c.correlationId,
              detail: 'arm did not reach the closed limit switch in time',
            });
          }
          this.#endCycle(
            this.#opts.hasLimitSwitches ? 'closed limit not reached' : 'arm travel time elapsed',
          );
        }
        break;
      default:
        break;
    }
  }

  #checkBackout(): void {
    const c = this.#cycle!;
    if (c.backoutAt === null || this.#now < c.backoutAt || c.crossings > 0) return;
    if (c.passage !== null) {
      this.#out.push({
        type: 'abandon',
        correlationId: c.correlationId,
        passage: c.passage,
        why: 'backed_out',
      });
      c.passage = null;
    }
    this.#display(this.#idleDisplay());
    this.#close('vehicle backed out');
  }
}
