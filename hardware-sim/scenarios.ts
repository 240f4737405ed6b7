import { seededRandom, type Random } from '../protocol/random.js';
import { type SimClockLike, sleep } from './clock.js';
import type { SimLaneControl } from './lane.js';

/**
 * Seeded traffic: `generateTraffic` turns a seed into a list of vehicle scripts (pure data, so a
 * failing run is replayed from its seed); `runTraffic` / `runVehicleScript` drive them through a
 * simulated lane.
 */

export const VEHICLE_KINDS = [
  'reservation-early',
  'reservation-on-time',
  'reservation-late',
  'reservation-never',
  'drive-up',
  'misread-then-qr',
  'back-out',
  'tailgate',
  'barrier-fault',
] as const;
export type VehicleKind = (typeof VEHICLE_KINDS)[number];

export interface ReservationSpec {
  id: string;
  plate: string;
  /** What the driver's QR code contains (the edge defines the format); defaults to the id. */
  qr?: string;
  startMs: number;
  endMs: number;
}

export type VehicleStep =
  /** Pull up to the barrier; the camera reads `plate` (null: unreadable). */
  | { do: 'arrive'; plate: string | null; misread?: boolean }
  | { do: 'present-qr'; text: string }
  /** Wait for the arm; on timeout either give up and reverse away ('leave') or go on ('continue'). */
  | { do: 'wait-for-arm'; state: 'up' | 'down'; timeoutMs: number; onTimeout: 'leave' | 'continue' }
  | { do: 'drive-through' }
  | { do: 'back-out' }
  /** Drive through with another car (plate read by the camera) on the bumper. */
  | { do: 'tailgate'; plate: string }
  | { do: 'jam-arm'; jammed: boolean }
  | { do: 'pause'; ms: number };

export interface VehicleScript {
  id: string;
  kind: VehicleKind;
  plate: string;
  reservationId: string | null;
  /** Epoch ms at the barrier; null for a reservation holder who never comes. */
  arriveAtMs: number | null;
  steps: VehicleStep[];
}

export interface TrafficOptions {
  seed: number;
  /** Number of vehicles (reservation holders who never come count too). */
  count: number;
  startMs: number;
  reservations?: readonly ReservationSpec[];
  /** Relative weights per kind; kinds needing a reservation fall back to drive-up when none is left. */
  mix?: Partial<Record<VehicleKind, number>>;
  /** Mean gap between unscheduled (drive-up) arrivals [4 min]. */
  meanGapMs?: number;
  /** Early-arrival allowance the lot grants; early arrivals land inside it [15 min]. */
  earlyAllowanceMs?: number;
}

const MINUTE = 60_000;
const DEFAULT_MIX: Record<VehicleKind, number> = {
  'reservation-early': 2,
  'reservation-on-time': 4,
  'reservation-late': 2,
  'reservation-never': 1,
  'drive-up': 4,
  'misread-then-qr': 1,
  'back-out': 1,
  tailgate: 1,
  'barrier-fault': 1,
};
const NEEDS_RESERVATION: ReadonlySet<VehicleKind> = new Set([
  'reservation-early',
  'reservation-on-time',
  'reservation-late',
  'reservation-never',
  'misread-then-qr',
]);

/** The usual "admitted?" wait: a refused driver reverses away. */
const WAIT_ADMIT: VehicleStep = { do: 'wait-for-arm', state: 'up', timeoutMs: 15_000, onTimeout: 'leave' };

