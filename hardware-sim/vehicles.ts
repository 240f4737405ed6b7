import type { GpioValue } from '../edge/devices/types.js';
import { type SimClockLike, sleep } from './clock.js';
import type { SimGpioBus } from './gpio.js';
import type { SimPinWiring } from './arm.js';

/**
 * An inductive loop detector: occupied while at least one simulated vehicle stands on it. It drives
 * the detector's output pin with the configured polarity, like the detector's relay contact.
 */
export class SimLoop {
  readonly #bus: SimGpioBus;
  readonly #wiring: SimPinWiring;
  #vehicles = 0;
  readonly #listeners = new Set<(occupied: boolean) => void>();

  constructor(bus: SimGpioBus, wiring: SimPinWiring) {
    this.#bus = bus;
    this.#wiring = wiring;
    this.#apply();
  }

  occupied(): boolean {
    return this.#vehicles > 0;
  }

  enter(): void {
    this.#vehicles++;
    if (this.#vehicles === 1) this.#apply();
  }

  leave(): void {
    if (this.#vehicles === 0) return;
    this.#vehicles--;
    if (this.#vehicles === 0) this.#apply();
  }

  /** Electrical noise: flips the output for `ms` without any vehicle (the debounce must hide it). */
  async glitch(clock: SimClockLike, ms: number): Promise<void> {
    this.#drive(!this.occupied());
    await sleep(clock, ms);
    this.#apply();
  }

  onChange(cb: (occupied: boolean) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  #apply(): void {
    this.#drive(this.occupied());
    for (const cb of [...this.#listeners]) cb(this.occupied());
  }

  #drive(active: boolean): void {
    const raw: GpioValue = active === !this.#wiring.activeLow ? 1 : 0;
    this.#bus.drive(this.#wiring.pin, raw);
  }
}

/** How long vehicle movements take, in simulated ms. */
export interface VehicleTiming {
  /** Front of the car onto the safety loop until its rear leaves it. */
  passMs: number;
  /** A reversing car clears the arming loop after this long. */
  backOutMs: number;
  /** Bumper-to-bumper gap of a tailgater behind the car in front. */
  tailgateGapMs: number;
}

export const DEFAULT_VEHICLE_TIMING: VehicleTiming = { passMs: 1200, backOutMs: 800, tailgateGapMs: 300 };

/**
 * Vehicle movements over a lane's two loops. The arming loop lies before the arm, the safety loop
 * under it; a passing car covers both for part of the way.
 */
export class SimVehicles {
  readonly #arming: SimLoop;
  readonly #safety: SimLoop;
  readonly #clock: SimClockLike;
  readonly #timing: VehicleTiming;

  constructor(options: {
    arming: SimLoop;
    safety: SimLoop;
    clock: SimClockLike;
    timing?: Partial<VehicleTiming>;
  }) {
    this.#arming = options.arming;
    this.#safety = options.safety;
    this.#clock = options.clock;
    this.#timing = { ...DEFAULT_VEHICLE_TIMING, ...options.timing };
  }

  get timing(): VehicleTiming {
    return this.#timing;
  }

  /** A car pulls up to the barrier. */
  arrive(): void {
    this.#arming.enter();
  }

  /**
   * The waiting car drives under the arm: safety loop on at t, arming loop off at t + passMs/2,
   * safety loop off at t + passMs. Resolves when the car is clear.
   */
  async driveThrough(): Promise<void> {
    const { passMs } = this.#timing;
    this.#safety.enter();
    await sleep(this.#clock, passMs / 2);
    this.#arming.leave();
    await sleep(this.#clock, passMs / 2);
    this.#safety.leave();
  }

  /** The waiting car reverses away: arming loop off after backOutMs. */
  async backOut(): Promise<void> {
    await sleep(this.#clock, this.#timing.backOutMs);
    this.#arming.leave();
  }

  /**
   * The waiting car drives through with a second one on its bumper: the arming loop stays covered
   * (the second car rolls onto it), the safety loop sees two vehicles with a short gap.
   * `onSecondArrives` runs when the second car is on the arming loop (e.g. the camera reads it).
   */
  async tailgate(onSecondArrives?: () => void): Promise<void> {
    const { passMs, tailgateGapMs } = this.#timing;
    this.#safety.enter();
    this.#arming.enter(); // second car
    onSecondArrives?.();
    await sleep(this.#clock, passMs / 2);
    this.#arming.leave(); // first car off the arming loop; second still on it
    await sleep(this.#clock, passMs / 2);
    this.#safety.leave();
    await sleep(this.#clock, tailgateGapMs);
    this.#safety.enter();
    await sleep(this.#clock, passMs / 2);
    this.#arming.leave();
    await sleep(this.#clock, passMs / 2);
    this.#safety.leave();
  }
}
