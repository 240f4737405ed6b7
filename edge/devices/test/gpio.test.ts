import sinon from 'sinon';
import t from 'tap';
import { silentLogger } from '../../../protocol/logger.js';
import { GpioBarrier, GpioLoop } from '../gpio.js';
import { systemTimers } from '../../../protocol/timers.js';
import type { GpioDirection, GpioEdge, GpioFactory, GpioLike, GpioOptions, GpioValue } from '../types.js';

type Call =
  | { call: 'export'; pin: number; direction: GpioDirection; edge: GpioEdge; options: GpioOptions }
  | { call: 'writeSync'; pin: number; value: GpioValue }
  | { call: 'readSync'; pin: number }
  | { call: 'watch'; pin: number }
  | { call: 'unwatchAll'; pin: number }
  | { call: 'unexport'; pin: number };

/** A GPIO that records every call in one shared log and lets the test set input levels. */
function recordingGpio() {
  const calls: Call[] = [];
  const levels = new Map<number, GpioValue>();
  const watchers = new Map<number, (err: Error | null | undefined, value: GpioValue) => void>();
  const factory: GpioFactory = (pin, direction, edge, options) => {
    calls.push({ call: 'export', pin, direction, edge, options });
    const gpio: GpioLike = {
      readSync: () => {
        calls.push({ call: 'readSync', pin });
        return levels.get(pin) ?? 0;
      },
      writeSync: (value) => {
        calls.push({ call: 'writeSync', pin, value });
        levels.set(pin, value);
      },
      watch: (cb) => {
        calls.push({ call: 'watch', pin });
        watchers.set(pin, cb);
      },
      unwatchAll: () => {
        calls.push({ call: 'unwatchAll', pin });
        watchers.delete(pin);
      },
      unexport: () => {
        calls.push({ call: 'unexport', pin });
      },
    };
    return gpio;
  };
  /** Electrical change on an input; fires the watch callback like an interrupt. */
  const set = (pin: number, value: GpioValue) => {
    levels.set(pin, value);
    watchers.get(pin)?.(null, value);
  };
  return { calls, levels, factory, set };
}

const logger = silentLogger();

t.test(
  'safe at boot: the relay is exported at arm-down and written arm-down before anything else',
  async (t) => {
    for (const activeLow of [true, false]) {
      const rec = recordingGpio();
      const down: GpioValue = activeLow ? 1 : 0;
      const barrier = new GpioBarrier({
        gpio: rec.factory,
        relay: { pin: 17, activeLow },
        limitOpen: { pin: 23, activeLow: false },
        limitClosed: { pin: 24, activeLow: true },
        timers: systemTimers(),
        logger,
      });
      t.same(rec.calls[0], {
        call: 'export',
        pin: 17,
        direction: activeLow ? 'high' : 'low',
        edge: 'none',
        options: { activeLow: false, reconfigureDirection: true },
      });
      t.same(rec.calls[1], { call: 'writeSync', pin: 17, value: down }, `activeLow=${activeLow}`);
      t.ok(
        rec.calls.slice(2).every((c) => c.pin !== 17),
        'the relay is not touched again until commanded',
      );
      t.equal(barrier.commanded(), 'down');
      barrier.close();
    }
  },
);

t.test('active-low mapping of the relay', async (t) => {
  for (const activeLow of [true, false]) {
    const rec = recordingGpio();
    const barrier = new GpioBarrier({
      gpio: rec.factory,
      relay: { pin: 5, activeLow },
      timers: systemTimers(),
      logger,
    });
    barrier.raise();
    t.equal(rec.levels.get(5), activeLow ? 0 : 1, `raise, activeLow=${activeLow}`);
    t.equal(barrier.commanded(), 'up');
    barrier.lower();
    t.equal(rec.levels.get(5), activeLow ? 1 : 0, `lower, activeLow=${activeLow}`);
    t.equal(barrier.commanded(), 'down');
    t.equal(barrier.hasLimitSwitches, false);
    t.same(barrier.limits(), { open: false, closed: false });
    barrier.close();
    barrier.raise(); // ignored after close
    t.equal(barrier.commanded(), 'down');
  }
});

