/** Time is always injected: production uses the system clock, tests and the simulator a TestClock. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock the test or simulation moves by hand. */
export class TestClock implements Clock {
  #now: number;
  constructor(startMs: number) {
    this.#now = startMs;
  }
  now(): number {
    return this.#now;
  }
  set(epochMs: number): void {
    this.#now = epochMs;
  }
  advance(ms: number): number {
    this.#now += ms;
    return this.#now;
  }
}
