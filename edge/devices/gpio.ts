import type { Logger } from '../../protocol/logger.js';
import type { Timers } from '../../protocol/timers.js';
import type {
  BarrierDriver,
  GpioFactory,
  GpioLike,
  GpioValue,
  LimitState,
  LoopDriver,
  Unsubscribe,
} from './types.js';

/**
 * GPIO drivers for the barrier relay, the loop detectors and the limit switches.
 *
 * Active-low is mapped here, not by onoff: pins are exported with `activeLow: false` and we translate
 * raw levels ourselves, so the mapping is our code and runs in every simulated test. Debounce is ours
 * too (injected timers), for the same reason.
 */

export interface PinBinding {
  pin: number;
  /** The signal is "active" (loop occupied, switch made) when the pin reads 0. */
  activeLow: boolean;
}

/** Raw level that means "active" for this wiring. */
function activeLevel(activeLow: boolean): GpioValue {
  return activeLow ? 0 : 1;
}

function emitAll<T extends unknown[]>(
  listeners: Set<(...args: T) => void>,
  logger: Logger,
  ...args: T
): void {
  for (const listener of [...listeners]) {
    try {
      listener(...args);
    } catch (err) {
      // a broken subscriber must not stop the driver (or the other subscribers)
      logger.error({ err }, 'device listener threw');
    }
  }
}

interface DebouncedInputOptions {
  gpio: GpioFactory;
  binding: PinBinding;
  debounceMs: number;
  timers: Timers;
  logger: Logger;
  onStable: (active: boolean) => void;
}

/**
 * An input that reports a new level only after it has held for `debounceMs`: every edge restarts
 * the timer, so a glitch shorter than the debounce time is never seen.
 */
class DebouncedInput {
  readonly #pin: GpioLike;
  readonly #binding: PinBinding;
  readonly #debounceMs: number;
  readonly #timers: Timers;
  readonly #logger: Logger;
  readonly #onStable: (active: boolean) => void;
  #timer: ReturnType<Timers['setTimeout']> | null = null;
  #lastRaw: GpioValue;
  #active: boolean;
  #closed = false;

  constructor(options: DebouncedInputOptions) {
    this.#binding = options.binding;
    this.#debounceMs = Math.max(0, options.debounceMs);
    this.#timers = options.timers;
    this.#logger = options.logger;
    this.#onStable = options.onStable;
    this.#pin = options.gpio(options.binding.pin, 'in', 'both', { activeLow: false });
    this.#lastRaw = this.#pin.readSync();
    this.#active = this.#lastRaw === activeLevel(this.#binding.activeLow);
    this.#pin.watch((err, value) => {
      if (this.#closed) return;
      if (err) {
        this.#logger.warn({ err, pin: this.#binding.pin }, 'gpio watch error');
        return;
      }
      this.#lastRaw = value;
      this.#schedule();
    });
  }

  get active(): boolean {
    return this.#active;
  }

  #schedule(): void {
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#debounceMs === 0) {
      this.#settle();
      return;
    }
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = null;
      this.#settle();
    }, this.#debounceMs);
  }

  #settle(): void {
    if (this.#closed) return;
    let raw = this.#lastRaw;
    try {
      raw = this.#pin.readSync();
    } catch (err) {
      // the pin value file can fail transiently; the last edge value is the best we know
      this.#logger.warn({ err, pin: this.#binding.pin }, 'gpio read failed; using last edge');
    }
    const active = raw === activeLevel(this.#binding.activeLow);
    if (active === this.#active) return;
    this.#active = active;
    this.#onStable(active);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    try {
      this.#pin.unwatchAll();
      this.#pin.unexport();
    } catch (err) {
      this.#logger.warn({ err, pin: this.#binding.pin }, 'gpio release failed');
    }
  }
}

export interface GpioLoopOptions {
  gpio: GpioFactory;
  binding: PinBinding;
  debounceMs: number;
  timers: Timers;
  logger: Logger;
}

/** An inductive loop detector's output, debounced in our code. */
export class GpioLoop implements LoopDriver {
  readonly #input: DebouncedInput;
  readonly #listeners = new Set<(occupied: boolean) => void>();
  readonly #logger: Logger;