/** Same seed and inputs, same scripts. */
export function generateTraffic(options: TrafficOptions): VehicleScript[] {
  const random = seededRandom(options.seed);
  const mix = { ...DEFAULT_MIX, ...options.mix };
  const unused = [...(options.reservations ?? [])];
  const taken = new Set(unused.map((r) => r.plate));
  const meanGap = options.meanGapMs ?? 4 * MINUTE;
  const early = options.earlyAllowanceMs ?? 15 * MINUTE;
  let clock = options.startMs;
  const scripts: VehicleScript[] = [];

  const freshPlate = (): string => {
    for (;;) {
      const plate = randomPlate(random);
      if (!taken.has(plate)) {
        taken.add(plate);
        return plate;
      }
    }
  };
  const nextArrival = (): number => {
    clock += Math.max(1000, Math.round(-Math.log(1 - random.next()) * meanGap));
    return clock;
  };

  for (let n = 0; n < options.count; n++) {
    const id = `v${String(n + 1).padStart(4, '0')}`;
    let kind = weightedPick(random, mix);
    if (NEEDS_RESERVATION.has(kind) && unused.length === 0) kind = 'drive-up';
    const reservation = NEEDS_RESERVATION.has(kind) ? unused.splice(random.int(unused.length), 1)[0]! : null;
    const qr = reservation ? (reservation.qr ?? reservation.id) : '';
    const within = (from: number, to: number) => from + random.int(Math.max(1, to - from));
    const plate = reservation?.plate ?? freshPlate();
    const { arriveAtMs, steps } = vehiclePlan(kind, {
      plate,
      reservation,
      qr,
      early,
      random,
      within,
      nextArrival,
      freshPlate,
    });
    scripts.push({ id, kind, plate, reservationId: reservation?.id ?? null, arriveAtMs, steps });
  }
  // a lane serves vehicles in arrival order; no-shows go last
  return scripts.sort(
    (a, b) => (a.arriveAtMs ?? Number.POSITIVE_INFINITY) - (b.arriveAtMs ?? Number.POSITIVE_INFINITY),
  );
}

/** What the generator knows about one vehicle while planning its visit. */
interface PlanContext {
  plate: string;
  reservation: ReservationSpec | null;
  /** The QR text of the reservation ('' without one). */
  qr: string;
  early: number;
  random: Random;
  within: (from: number, to: number) => number;
  nextArrival: () => number;
  freshPlate: () => string;
}

/** When a vehicle of `kind` turns up and what its driver does (draws from the seeded random in order). */
function vehiclePlan(kind: VehicleKind, c: PlanContext): { arriveAtMs: number | null; steps: VehicleStep[] } {
  const { plate, qr, early, random, within, nextArrival, freshPlate } = c;
  const plan = (arriveAtMs: number | null, steps: VehicleStep[]) => ({ arriveAtMs, steps });
  // kinds that need one are only picked while a reservation is left
  const r = c.reservation!;
  switch (kind) {
    case 'reservation-early':
      return plan(within(r.startMs - early + MINUTE, r.startMs), admitted(plate));
    case 'reservation-on-time':
      return plan(within(r.startMs, Math.min(r.endMs, r.startMs + 10 * MINUTE)), admitted(plate));
    case 'reservation-late':
      return plan(
        within(Math.min(r.endMs - MINUTE, r.startMs + 30 * MINUTE), r.endMs - MINUTE),
        admitted(plate),
      );
    case 'reservation-never':
      return plan(null, []);
    case 'misread-then-qr':
      return plan(within(r.startMs, Math.min(r.endMs, r.startMs + 10 * MINUTE)), [
        { do: 'arrive', plate, misread: true },
        { do: 'wait-for-arm', state: 'up', timeoutMs: 5_000, onTimeout: 'continue' },
        { do: 'present-qr', text: qr },
        WAIT_ADMIT,
        { do: 'drive-through' },
      ]);
    case 'drive-up':
      return plan(nextArrival(), admitted(plate));
    case 'back-out': {
      const arriveAtMs = nextArrival();
      return plan(arriveAtMs, [
        { do: 'arrive', plate },
        { do: 'pause', ms: 2_000 + random.int(8_000) },
        { do: 'back-out' },
      ]);
    }
    case 'tailgate': {
      const arriveAtMs = nextArrival();
      return plan(arriveAtMs, [{ do: 'arrive', plate }, WAIT_ADMIT, { do: 'tailgate', plate: freshPlate() }]);
    }
    case 'barrier-fault':
      return plan(nextArrival(), [
        { do: 'arrive', plate },
        { do: 'jam-arm', jammed: true },
        { do: 'wait-for-arm', state: 'up', timeoutMs: 15_000, onTimeout: 'continue' },
        { do: 'jam-arm', jammed: false },
        WAIT_ADMIT,
        { do: 'drive-through' },
      ]);
  }
}

