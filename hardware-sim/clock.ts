import type { Clock } from '../protocol/clock.js';
import { systemTimers, type Timers } from '../protocol/timers.js';

/** The simulator's notion of time: a clock plus the timers that move with it. */
export interface SimClockLike extends Clock, Timers {}

/**
 * Host time and host timers, both looked up per call, so under `sinon.useFakeTimers()` the whole
 * simulator (and the drivers sharing these timers) moves only when the test ticks.
 */
export function hostClock(): SimClockLike {
  const timers = systemTimers();
  return { now: () => Date.now(), setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout };
}

/** Resolves after `ms` of simulated time. */
export function sleep(clock: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, Math.max(0, ms));
  });
}

/**
 * What tests should let sinon fake: `sinon.useFakeTimers({ now, ...SIM_FAKE_TIMERS })`.
 * sinon 22 fakes process.nextTick and queueMicrotask by default; serialport's streams and
 * binding-mock complete I/O on nextTick, so with those faked nothing on the serial line moves
 * (and createSimLane never resolves) unless the test ticks. Timers and Date are what we want fake.
 */
export const SIM_FAKE_TIMERS = {
  toFake: [
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'Date',
  ],
} as const satisfies { toFake: readonly string[] };
