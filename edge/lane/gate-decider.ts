import type { Reservation } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';
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
import { applyDebtPolicy, payAtExitDisplay, payLink, withOnlinePayments } from './money-policy.js';
import { waitForExitPayment } from './exit-payment.js';
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
      const ctx = env.decisionContext(this.#lane);
      decision = decide(ctx, env.store.gateView, credential, env.clock.now());
      if (this.#lane.direction === 'entry')
        decision = applyDebtPolicy(decision, env.store.money, ctx.lot.policy);
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

  /**
   * What is owed is known (less what the stay paid online): charge a booking's stored method, else
   * show the fee with the pay link and wait for the QR payment within the lane's timeout (then the
   * attendant decides); offline, record it as owed. Nobody waits for a network that is down.
   */
  async #settleExit(given: ExitPlan, display: string[], correlationId: string): Promise<LaneVerdict> {
    const env = this.#env;
    const plan = withOnlinePayments(given, env.store.money.paidFor(given.sessionId));
    if (plan.due === null) {
      const settlement: Settlement =
        plan.charge === null ? 'none' : plan.paidOnline !== null ? 'cloud' : 'cash';
      const shown =
        plan.paidOnline !== null && plan.charge !== null ? messages.goodbyePaid(plan.charge) : display;
      return { kind: 'admit', display: shown, passage: { direction: 'exit', plan, settlement, owed: null } };
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
      this.#log.info({ correlationId, reason: result.reason }, 'no online charge: pay at the exit');
    }
    const link = payLink(env.store.money, plan.plate);
    if (env.connectivity.online && link !== null) return this.#payAtExit(plan, plan.due, link, correlationId);
    return {
      kind: 'admit',
      display: messages.goodbyeOwed(plan.due),
      passage: { direction: 'exit', plan, settlement: 'owed', owed: plan.due },
    };
  }

  /**
   * Online, a fee is due: the display shows it with the pay link and the lane waits (the attendant
   * console shows the same display and may take cash instead); paid in time → the arm opens.
   */
  async #payAtExit(plan: ExitPlan, due: Money, link: string, correlationId: string): Promise<LaneVerdict> {
    const env = this.#env;
    this.#devices.display.show(payAtExitDisplay(due, link));
    this.#log.info({ correlationId, due, sessionId: plan.sessionId }, 'exit fee due: waiting for payment');
    const now = (): ExitPlan & { paidOnline: Money | null } => {
      const session = plan.plate === null ? undefined : env.store.gateView.insideByPlate(plan.plate);
      const cash = session?.id === plan.sessionId ? session.cashPaid : (plan.cashPaid?.amount ?? 0);
      const charge = plan.charge ?? due;
      const cashPaid = cash > 0 ? { amount: cash, currency: charge.currency } : null;
      const owed = charge.amount - cash;
      const base = { ...plan, cashPaid, due: owed > 0 ? { amount: owed, currency: charge.currency } : null };
      return withOnlinePayments(base, env.store.money.paidFor(plan.sessionId));
    };
    const paid = await waitForExitPayment({
      bus: env.bus,
      covered: () => now().due === null,
      timers: env.timers,
      // The lane refuses by itself at its identify timeout; the wait ends just before.
      timeoutMs: this.#lane.timing.identifyTimeoutMs - 500,
    });
    if (!paid) {
      this.#log.warn(
        { correlationId, sessionId: plan.sessionId },
        'exit fee not paid in time: see attendant',
      );
      this.#deny(correlationId, {
        reason: 'unpaid',
        plate: plan.plate,
        reservationId: plan.reservationId,
        passbackViolation: false,
      });
      return { kind: 'refuse', display: messages.seeAttendant() };
    }
    const settled = now();
    return {
      kind: 'admit',
      display: messages.goodbyePaid(plan.charge ?? due),
      passage: {
        direction: 'exit',
        plan: settled,
        settlement: settled.paidOnline !== null ? 'cloud' : 'cash',
        owed: null,
      },
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
      const exit = manualExitPlan(env.decisionContext(this.#lane), env.store.gateView, read, nowMs);
      if (exit === null) return null;
      const plan = withOnlinePayments(exit, env.store.money.paidFor(exit.sessionId));
      if (plan.due === null && plan.paidOnline !== null)
        return { direction: 'exit', plan, settlement: 'cloud', owed: null };
      const settlement: Settlement = plan.due !== null ? 'owed' : plan.charge !== null ? 'cash' : 'none';
      return { direction: 'exit', plan, settlement, owed: plan.due };
    } catch (e) {
      this.#log.error({ err: e }, 'manual open: could not prepare the passage record');
      return null;
    }
  }
}
