import type { Clock } from '../../protocol/clock.js';
import type { Reservation, VehicleType } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';
import { normalizePlate } from '../../protocol/plates.js';
import type { Random } from '../../protocol/random.js';
import type { EdgeBus } from '../bus.js';
import type { Connectivity } from '../connectivity.js';
import type { TimerHandle, Timers } from '../../protocol/timers.js';
import type { DeviceHealth, LaneDevices, Unsubscribe } from '../devices/types.js';
import type { EdgeMetrics } from '../metrics.js';
import type { GateLedger } from '../store/ledger.js';
import type { MirrorStore } from '../store/mirror.js';
import type { Settlement, StoreView } from '../store/types.js';
import {
  type Decision,
  type DecisionContext,
  decide,
  type EntryPlan,
  type ExitPlan,
  type GateCredential,
  manualEntryPlan,
  manualExitPlan,
  overflowPlan,
} from './decision.js';
import { messages } from './messages.js';
import {
  type LaneCommand,
  type LaneInput,
  type LaneSnapshot,
  type LaneState,
  LaneStateMachine,
  type LaneTiming,
  type StepResult,
  type Verdict,
} from './state-machine.js';

/**
 * The thin shell around one LaneStateMachine: device events in, commands out to the devices and
 * the store. Decisions are the pure `decide`; only overflow and online charging are asynchronous
 * (and both have deadlines). Every transition is logged with the lane id and correlation id.
 */

export interface LaneConfig {
  id: string;
  direction: 'entry' | 'exit';
  timing: LaneTiming;
}

export interface ChargeRequest {
  sessionId: string;
  reservationId: string | null;
  plate: string | null;
  amount: Money;
  reason: 'overstay' | 'driveup_fee';
  /** Same key for the same exit, so a retried or repeated charge is made once. */
  idempotencyKey: string;
  laneId: string;
  correlationId: string;
}

export type ChargeResult = { ok: true; reference?: string } | { ok: false; reason: string };

export interface OverflowHookRequest {
  plate: string;
  vehicleType: VehicleType;
  laneId: string;
  startMs: number;
  endMs: number;
  timeoutMs: number;
}

/** Online-only capabilities the sync client provides. Absent = offline behaviour. */
export interface OnlineHooks {
  requestOverflow?: (req: OverflowHookRequest) => Promise<Reservation | null>;
  cancelOverflow?: (reservationId: string) => Promise<void> | void;
  chargeOnline?: (req: ChargeRequest) => Promise<ChargeResult>;
  /** New outbox events were committed (wakes the publisher). */
  notifyEventsWritten?: () => void;
}

/** The part of the store a lane uses: the decision's reads, its gate writes, an overflow grant. */
export type LaneStore = StoreView &
  Pick<GateLedger, 'recordEntry' | 'recordExit' | 'recordEvent' | 'recordAlarm' | 'recordManualOpen'> &
  Pick<MirrorStore, 'upsertLocalReservation'>;

export interface GateEnvironment {
  store: LaneStore;
  connectivity: Connectivity;
  hooks: () => OnlineHooks;
  decisionContext: (lane: LaneConfig) => DecisionContext;
  bus: EdgeBus;
  metrics: EdgeMetrics;
  clock: Clock;
  random: Random;
  timers: Timers;
  logger: Logger;
  /** Upper bound for an online charge before the exit falls back to "owed". */
  chargeTimeoutMs: number;
}

export type LanePassage =
  | { direction: 'entry'; plan: EntryPlan }
  | { direction: 'exit'; plan: ExitPlan; settlement: Settlement; owed: Money | null };

export interface LaneStatus {
  id: string;
  direction: 'entry' | 'exit';
  state: LaneState;
  since: string;
  correlationId: string | null;
  lastRead: { plate: string; confidence: number; at: string } | null;
  display: string[];
  arm: 'up' | 'down';
  limits: { open: boolean; closed: boolean };
  loops: { arming: boolean; safety: boolean };
  devices: { camera: DeviceHealth; qr: DeviceHealth };
}

const iso = (ms: number) => new Date(ms).toISOString();
const samePlate = (a: string, b: string) => (normalizePlate(a) ?? a) === (normalizePlate(b) ?? b);