t.test('loop: active-low mapping and initial state', async (t) => {
  const rec = recordingGpio();
  rec.levels.set(27, 0);
  const low = new GpioLoop({
    gpio: rec.factory,
    binding: { pin: 27, activeLow: true },
    debounceMs: 0,
    timers: systemTimers(),
    logger,
  });
  t.equal(low.occupied(), true, 'active-low loop reading 0 is occupied');
  rec.levels.set(22, 0);
  const high = new GpioLoop({
    gpio: rec.factory,
    binding: { pin: 22, activeLow: false },
    debounceMs: 0,
    timers: systemTimers(),
    logger,
  });
  t.equal(high.occupied(), false);
  const seen: boolean[] = [];
  low.onChange((o) => seen.push(o));
  rec.set(27, 1);
  t.same(seen, [false]);
  t.same(
    rec.calls
      .filter((c) => c.call === 'export')
      .map((c) => (c as { options: GpioOptions }).options.activeLow),
    [false, false],
    "polarity is ours, not onoff's",
  );
  low.close();
  high.close();
});

t.test('debounce: glitches shorter than debounce are ignored, steady changes reported once', async (t) => {
  const clock = sinon.useFakeTimers();
  t.teardown(() => clock.restore());
  const rec = recordingGpio();
  rec.levels.set(27, 1);
  const loop = new GpioLoop({
    gpio: rec.factory,
    binding: { pin: 27, activeLow: true },
    debounceMs: 50,
    timers: systemTimers(),
    logger,
  });
  const seen: boolean[] = [];
  loop.onChange((o) => seen.push(o));

  rec.set(27, 0);
  clock.tick(30);
  rec.set(27, 1);
  clock.tick(100);
  t.same(seen, [], '30 ms glitch ignored');

  // chatter while a car rolls on: many edges, one report 50 ms after the last
  for (let i = 0; i < 6; i++) {
    rec.set(27, (i % 2) as GpioValue);
    clock.tick(10);
  }
  rec.set(27, 0);
  clock.tick(49);
  t.same(seen, []);
  clock.tick(1);
  t.same(seen, [true]);
  t.equal(loop.occupied(), true);

  rec.set(27, 1);
  clock.tick(50);
  t.same(seen, [true, false]);

  loop.close();
  rec.set(27, 0);
  clock.tick(100);
  t.same(seen, [true, false], 'nothing after close');
  t.ok(rec.calls.some((c) => c.call === 'unexport' && c.pin === 27));
});

t.test('limit switches are debounced inputs and report both ends', async (t) => {
  const clock = sinon.useFakeTimers();
  t.teardown(() => clock.restore());
  const rec = recordingGpio();
  rec.levels.set(24, 0); // closed switch made (active-low)
  const barrier = new GpioBarrier({
    gpio: rec.factory,
    relay: { pin: 17, activeLow: true },
    limitOpen: { pin: 23, activeLow: false },
    limitClosed: { pin: 24, activeLow: true },
    limitDebounceMs: 20,
    timers: systemTimers(),
    logger,
  });
  t.equal(barrier.hasLimitSwitches, true);
  t.same(barrier.limits(), { open: false, closed: true });
  const states: Array<{ open: boolean; closed: boolean }> = [];
  barrier.onLimits((s) => states.push(s));
  const broken = barrier.onLimits(() => {
    throw new Error('subscriber bug');
  });
  rec.set(24, 1);
  clock.tick(20);
  rec.set(23, 1);
  clock.tick(5);
  rec.set(23, 0); // contact bounce
  clock.tick(5);
  rec.set(23, 1);
  clock.tick(20);
  t.same(states, [
    { open: false, closed: false },
    { open: true, closed: false },
  ]);
  broken();
  barrier.close();
});

t.test('a failing read falls back to the last edge value', async (t) => {
  const rec = recordingGpio();
  const base = rec.factory;
  let failReads = false;
  const factory: GpioFactory = (pin, d, e, o) => {
    const g = base(pin, d, e, o);
    return {
      ...g,
      readSync: () => {
        if (failReads) throw new Error('EIO');
        return g.readSync();
      },
    };
  };
  const loop = new GpioLoop({
    gpio: factory,
    binding: { pin: 3, activeLow: false },
    debounceMs: 0,
    timers: systemTimers(),
    logger,
  });
  failReads = true;
  rec.set(3, 1);
  t.equal(loop.occupied(), true);
  loop.close();
});
