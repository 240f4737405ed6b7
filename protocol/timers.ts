import type { Random } from './random.js';

/**
 * Timers are injected like the clock, so debounce and reconnect backoff run under sinon fake timers
 * (or the simulator's clock) and nothing in a test sleeps.
 */
export type TimerHandle = ReturnType<typeof setTimeout>;
export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The host's timers, looked up on every call rather than captured at import: sinon's
 * `useFakeTimers()` replaces the globals after our modules have loaded.
 */
export function systemTimers(): Timers {
  return {
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle),
  };
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** When given, each delay is drawn in [delay/2, delay) so a fleet does not reconnect in lockstep. */
  random?: Random;
}

/** Exponential backoff: initial, initial*factor, ... capped at max; reset() after a success. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #random: Random | undefined;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = Math.max(1, options.initialMs ?? 500);
    this.#maxMs = Math.max(this.#initialMs, options.maxMs ?? 30_000);
    this.#factor = Math.max(1, options.factor ?? 2);
    this.#random = options.random;
  }

  /** Number of delays handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  next(): number {
    const raw = Math.min(this.#maxMs, this.#initialMs * this.#factor ** this.#attempt);
    this.#attempt++;
    if (!this.#random) return Math.round(raw);
    return Math.round(raw / 2 + this.#random.next() * (raw / 2));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