function admitted(plate: string): VehicleStep[] {
  return [{ do: 'arrive', plate }, WAIT_ADMIT, { do: 'drive-through' }];
}

function weightedPick(random: Random, mix: Record<VehicleKind, number>): VehicleKind {
  const total = VEHICLE_KINDS.reduce((sum, k) => sum + Math.max(0, mix[k]), 0);
  let r = random.next() * total;
  for (const kind of VEHICLE_KINDS) {
    r -= Math.max(0, mix[kind]);
    if (r < 0) return kind;
  }
  return 'drive-up';
}

const LETTERS = 'ABCDEFGHJKLMNPRSTVWXYZ';
/** A plate like "AB123CD". */
export function randomPlate(random: Random): string {
  const l = () => LETTERS[random.int(LETTERS.length)]!;
  const d = () => String(random.int(10));
  return `${l()}${l()}${d()}${d()}${d()}${l()}${l()}`;
}

export interface VehicleOutcome {
  id: string;
  kind: VehicleKind;
  /** 'passed' drove under the arm; 'backed-out' left without entering; 'no-show' never came. */
  result: 'passed' | 'backed-out' | 'no-show';
  arrivedAt: number | null;
  doneAt: number;
  /** Arm waits that timed out (refusals, faults). */
  armTimeouts: number;
}

/** Runs one vehicle through the lane (the vehicle is assumed to be at the barrier's approach). */
export async function runVehicleScript(
  sim: SimLaneControl,
  clock: SimClockLike,
  script: VehicleScript,
): Promise<VehicleOutcome> {
  if (script.arriveAtMs === null) {
    return {
      id: script.id,
      kind: script.kind,
      result: 'no-show',
      arrivedAt: null,
      doneAt: clock.now(),
      armTimeouts: 0,
    };
  }
  const arrivedAt = clock.now();
  let armTimeouts = 0;
  let result: VehicleOutcome['result'] = 'backed-out';
  for (const step of script.steps) {
    let leave = false;
    switch (step.do) {
      case 'arrive':
        await sim.vehicleArrives(step.plate, step.misread === undefined ? {} : { misread: step.misread });
        break;
      case 'present-qr':
        await sim.presentQr(step.text);
        break;
      case 'wait-for-arm':
        if (!(await sim.waitForArm(step.state, step.timeoutMs))) {
          armTimeouts++;
          leave = step.onTimeout === 'leave';
        }
        break;
      case 'drive-through':
        await sim.driveThrough();
        result = 'passed';
        break;
      case 'back-out':
        await sim.backOut();
        break;
      case 'tailgate':
        await sim.tailgate(step.plate);
        result = 'passed';
        break;
      case 'jam-arm':
        sim.jamArm(step.jammed);
        break;
      case 'pause':
        await sleep(clock, step.ms);
        break;
    }
    if (leave) {
      await sim.backOut();
      break;
    }
  }
  return { id: script.id, kind: script.kind, result, arrivedAt, doneAt: clock.now(), armTimeouts };
}

/**
 * Drives scripts through one lane in order: each vehicle comes at its time, or when the one before
 * it has cleared the lane. The caller moves time (fake timers or a real clock).
 */
export async function runTraffic(
  sim: SimLaneControl,
  clock: SimClockLike,
  scripts: readonly VehicleScript[],
  onOutcome?: (outcome: VehicleOutcome) => void,
): Promise<VehicleOutcome[]> {
  const outcomes: VehicleOutcome[] = [];
  for (const script of scripts) {
    if (script.arriveAtMs !== null && script.arriveAtMs > clock.now()) {
      await sleep(clock, script.arriveAtMs - clock.now());
    }
    const outcome = await runVehicleScript(sim, clock, script);
    outcomes.push(outcome);
    onOutcome?.(outcome);
  }
  return outcomes;
}
