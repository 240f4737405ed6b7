import type { Reservation } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { LaneDevices } from '../devices/types.js';
import type { Settlement } from '../store/types.js';
import {
  type Decision,
  decide,
  type ExitPlan,
  type GateCredential,
  manualEntryPlan,
  manualExitPlan,
  overflowPlan,
} from './decision.js';
import type { Denial } from './gate-records.js';
import type { PlateSeen } from './last-read.js';
import { messages } from './messages.js';
import type { Verdict } from './state-machine.js';
import type { ChargeResult, GateEnvironment, LaneConfig, LanePassage } from './types.js';

type LaneVerdict = Verdict<LanePassage>;

const seeAttendant = (): Decision => ({
  kind: 'refuse',
  reason: 'timeout',
  display: messages.seeAttendant(),
  plate: null,
  reservationId: null,
  passbackViolation: false,
});

/**
 * Turns a credential into a verdict for one lane: the pure `decide`, timed and logged, then the
 * two asynchronous outcomes (an online overflow booking, an online charge at exit), each with a
 * deadline so nobody waits at the barrier for the network.
 */
export class GateDecider {
  readonly #lane: LaneConfig;
  readonly #devices: Pick<LaneDevices, 'display'>;
  readonly #env: GateEnvironment;
  readonly #log: Logger;
  readonly #deny: (correlationId: string, denial: Denial) => void;
  readonly #cancelOverflow: (reservationId: string) => void;

  constructor(opts: {
    lane: LaneConfig;
    devices: Pick<LaneDevices, 'display'>;
    env: GateEnvironment;
    log: Logger;
    /** Records a refusal (once per cycle). */
    deny: (correlationId: string, denial: Denial) => void;
    cancelOverflow: (reservationId: string) => void;
  }) {
    this.#lane = opts.lane;
    this.#devices = opts.devices;
    this.#env = opts.env;
    this.#log = opts.log;
    this.#deny = opts.deny;
    this.#cancelOverflow = opts.cancelOverflow;
  }

  /** `verdict` is called once: synchronously, or when the overflow request or charge settles. */
  decide(correlationId: string, credential: GateCredential, verdict: (v: LaneVerdict) => void): void {
    const decision = this.#evaluate(correlationId, credential);
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
        this.#deny(correlationId, decision);
        verdict({ kind: 'refuse', display: decision.display });
        return;
      case 'overflow':
        this.#devices.display.show(decision.display);
        // A failure here (the store closed under a stopping controller, a broken hook) refuses with
        // "see attendant" instead of crashing the process (found by the fleet simulation, seed 55000+).
        this.#overflow(decision, correlationId).then(verdict, (e: unknown) => {
          this.#log.error({ err: e, correlationId }, 'overflow decision failed');
          verdict({ kind: 'refuse', display: messages.seeAttendant() });
        });
        return;
      case 'exit':
        this.#settleExit(decision.plan, decision.display, correlationId).then(verdict, (e: unknown) => {
          this.#log.error({ err: e, correlationId }, 'exit settlement failed');
        });
        return;
    }
  }

  /** The pure decision, timed; a failure is a refusal ("see attendant"), never a stuck lane. */
  #evaluate(correlationId: string, credential: GateCredential): Decision {
    const env = this.#env;
    const started = process.hrtime.bigint();
    let decision: Decision;
    try {
      decision = decide(env.decisionContext(this.#lane), env.store.gateView, credential, env.clock.now());
    } catch (e) {
      this.#log.error({ err: e, correlationId }, 'decision failed');
      decision = seeAttendant();
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    env.metrics.decisionSeconds.observe({ lane: this.#lane.id, outcome: decision.kind }, seconds);
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
    return decision;
  }

  async #overflow(
    decision: Extract<Decision, { kind: 'overflow' }>,
    correlationId: string,
  ): Promise<LaneVerdict> {
    const env = this.#env;
    const { plate } = decision.request;
    let granted = await this.#requestOverflow(decision.request, correlationId);
    if (granted && env.clock.now() > decision.request.deadlineMs) {
      this.#log.warn(
        { correlationId, reservationId: granted.id },
        'overflow granted after the deadline: cancelled',
      );
      this.#cancelOverflow(granted.id);
      granted = null;
    }
    if (!granted) {
      this.#deny(correlationId, { reason: 'full', plate, reservationId: null, passbackViolation: false });
      return { kind: 'refuse', display: messages.full() };
    }
    env.store.mirror.upsertLocalReservation(granted);
    this.#log.info({ correlationId, reservationId: granted.id, spot: granted.spotLabel }, 'overflow granted');
    const { plan, display } = overflowPlan(granted, plate, decision.supersedesSessionId);
    return { kind: 'admit', display, passage: { direction: 'entry', plan } };
  }

  /** Asks the cloud for an overflow booking when online; null when offline, refused or failed. */
  async #requestOverflow(
    request: Extract<Decision, { kind: 'overflow' }>['request'],
    correlationId: string,
  ): Promise<Reservation | null> {
    const env = this.#env;
    const ask = env.hooks().requestOverflow;
    if (!ask || !env.connectivity.online) return null;
    try {
      return await ask({
        plate: request.plate,
        vehicleType: request.vehicleType,
        laneId: this.#lane.id,
        startMs: request.startMs,
        endMs: request.endMs,
        timeoutMs: request.deadlineMs - env.clock.now(),
      });
    } catch (e) {
      this.#log.warn({ err: e, correlationId }, 'overflow request failed');
      return null;
    }
  }

  /** What is owed is known; settle it online if possible, else record it as owed. Nobody is trapped. */
  async #settleExit(plan: ExitPlan, display: string[], correlationId: string): Promise<LaneVerdict> {
    const env = this.#env;
    if (plan.due === null) {
      const settlement: Settlement = plan.charge === null ? 'none' : 'cash';
      return { kind: 'admit', display, passage: { direction: 'exit', plan, settlement, owed: null } };
    }
    const charge = env.hooks().chargeOnline;
    if (charge && env.connectivity.online) {
      this.#devices.display.show(messages.oneMoment());
      const result = await this.#withTimeout(
        charge({
          sessionId: plan.sessionId,
          reservationId: plan.reservationId,
          plate: plan.plate,
          amount: plan.due,
          reason: plan.sessionKind === 'booking' ? 'overstay' : 'driveup_fee',
          idempotencyKey: `exit:${plan.sessionId}`,
          laneId: this.#lane.id,
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
    const timers = this.#env.timers;
    return new Promise<T>((resolve, reject) => {
      const timer = timers.setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      promise.then(
        (v) => {
          timers.clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          timers.clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /**
   * What a manual open's passage records: on an entry lane an attendant session (drive-up pool,
   * plate = the read, if any); on an exit lane the exit of the session of that plate, if one is
   * inside. No online charge (the arm must not wait): paid in cash, or owed.
   */
  manualPassage(read: PlateSeen | null, nowMs: number): LanePassage | null {
    const env = this.#env;
    try {
      if (this.#lane.direction === 'entry') {
        return { direction: 'entry', plan: manualEntryPlan(env.store.gateView, read?.plate ?? null) };
      }
      const plan = manualExitPlan(env.decisionContext(this.#lane), env.store.gateView, read, nowMs);
      if (plan === null) return null;
      const settlement: Settlement = plan.due !== null ? 'owed' : plan.charge !== null ? 'cash' : 'none';
      return { direction: 'exit', plan, settlement, owed: plan.due };
    } catch (e) {
      this.#log.error({ err: e }, 'manual open: could not prepare the passage record');
      return null;
    }
  }
}
