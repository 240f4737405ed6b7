import type { GpioValue } from '../edge/devices/types.js';
import type { SimClockLike } from './clock.js';
import type { SimGpioBus } from './gpio.js';

export interface SimPinWiring {
  pin: number;
  activeLow: boolean;
}

export interface SimArmOptions {
  bus: SimGpioBus;
  clock: SimClockLike;
  relay: SimPinWiring;
  limitOpen?: SimPinWiring;
  limitClosed?: SimPinWiring;
  /** Full travel, down to up or back. */
  travelMs: number;
}

export type ArmState = 'down' | 'raising' | 'up' | 'lowering' | 'jammed';

/**
 * A barrier arm driven by the relay pin: relay active = go up (and stay up), inactive = go down.
 * Position runs 0 (down) .. 1 (up) linearly over `travelMs` of simulated time; a limit switch is
 * made only while the arm rests at its end. A jam freezes the arm where it is, so the far limit is
 * never reached (the driver-level symptom of a barrier fault).
 */
export class SimArm {
  readonly #opts: SimArmOptions;
  #from = 0;
  #since: number;
  #target: 0 | 1 = 0;
  #jammed = false;
  #arrival: ReturnType<SimClockLike['setTimeout']> | null = null;
  readonly #listeners = new Set<(state: ArmState) => void>();
  readonly #unsubscribe: () => void;

  constructor(options: SimArmOptions) {
    this.#opts = options;
    this.#since = options.clock.now();
    this.#driveLimits();
    this.#unsubscribe = options.bus.onOutput(options.relay.pin, (raw) => this.#onRelay(raw));
  }

  /** 0 = down, 1 = up. */
  position(): number {
    if (this.#jammed || this.#arrival === null) return this.#from;
    const elapsed = this.#opts.clock.now() - this.#since;
    const step = elapsed / Math.max(1, this.#opts.travelMs);
    return this.#target === 1 ? Math.min(1, this.#from + step) : Math.max(0, this.#from - step);
  }

  state(): ArmState {
    if (this.#jammed) return 'jammed';
    if (this.#arrival !== null) return this.#target === 1 ? 'raising' : 'lowering';
    return this.#from >= 1 ? 'up' : 'down';
  }

  /** Where the relay is telling the arm to go. */
  target(): 'up' | 'down' {
    return this.#target === 1 ? 'up' : 'down';
  }

  onChange(cb: (state: ArmState) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** Fault injection: the arm stops where it is until released, then carries on to its target. */
  jam(jammed: boolean): void {
    if (jammed === this.#jammed) return;
    if (jammed) {
      this.#freeze();
      this.#jammed = true;
      this.#emit();
    } else {
      this.#jammed = false;
      this.#move();
    }
  }

  close(): void {
    this.#unsubscribe();
    this.#cancelArrival();
    this.#listeners.clear();
  }

  #onRelay(raw: GpioValue): void {
    const active = this.#opts.relay.activeLow ? raw === 0 : raw === 1;
    const target = active ? 1 : 0;
    if (target === this.#target) return;
    this.#freeze();
    this.#target = target;
    if (!this.#jammed) this.#move();
  }

  /** Captures the current position as the new starting point and stops the clockwork. */
  #freeze(): void {
    this.#from = this.position();
    this.#since = this.#opts.clock.now();
    this.#cancelArrival();
  }

  #move(): void {
    this.#since = this.#opts.clock.now();
    const remaining = Math.abs(this.#target - this.#from);
    if (remaining === 0) {
      this.#driveLimits();
      this.#emit();
      return;
    }
    const ms = Math.ceil(remaining * this.#opts.travelMs);
    this.#arrival = this.#opts.clock.setTimeout(() => {
      this.#arrival = null;
      this.#from = this.#target;
      this.#since = this.#opts.clock.now();
      this.#driveLimits();
      this.#emit();
    }, ms);
    // leaving an end stop releases its switch at once
    this.#driveLimits();
    this.#emit();
  }

  #cancelArrival(): void {
    if (this.#arrival !== null) this.#opts.clock.clearTimeout(this.#arrival);
    this.#arrival = null;
  }

  #driveLimits(): void {
    const resting = this.#arrival === null;
    const pos = this.#from;
    this.#setSwitch(this.#opts.limitOpen, resting && pos >= 1);
    this.#setSwitch(this.#opts.limitClosed, resting && pos <= 0);
  }

  #setSwitch(wiring: SimPinWiring | undefined, made: boolean): void {
    if (!wiring) return;
    const raw: GpioValue = made === !wiring.activeLow ? 1 : 0;
    this.#opts.bus.drive(wiring.pin, raw);
  }

  #emit(): void {
    const state = this.state();
    for (const cb of [...this.#listeners]) cb(state);
  }
}