export class Lane {
  readonly config: LaneConfig;
  readonly devices: LaneDevices;
  readonly #env: GateEnvironment;
  readonly #log: Logger;
  readonly #sm: LaneStateMachine<LanePassage>;
  #queue: LaneInput<LanePassage>[] = [];
  #draining = false;
  #timer: TimerHandle | null = null;
  #subs: Unsubscribe[] = [];
  #since: number;
  /**
   * The camera's last read. `decidedIn`: the cycle (correlation id) that decided on this plate;
   * `used`: that cycle recorded its passage, so the read belongs to a vehicle that has gone through
   * and a manual open must not attribute it to the next one.
   */
  #lastRead: {
    plate: string;
    confidence: number;
    at: number;
    decidedIn: string | null;
    used: boolean;
  } | null = null;
  /** Per cycle: denials already recorded (camera repeats must not flood the outbox) and the session. */
  #cycleId: string | null = null;
  #deniedInCycle = new Set<string>();
  #sessionInCycle: string | null = null;
  #started = false;
  #deviceLost = new Set<'camera' | 'qr'>();
  /** Last health announced on the bus per device, so only changes are pushed. */
  #deviceHealthSeen = new Map<'camera' | 'qr', DeviceHealth>();

  constructor(config: LaneConfig, devices: LaneDevices, env: GateEnvironment) {
    this.config = config;
    this.devices = devices;
    this.#env = env;
    this.#log = env.logger.child({ laneId: config.id, direction: config.direction });
    this.#since = env.clock.now();
    this.#sm = new LaneStateMachine<LanePassage>({
      direction: config.direction,
      timing: config.timing,
      hasLimitSwitches: devices.barrier.hasLimitSwitches,
      newId: () => env.random.id(12),
    });
  }

  get state(): LaneState {
    return this.#sm.state;
  }

  snapshot(): LaneSnapshot {
    return this.#sm.snapshot();
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const d = this.devices;
    // Safe at boot: the driver already drove the relay down; make sure, unless a vehicle is under it.
    if (d.barrier.commanded() === 'up' && !d.safetyLoop.occupied()) d.barrier.lower();
    this.#subs.push(
      d.armingLoop.onChange((occupied) => this.#feed({ type: 'arming', occupied })),
      d.safetyLoop.onChange((occupied) => this.#feed({ type: 'safety', occupied })),
      d.barrier.onLimits((l) => this.#feed({ type: 'limits', open: l.open, closed: l.closed })),
    );
    if (d.camera) {
      this.#deviceHealthSeen.set('camera', d.camera.health());
      this.#subs.push(
        d.camera.onRead((read) => {
          if (read.laneId !== this.config.id) {
            this.#log.warn({ frameLane: read.laneId }, 'plate read for another lane ignored');
            return;
          }
          const at = this.#env.clock.now();
          const previous = this.#lastRead;
          const same = previous !== null && samePlate(previous.plate, read.plate);
          this.#lastRead = {
            plate: read.plate,
            confidence: read.confidence,
            at,
            // A repeat read of the same plate keeps what is known about it.
            decidedIn: same ? previous.decidedIn : null,
            used: same ? previous.used : false,
          };
          this.#env.bus.emit({
            type: 'read',
            laneId: this.config.id,
            plate: read.plate,
            confidence: read.confidence,
            at: iso(at),
          });
          this.#feed({
            type: 'credential',
            credential: { kind: 'plate', plate: read.plate, confidence: read.confidence },
          });
        }),
        d.camera.onHealth((h, detail) => this.#deviceHealth('camera', h, detail)),
      );
    }
    if (d.qr) {
      this.#deviceHealthSeen.set('qr', d.qr.health());
      this.#subs.push(
        d.qr.onCode((text) => this.#feed({ type: 'credential', credential: { kind: 'qr', text } })),
        d.qr.onHealth((h, detail) => this.#deviceHealth('qr', h, detail)),
      );
    }
    this.#apply(
      this.#sm.init(
        { arming: d.armingLoop.occupied(), safety: d.safetyLoop.occupied(), limits: d.barrier.limits() },
        this.#env.clock.now(),
      ),
    );
    this.#log.info({ state: this.#sm.state }, 'lane started');
  }

  /** Stops listening; the arm goes down unless a vehicle is under it. Devices are closed by the owner. */
  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    for (const off of this.#subs.splice(0)) off();
    if (this.#timer !== null) this.#env.timers.clearTimeout(this.#timer);
    this.#timer = null;
    const d = this.devices;
    if (d.barrier.commanded() === 'up') {
      if (d.safetyLoop.occupied()) this.#log.warn('stopping with a vehicle under the arm: arm left up');
      else d.barrier.lower();
    }
    this.#log.info('lane stopped');
  }

  status(): LaneStatus {
    const snap = this.#sm.snapshot();
    const d = this.devices;
    return {
      id: this.config.id,
      direction: this.config.direction,
      state: snap.state,
      since: iso(this.#since),
      correlationId: snap.correlationId,
      lastRead: this.#lastRead && {
        plate: this.#lastRead.plate,
        confidence: this.#lastRead.confidence,
        at: iso(this.#lastRead.at),
      },
      display: d.display.current(),
      arm: d.barrier.commanded(),
      limits: d.barrier.limits(),
      loops: { arming: d.armingLoop.occupied(), safety: d.safetyLoop.occupied() },
      devices: { camera: d.camera?.health() ?? 'absent', qr: d.qr?.health() ?? 'absent' },
    };
  }

  /**
   * Attendant or cloud command: open, and record it (audited). What the vehicle's passage records is
   * decided now: on an entry lane an attendant session (drive-up pool, plate = the lane's last read
   * for this vehicle, if any); on an exit lane the exit of the session of that plate, if one is inside.
   */
  manualOpen(m: { attendant: string; reason: string; commandId: string | null }): {
    ok: boolean;
    detail: string;
  } {
    if (!this.#started) return { ok: false, detail: `lane ${this.config.id} is not running` };
    const before = this.#sm.state;
    if (before === 'OPENING' || before === 'OPEN' || before === 'PASSING' || before === 'PASSED') {
      return { ok: true, detail: 'lane already open' };
    }
    const nowMs = this.#env.clock.now();
    const read = this.#manualRead(nowMs);
    const passage = this.#manualPassage(read, nowMs);
    this.#feed({ type: 'manual_open', passage });
    const correlationId = this.#sm.snapshot().correlationId;
    // The read now belongs to this cycle: once its passage is recorded it is not reused.
    if (passage !== null && read !== null && this.#lastRead !== null)
      this.#lastRead.decidedIn = correlationId;
    this.#env.store.recordManualOpen({
      atMs: nowMs,
      laneId: this.config.id,
      attendant: m.attendant,
      reason: m.reason,
      correlationId,
      commandId: m.commandId,
    });
    this.#log.info(
      {
        correlationId,
        attendant: m.attendant,
        reason: m.reason,
        commandId: m.commandId,
        plate: passage?.plan.plate ?? null,
        sessionId: passage?.direction === 'exit' ? passage.plan.sessionId : undefined,
      },
      'manual open',
    );
    return { ok: true, detail: 'opened' };
  }

  /** The plate read for the vehicle now at the barrier: fresh (credential hold) or decided in this cycle. */
  #manualRead(nowMs: number): { plate: string; confidence: number } | null {
    const read = this.#lastRead;
    if (read === null || read.used) return null;
    const cycle = this.#sm.snapshot().correlationId;
    const fresh = nowMs - read.at <= this.config.timing.credentialHoldMs;
    const thisVehicle = cycle !== null && read.decidedIn === cycle;
    return fresh || thisVehicle ? { plate: read.plate, confidence: read.confidence } : null;
  }

  #manualPassage(read: { plate: string; confidence: number } | null, nowMs: number): LanePassage | null {
    const env = this.#env;
    try {
      if (this.config.direction === 'entry') {
        return { direction: 'entry', plan: manualEntryPlan(env.store, read?.plate ?? null) };
      }
      const plan = manualExitPlan(env.decisionContext(this.config), env.store, read, nowMs);
      if (plan === null) return null;
      // No online charge on a manual open (the arm must not wait): paid in cash, or owed.
      const settlement: Settlement = plan.due !== null ? 'owed' : plan.charge !== null ? 'cash' : 'none';
      return { direction: 'exit', plan, settlement, owed: plan.due };
    } catch (e) {
      this.#log.error({ err: e }, 'manual open: could not prepare the passage record');
      return null;
    }
  }

  // -------------------------------------------------------------------------------------------

  /** Inputs are queued so a command that produces an input (a synchronous verdict) never re-enters. */
  #feed(input: LaneInput<LanePassage>): void {
    this.#queue.push(input);
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        if (!this.#started && next.type !== 'verdict') continue;
        this.#apply(this.#sm.step(next, this.#env.clock.now()));
      }
    } finally {
      this.#draining = false;
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== null) this.#env.timers.clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#started) return;
    const at = this.#sm.nextDeadline();
    if (at === null) return;
    this.#timer = this.#env.timers.setTimeout(
      () => {
        this.#timer = null;
        this.#feed({ type: 'tick' });
      },
      Math.max(0, at - this.#env.clock.now()),
    );
  }

  #apply(result: StepResult<LanePassage>): void {
    const correlationId = this.#sm.snapshot().correlationId;
    if (correlationId !== this.#cycleId) {
      this.#cycleId = correlationId;
      this.#deniedInCycle.clear();
      this.#sessionInCycle = null;
    }
    for (const cmd of result.commands) {
      try {
        this.#execute(cmd);
      } catch (e) {
        this.#log.error({ err: e, command: cmd.type, correlationId }, 'lane command failed');
      }
    }
    for (const t of result.transitions) {
      this.#since = this.#env.clock.now();
      this.#env.metrics.transitions.inc({ lane: this.config.id, to: t.to });
      this.#log.info(
        { correlationId: t.correlationId, from: t.from, to: t.to, why: t.why },
        'lane transition',
      );
      this.#env.bus.emit({
        type: 'lane',
        laneId: this.config.id,
        state: t.to,
        previous: t.from,
        why: t.why,
        correlationId: t.correlationId,
        display: this.devices.display.current(),
        at: iso(this.#since),
      });
    }
  }

  #execute(cmd: LaneCommand<LanePassage>): void {
    const d = this.devices;
    switch (cmd.type) {
      case 'raise':
        d.barrier.raise();
        return;
      case 'lower':
        // Second guard under the state machine's own: never lower onto a vehicle.
        if (d.safetyLoop.occupied()) {
          this.#log.warn('lower refused: safety loop occupied');
          this.#feed({ type: 'safety', occupied: true });
          return;
        }
        d.barrier.lower();
        return;
      case 'display':
        d.display.show(cmd.lines);
        return;
      case 'decide':
        this.#decide(cmd.decisionId, cmd.correlationId, cmd.credential);
        return;
      case 'record_passage':
        this.#recordPassage(cmd.correlationId, cmd.passage);
        return;
      case 'abandon':
        this.#abandon(cmd.correlationId, cmd.passage, cmd.why);
        return;
      case 'identify_timeout':
        this.#deny(cmd.correlationId, 'timeout', this.#lastRead?.plate ?? null, null, false);
        return;
      case 'alarm':
        this.#raiseAlarm(cmd.kind, cmd.correlationId, cmd.detail);
        return;
    }
  }

  #decide(decisionId: string, correlationId: string, credential: GateCredential): void {
    const env = this.#env;
    if (
      credential.kind !== 'qr' &&
      this.#lastRead !== null &&
      samePlate(this.#lastRead.plate, credential.plate)
    ) {
      this.#lastRead.decidedIn = correlationId;
    }
    const started = process.hrtime.bigint();
    let decision: Decision;
    try {
      decision = decide(env.decisionContext(this.config), env.store, credential, env.clock.now());
    } catch (e) {
      this.#log.error({ err: e, correlationId }, 'decision failed');
      decision = {
        kind: 'refuse',
        reason: 'timeout',
        display: messages.seeAttendant(),
        plate: null,
        reservationId: null,
        passbackViolation: false,
      };
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    env.metrics.decisionSeconds.observe({ lane: this.config.id, outcome: decision.kind }, seconds);
    this.#log.info(
      {
        correlationId,
        credential: credential.kind,
        plate: credential.kind === 'qr' ? undefined : credential.plate,
        decision: decision.kind,
        reason: decision.kind === 'refuse' || decision.kind === 'wait' ? decision.reason : undefined,
        micros: Math.round(seconds * 1e6),
      },
      'gate decision',
    );
    const verdict = (v: Verdict<LanePassage>) => this.#feed({ type: 'verdict', decisionId, verdict: v });
    switch (decision.kind) {
      case 'admit':
        verdict({
          kind: 'admit',
          display: decision.display,
          passage: { direction: 'entry', plan: decision.plan },
        });
        return;
      case 'wait':
        verdict({ kind: 'wait', display: decision.display, driveupPlate: decision.driveupPlate });
        return;
      case 'refuse':
        this.#deny(
          correlationId,
          decision.reason,
          decision.plate,
          decision.reservationId,
          decision.passbackViolation,
        );
        verdict({ kind: 'refuse', display: decision.display });
        return;
      case 'overflow':
        this.devices.display.show(decision.display);
        void this.#overflow(decision, correlationId).then(verdict);
        return;
      case 'exit':
        this.#settleExit(decision.plan, decision.display, correlationId).then(verdict, (e: unknown) => {
          this.#log.error({ err: e, correlationId }, 'exit settlement failed');
        });
        return;
    }
  }

  async #overflow(
    decision: Extract<Decision, { kind: 'overflow' }>,
    correlationId: string,
  ): Promise<Verdict<LanePassage>> {
    const env = this.#env;
    const request = env.hooks().requestOverflow;
    const { plate } = decision.request;
    let granted: Reservation | null = null;
    if (request && env.connectivity.online) {
      try {
        granted = await request({
          plate,
          vehicleType: decision.request.vehicleType,
          laneId: this.config.id,
          startMs: decision.request.startMs,
          endMs: decision.request.endMs,
          timeoutMs: decision.request.deadlineMs - env.clock.now(),
        });
      } catch (e) {
        this.#log.warn({ err: e, correlationId }, 'overflow request failed');
      }
    }
    if (granted && env.clock.now() > decision.request.deadlineMs) {
      this.#log.warn(
        { correlationId, reservationId: granted.id },
        'overflow granted after the deadline: cancelled',
      );
      void Promise.resolve(env.hooks().cancelOverflow?.(granted.id)).catch(() => {});
      granted = null;
    }
    if (!granted) {
      this.#deny(correlationId, 'full', plate, null, false);
      return { kind: 'refuse', display: messages.full() };
    }
    env.store.upsertLocalReservation(granted);
    this.#log.info({ correlationId, reservationId: granted.id, spot: granted.spotLabel }, 'overflow granted');
    const { plan, display } = overflowPlan(granted, plate, decision.supersedesSessionId);
    return { kind: 'admit', display, passage: { direction: 'entry', plan } };
  }

  /** What is owed is known; settle it online if possible, else record it as owed. Nobody is trapped. */
  async #settleExit(plan: ExitPlan, display: string[], correlationId: string): Promise<Verdict<LanePassage>> {
    const env = this.#env;
    if (plan.due === null) {
      const settlement: Settlement = plan.charge === null ? 'none' : 'cash';
      return { kind: 'admit', display, passage: { direction: 'exit', plan, settlement, owed: null } };
    }
    const charge = env.hooks().chargeOnline;
    if (charge && env.connectivity.online) {
      this.devices.display.show(messages.oneMoment());
      const result = await this.#withTimeout(
        charge({
          sessionId: plan.sessionId,
          reservationId: plan.reservationId,
          plate: plan.plate,
          amount: plan.due,
          reason: plan.sessionKind === 'booking' ? 'overstay' : 'driveup_fee',
          idempotencyKey: `exit:${plan.sessionId}`,
          laneId: this.config.id,
          correlationId,
        }),
        env.chargeTimeoutMs,
      ).catch(
        (e: unknown): ChargeResult => ({ ok: false, reason: e instanceof Error ? e.message : String(e) }),
      );
      if (result.ok) {
        return {
          kind: 'admit',
          display: messages.goodbyePaid(plan.charge ?? plan.due),
          passage: { direction: 'exit', plan, settlement: 'cloud', owed: null },
        };
      }
      this.#log.warn({ correlationId, reason: result.reason }, 'online charge failed: recorded as owed');
    }
    return {
      kind: 'admit',
      display: messages.goodbyeOwed(plan.due),
      passage: { direction: 'exit', plan, settlement: 'owed', owed: plan.due },
    };
  }

  #withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.#env.timers.setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      promise.then(
        (v) => {
          this.#env.timers.clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          this.#env.timers.clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  #recordPassage(correlationId: string, passage: LanePassage): void {
    const env = this.#env;
    const atMs = env.clock.now();
    if (this.#lastRead?.decidedIn === correlationId) this.#lastRead.used = true;
    if (passage.direction === 'entry') {
      const p = passage.plan;
      const sessionId = env.random.id(16);
      const { session, events } = env.store.recordEntry({
        sessionId,
        atMs,
        laneId: this.config.id,
        correlationId,
        ...p,
      });
      this.#sessionInCycle = session.id;
      this.#passed(
        'entry',
        session.id,
        session.plate,
        session.reservationId,
        events[0]!.eventId,
        correlationId,
        atMs,
      );
      return;
    }
    const p = passage.plan;
    const recorded = env.store.recordExit({
      sessionId: p.sessionId,
      atMs,
      laneId: this.config.id,
      correlationId,
      charge: p.charge,
      overstayMinutes: p.overstayMinutes,
      settlement: passage.settlement,
      owed: passage.owed,
    });
    if (!recorded) {
      this.#log.warn({ correlationId, sessionId: p.sessionId }, 'exit for a session already closed');
      return;
    }
    this.#sessionInCycle = p.sessionId;
    this.#passed(
      'exit',
      p.sessionId,
      p.plate,
      p.reservationId,
      recorded.events[0]!.eventId,
      correlationId,
      atMs,
    );
  }

  #passed(
    direction: 'entry' | 'exit',
    sessionId: string,
    plate: string | null,
    reservationId: string | null,
    eventId: number,
    correlationId: string,
    atMs: number,
  ): void {
    const env = this.#env;
    env.metrics.passages.inc({ lane: this.config.id, direction });
    this.#log.info({ correlationId, sessionId, plate, reservationId, eventId }, `${direction} recorded`);
    env.bus.emit({
      type: 'passage',
      laneId: this.config.id,
      direction,
      sessionId,
      plate,
      reservationId,
      eventId,
      correlationId,
      at: iso(atMs),
    });
  }

  #abandon(correlationId: string, passage: LanePassage, why: string): void {
    this.#log.info({ correlationId, why }, 'admission not used');
    if (passage.direction === 'entry' && passage.plan.overflowReservationId !== null) {
      const id = passage.plan.overflowReservationId;
      void Promise.resolve(this.#env.hooks().cancelOverflow?.(id)).catch((e: unknown) =>
        this.#log.warn({ err: e, reservationId: id }, 'overflow cancel failed'),
      );
    }
  }

  #deny(
    correlationId: string,
    reason: string,
    plate: string | null,
    reservationId: string | null,
    passbackViolation: boolean,
  ): void {
    const key = `${reason}:${plate ?? ''}:${reservationId ?? ''}`;
    if (this.#deniedInCycle.has(key)) return;
    this.#deniedInCycle.add(key);
    const env = this.#env;
    const atMs = env.clock.now();
    env.metrics.denied.inc({ lane: this.config.id, reason });
    if (passbackViolation && reservationId !== null) {
      env.store.recordEvent(
        {
          kind: 'passback_violation',
          at: iso(atMs),
          laneId: this.config.id,
          correlationId,
          reservationId,
          mode: 'hard',
        },
        atMs,
      );
      return;
    }
    env.store.recordEvent(
      { kind: 'denied', at: iso(atMs), laneId: this.config.id, correlationId, plate, reservationId, reason },
      atMs,
    );
  }

  #raiseAlarm(kind: 'tailgate' | 'barrier_fault', correlationId: string | null, detail: string): void {
    const env = this.#env;
    const atMs = env.clock.now();
    env.metrics.alarms.inc({ kind });
    this.#log.warn({ correlationId, kind, detail }, 'alarm');
    if (kind === 'tailgate') {
      env.store.recordAlarm(
        { kind, at: iso(atMs), laneId: this.config.id, correlationId, sessionId: this.#sessionInCycle },
        atMs,
        detail,
      );
    } else {
      env.store.recordAlarm(
        { kind, at: iso(atMs), laneId: this.config.id, correlationId, detail },
        atMs,
        detail,
      );
    }
  }

  #deviceHealth(device: 'camera' | 'qr', health: DeviceHealth, detail: string): void {
    if (this.#deviceHealthSeen.get(device) !== health) {
      this.#deviceHealthSeen.set(device, health);
      this.#env.bus.emit({
        type: 'device',
        laneId: this.config.id,
        device,
        health,
        detail: detail.slice(0, 200),
        at: iso(this.#env.clock.now()),
      });
    }
    // Only edges count: lost once, restored once (a device that was never lost is not "restored").
    if (health === 'lost') {
      if (this.#deviceLost.has(device)) return;
      this.#deviceLost.add(device);
    } else if (health === 'ok') {
      if (!this.#deviceLost.delete(device)) return;
    } else {
      return;
    }
    const env = this.#env;
    const atMs = env.clock.now();
    const state = health === 'lost' ? 'lost' : 'restored';
    this.#log.warn({ device, state, detail }, 'device health');
    const draft = {
      kind: 'device_fault' as const,
      at: iso(atMs),
      laneId: this.config.id,
      correlationId: null,
      device,
      state,
      detail: detail.slice(0, 200),
    } as const;
    if (state === 'lost') {
      env.metrics.alarms.inc({ kind: 'device_fault' });
      env.store.recordAlarm(draft, atMs, `${device} lost: ${detail}`.slice(0, 200));
    } else {
      env.store.recordEvent(draft, atMs);
    }
  }
}