  constructor(options: GpioLoopOptions) {
    this.#logger = options.logger;
    this.#input = new DebouncedInput({
      ...options,
      onStable: (occupied) => emitAll(this.#listeners, this.#logger, occupied),
    });
  }

  occupied(): boolean {
    return this.#input.active;
  }

  onChange(cb: (occupied: boolean) => void): Unsubscribe {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  close(): void {
    this.#listeners.clear();
    this.#input.close();
  }
}

export interface GpioBarrierOptions {
  gpio: GpioFactory;
  /** Relay output: "active" (relay energised) means arm up. */
  relay: PinBinding;
  limitOpen?: PinBinding;
  limitClosed?: PinBinding;
  /** Debounce for the limit switches (mechanical contacts bounce for a few ms). */
  limitDebounceMs?: number;
  timers: Timers;
  logger: Logger;
}

/**
 * Barrier relay plus optional limit switches. Safe at boot: the first thing the constructor does
 * is export the relay pin already at the arm-down level and write arm-down, before any other pin
 * is touched, so a restart can never leave (or flip) the arm up.
 */
export class GpioBarrier implements BarrierDriver {
  readonly hasLimitSwitches: boolean;
  readonly #relay: GpioLike;
  readonly #relayBinding: PinBinding;
  readonly #open: DebouncedInput | null;
  readonly #closed: DebouncedInput | null;
  readonly #listeners = new Set<(state: LimitState) => void>();
  readonly #logger: Logger;
  #commanded: 'up' | 'down' = 'down';
  #isClosed = false;

  constructor(options: GpioBarrierOptions) {
    this.#relayBinding = options.relay;
    const downLevel: GpioValue = activeLevel(options.relay.activeLow) === 1 ? 0 : 1;
    // 'high'/'low' exports the pin as an output already at that level: no glitch through the
    // kernel's default level between export and the first write.
    this.#relay = options.gpio(options.relay.pin, downLevel === 1 ? 'high' : 'low', 'none', {
      activeLow: false,
      reconfigureDirection: true,
    });
    this.#relay.writeSync(downLevel);
    this.#logger = options.logger;

    const limitDebounceMs = options.limitDebounceMs ?? 20;
    const onStable = () => emitAll(this.#listeners, this.#logger, this.limits());
    const limit = (binding: PinBinding | undefined) =>
      binding
        ? new DebouncedInput({
            gpio: options.gpio,
            binding,
            debounceMs: limitDebounceMs,
            timers: options.timers,
            logger: options.logger,
            onStable,
          })
        : null;
    this.#open = limit(options.limitOpen);
    this.#closed = limit(options.limitClosed);
    this.hasLimitSwitches = this.#open !== null || this.#closed !== null;
  }

  raise(): void {
    this.#drive('up');
  }

  lower(): void {
    this.#drive('down');
  }

  commanded(): 'up' | 'down' {
    return this.#commanded;
  }

  /** Without switches both read false: the lane then works from travel time. */
  limits(): LimitState {
    return { open: this.#open?.active ?? false, closed: this.#closed?.active ?? false };
  }

  onLimits(cb: (state: LimitState) => void): Unsubscribe {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /**
   * Releases the inputs. The relay pin is deliberately left exported and driven where it is:
   * unexporting could let it float and flip the relay, and commanding it down here could drop the
   * arm on a vehicle. A restart drives it down safely in the constructor.
   */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#listeners.clear();
    this.#open?.close();
    this.#closed?.close();
  }

  #drive(position: 'up' | 'down'): void {
    if (this.#isClosed) {
      this.#logger.warn({ position }, 'barrier command after close ignored');
      return;
    }
    const active = activeLevel(this.#relayBinding.activeLow);
    this.#relay.writeSync(position === 'up' ? active : active === 1 ? 0 : 1);
    this.#commanded = position;
  }
}

/**
 * onoff behind our GpioFactory. Imported lazily: onoff loads the native epoll module, which only
 * exists on a Linux box with GPIO; the simulator and tests never reach this.
 */
export async function realGpioFactory(): Promise<GpioFactory> {
  const onoff = await import('onoff');
  const Gpio = onoff.Gpio;
  if (!Gpio.accessible) throw new Error('GPIO is not accessible on this machine (no /sys/class/gpio)');
  return (pin, direction, edge, options) => new Gpio(pin, direction, edge, options);
}
