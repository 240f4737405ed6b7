import type { Logger } from '../../protocol/logger.js';
import type { TimerHandle } from '../../protocol/timers.js';
import type { LaneDevices, PlateRead, Unsubscribe } from '../devices/types.js';
import type { GateCredential } from './decision.js';
import { DeviceHealthWatch } from './device-health.js';
import { GateDecider } from './gate-decider.js';
import { GateRecorder } from './gate-records.js';
import { LastRead } from './last-read.js';
import {
  type LaneCommand,
  type LaneInput,
  type LaneSnapshot,
  type LaneState,
  LaneStateMachine,
  type StepResult,
} from './state-machine.js';
import { type GateEnvironment, iso, type LaneConfig, type LanePassage, type LaneStatus } from './types.js';

/** States in which an admitted vehicle may be driving through: the arm is not lowered on stop. */
const VEHICLE_ADMITTED: ReadonlySet<LaneState> = new Set(['OPENING', 'OPEN', 'PASSING', 'PASSED']);

/**
 * The thin shell around one LaneStateMachine: device events in, commands out to the devices and
 * the store. Decisions are the pure `decide` (GateDecider); only overflow and online charging are
 * asynchronous (and both have deadlines). What is written to the ledger is the GateRecorder's.
 * Every transition is logged with the lane id and correlation id.
 */
export class Lane {
  readonly config: LaneConfig;
  readonly devices: LaneDevices;
  readonly #env: GateEnvironment;
  readonly #log: Logger;
  readonly #sm: LaneStateMachine<LanePassage>;
  readonly #lastRead = new LastRead();
  readonly #records: GateRecorder;
  readonly #decider: GateDecider;
  readonly #health: DeviceHealthWatch;
  #queue: LaneInput<LanePassage>[] = [];
  #draining = false;
  #timer: TimerHandle | null = null;
  #subs: Unsubscribe[] = [];
  #since: number;
  #started = false;

  constructor(config: LaneConfig, devices: LaneDevices, env: GateEnvironment) {
    this.config = config;
    this.devices = devices;
    this.#env = env;
    const log = env.logger.child({ laneId: config.id, direction: config.direction });
    this.#log = log;
    this.#since = env.clock.now();
    this.#sm = new LaneStateMachine<LanePassage>({
      direction: config.direction,
      timing: config.timing,
      hasLimitSwitches: devices.barrier.hasLimitSwitches,
      newId: () => env.random.id(12),
    });
    this.#records = new GateRecorder({ laneId: config.id, env, log });
    this.#health = new DeviceHealthWatch({ laneId: config.id, env, log });
    this.#decider = new GateDecider({
      lane: config,
      devices,
      env,
      log,
      deny: (correlationId, denial) => this.#records.deny(correlationId, denial),
      cancelOverflow: (reservationId) => this.#records.cancelOverflow(reservationId),
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
      this.#health.initial('camera', d.camera.health());
      this.#subs.push(
        d.camera.onRead((read) => this.#plateRead(read)),
        d.camera.onHealth((h, detail) => this.#health.report('camera', h, detail)),
      );
    }
    if (d.qr) {
      this.#health.initial('qr', d.qr.health());
      this.#subs.push(
        d.qr.onCode((text) => this.#feed({ type: 'credential', credential: { kind: 'qr', text } })),
        d.qr.onHealth((h, detail) => this.#health.report('qr', h, detail)),
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

  #plateRead(read: PlateRead): void {
    if (read.laneId !== this.config.id) {
      this.#log.warn({ frameLane: read.laneId }, 'plate read for another lane ignored');
      return;
    }
    const at = this.#env.clock.now();
    this.#lastRead.remember(read, at);
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
      // The loop inputs are debounced: a car that reached the safety loop in the last few
      // milliseconds is not "occupied" yet. While an admitted car is on its way through, the arm
      // stays up too (found by the fleet simulation, seeds 20682 and 20787).
      const state = this.#sm.snapshot().state;
      if (d.safetyLoop.occupied() || VEHICLE_ADMITTED.has(state))
        this.#log.warn({ state }, 'stopping with a vehicle at or under the arm: arm left up');
      else d.barrier.lower();
    }
    this.#log.info('lane stopped');
  }

  status(): LaneStatus {
    const snap = this.#sm.snapshot();
    const d = this.devices;
    return {
      id: this.config.id,
      name: this.config.name ?? this.config.id,
      direction: this.config.direction,
      state: snap.state,
      since: iso(this.#since),
      correlationId: snap.correlationId,
      lastRead: this.#lastRead.status(),
      display: d.display.current(),
      arm: d.barrier.commanded(),
      limits: d.barrier.limits(),
      loops: { arming: d.armingLoop.occupied(), safety: d.safetyLoop.occupied() },
      devices: { camera: d.camera?.health() ?? 'absent', qr: d.qr?.health() ?? 'absent' },
    };
  }

  /**
   * Attendant or cloud command: open, and record it (audited). What the vehicle's passage records is
   * decided now (GateDecider.manualPassage), with the lane's last read for this vehicle, if any.
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
    const cycle = this.#sm.snapshot().correlationId;
    const read = this.#lastRead.forManualOpen(nowMs, cycle, this.config.timing.credentialHoldMs);
    const passage = this.#decider.manualPassage(read, nowMs);
    this.#feed({ type: 'manual_open', passage });
    const correlationId = this.#sm.snapshot().correlationId;
    // The read now belongs to this cycle: once its passage is recorded it is not reused.
    if (passage !== null && read !== null) this.#lastRead.claim(correlationId);
    this.#env.store.ledger.recordManualOpen({
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
    this.#records.cycle(correlationId);
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
        this.#lastRead.passageRecorded(cmd.correlationId);
        this.#records.passage(cmd.correlationId, cmd.passage);
        return;
      case 'abandon':
        this.#records.abandon(cmd.correlationId, cmd.passage, cmd.why);
        return;
      case 'identify_timeout': {
        const denial = { reason: 'timeout', plate: this.#lastRead.plate, reservationId: null };
        this.#records.deny(cmd.correlationId, { ...denial, passbackViolation: false });
        return;
      }
      case 'alarm':
        this.#records.alarm(cmd.kind, cmd.correlationId, cmd.detail);
        return;
    }
  }

  #decide(decisionId: string, correlationId: string, credential: GateCredential): void {
    if (credential.kind !== 'qr') this.#lastRead.decidedIn(credential.plate, correlationId);
    this.#decider.decide(correlationId, credential, (verdict) =>
      this.#feed({ type: 'verdict', decisionId, verdict }),
    );
  }
}
