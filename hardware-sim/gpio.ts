import type {
  GpioDirection,
  GpioEdge,
  GpioFactory,
  GpioLike,
  GpioOptions,
  GpioValue,
} from '../edge/devices/types.js';

/**
 * Simulated GPIO: a bus of raw electrical levels and pin objects with the onoff `Gpio` surface
 * the drivers use. Driver side: `bus.factory()` hands out SimGpio objects. Hardware side
 * (arm, loops): `drive()` sets an input level, `onOutput()` watches what the drivers write.
 */

export type GpioOp =
  | { op: 'export'; pin: number; direction: GpioDirection; edge: GpioEdge; activeLow: boolean }
  | { op: 'write'; pin: number; value: GpioValue; raw: GpioValue }
  | { op: 'watch'; pin: number }
  | { op: 'unexport'; pin: number };

const MAX_JOURNAL = 10_000;

export class SimGpioBus {
  readonly #levels = new Map<number, GpioValue>();
  readonly #exported = new Map<number, Set<SimGpio>>();
  readonly #outputListeners = new Map<number, Set<(raw: GpioValue) => void>>();
  readonly #journal: GpioOp[] = [];

  /** Raw level of a pin; an undriven pin reads 0 (pulled down). */
  level(pin: number): GpioValue {
    return this.#levels.get(pin) ?? 0;
  }

  /** Hardware drives an input (loop detector output, limit switch). Watchers see the edge synchronously. */
  drive(pin: number, raw: GpioValue): void {
    const before = this.level(pin);
    this.#levels.set(pin, raw);
    if (before === raw) return;
    for (const gpio of [...(this.#exported.get(pin) ?? [])]) gpio._edge(before, raw);
  }

  /** Hardware listens to what a driver writes to an output pin (the barrier relay). */
  onOutput(pin: number, cb: (raw: GpioValue) => void): () => void {
    let set = this.#outputListeners.get(pin);
    if (!set) {
      set = new Set();
      this.#outputListeners.set(pin, set);
    }
    set.add(cb);
    return () => set.delete(cb);
  }

  /** Every export/write/watch/unexport in order (bounded), for tests such as safe-at-boot. */
  journal(): readonly GpioOp[] {
    return this.#journal;
  }

  factory(): GpioFactory {
    return (pin, direction, edge, options) => new SimGpio(this, pin, direction, edge, options);
  }

  /** @internal used by SimGpio */
  _record(op: GpioOp): void {
    this.#journal.push(op);
    if (this.#journal.length > MAX_JOURNAL) this.#journal.splice(0, this.#journal.length - MAX_JOURNAL);
  }

  /** @internal an output pin changes level */
  _output(pin: number, raw: GpioValue): void {
    this.#levels.set(pin, raw);
    for (const cb of [...(this.#outputListeners.get(pin) ?? [])]) cb(raw);
  }

  /** @internal */
  _attach(pin: number, gpio: SimGpio): void {
    let set = this.#exported.get(pin);
    if (!set) {
      set = new Set();
      this.#exported.set(pin, set);
    }
    set.add(gpio);
  }

  /** @internal */
  _detach(pin: number, gpio: SimGpio): void {
    this.#exported.get(pin)?.delete(gpio);
  }
}

/** One exported pin, behaving like onoff's Gpio (activeLow inverts values, like sysfs active_low). */
export class SimGpio implements GpioLike {
  readonly #bus: SimGpioBus;
  readonly #pin: number;
  readonly #direction: GpioDirection;
  readonly #edge: GpioEdge;
  readonly #activeLow: boolean;
  readonly #watchers = new Set<(err: Error | null | undefined, value: GpioValue) => void>();
  #exported = true;

  constructor(
    bus: SimGpioBus,
    pin: number,
    direction: GpioDirection,
    edge: GpioEdge,
    options: GpioOptions = {},
  ) {
    this.#bus = bus;
    this.#pin = pin;
    this.#direction = direction;
    this.#edge = edge;
    this.#activeLow = options.activeLow ?? false;
    bus._record({ op: 'export', pin, direction, edge, activeLow: this.#activeLow });
    bus._attach(pin, this);
    // like sysfs: 'high'/'low' set the level as part of becoming an output; 'out' starts low
    if (direction === 'high') bus._output(pin, 1);
    else if (direction === 'low' || direction === 'out') bus._output(pin, 0);
  }

  readSync(): GpioValue {
    this.#assertExported();
    return this.#toLogical(this.#bus.level(this.#pin));
  }

  writeSync(value: GpioValue): void {
    this.#assertExported();
    if (this.#direction === 'in') throw new Error(`EPERM: gpio ${this.#pin} is an input`);
    const raw = this.#toLogical(value);
    this.#bus._record({ op: 'write', pin: this.#pin, value, raw });
    this.#bus._output(this.#pin, raw);
  }

  watch(callback: (err: Error | null | undefined, value: GpioValue) => void): void {
    this.#assertExported();
    this.#bus._record({ op: 'watch', pin: this.#pin });
    this.#watchers.add(callback);
  }

  unwatchAll(): void {
    this.#watchers.clear();
  }

  unexport(): void {
    if (!this.#exported) return;
    this.#exported = false;
    this.#watchers.clear();
    this.#bus._record({ op: 'unexport', pin: this.#pin });
    this.#bus._detach(this.#pin, this);
  }

  /** @internal the bus reports a raw level change on this pin */
  _edge(beforeRaw: GpioValue, afterRaw: GpioValue): void {
    if (!this.#exported || this.#edge === 'none') return;
    const before = this.#toLogical(beforeRaw);
    const after = this.#toLogical(afterRaw);
    const rising = before === 0 && after === 1;
    if (this.#edge === 'rising' && !rising) return;
    if (this.#edge === 'falling' && rising) return;
    for (const cb of [...this.#watchers]) cb(null, after);
  }

  #toLogical(value: GpioValue): GpioValue {
    return this.#activeLow ? (value === 1 ? 0 : 1) : value;
  }

  #assertExported(): void {
    if (!this.#exported) throw new Error(`gpio ${this.#pin} is not exported`);
  }
}
