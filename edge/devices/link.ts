import type { Logger } from '../../protocol/logger.js';
import { Backoff, type BackoffOptions, type TimerHandle, type Timers } from '../../protocol/timers.js';
import type { DeviceHealth, Unsubscribe } from './types.js';

/** A set of callbacks where one that throws is logged and cannot break the device or the others. */
export class Listeners<Args extends unknown[]> {
  readonly #set = new Set<(...args: Args) => void>();
  constructor(
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  add(cb: (...args: Args) => void): Unsubscribe {
    this.#set.add(cb);
    return () => this.#set.delete(cb);
  }

  emit(...args: Args): void {
    for (const cb of [...this.#set]) {
      try {
        cb(...args);
      } catch (err) {
        this.logger.error({ err }, `${this.what} listener threw`);
      }
    }
  }

  clear(): void {
    this.#set.clear();
  }
}

export interface DeviceLinkOptions {
  /** For logs: "plate camera", "qr scanner". */
  name: string;
  timers: Timers;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Opens the device; reports the outcome through connected() / lost(). Must not reject. */
  connect: () => Promise<void>;
}

/**
 * The life of a device that can disappear (serial camera, HID scanner), shared by their drivers:
 * health 'absent' before start() and after close(); 'ok' while open; 'lost' after an error or a
 * failed open, with a reopen scheduled by exponential backoff; 'retrying' while it is in flight.
 */
export class DeviceLink {
  readonly #opts: DeviceLinkOptions;
  readonly #backoff: Backoff;
  readonly #health: Listeners<[DeviceHealth, string]>;
  #state: DeviceHealth = 'absent';
  #retryTimer: TimerHandle | null = null;
  #started = false;
  #stopped = false;

  constructor(options: DeviceLinkOptions) {
    this.#opts = options;
    this.#backoff = new Backoff(options.backoff);
    this.#health = new Listeners(options.logger, `${options.name} health`);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  health(): DeviceHealth {
    return this.#state;
  }

  onHealth(cb: (health: DeviceHealth, detail: string) => void): Unsubscribe {
    return this.#health.add(cb);
  }

  /** Opens the device once. Never rejects: a missing device degrades the lane, it does not stop it. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#opts.connect();
  }

  connected(detail: string): void {
    this.#backoff.reset();
    this.#set('ok', detail);
  }

  lost(reason: string): void {
    if (this.#stopped) return;
    const delay = this.#backoff.next();
    this.#opts.logger.warn({ reason, retryInMs: delay }, `${this.#opts.name} lost`);
    this.#set('lost', `${reason}; retry in ${delay} ms`);
    this.#clearRetry();
    this.#retryTimer = this.#opts.timers.setTimeout(() => {
      this.#retryTimer = null;
      if (this.#stopped) return;
      this.#set('retrying', `attempt ${this.#backoff.attempt}`);
      void this.#opts.connect();
    }, delay);
  }

  /** Stops retrying; false when already stopped (close() is idempotent). */
  stop(): boolean {
    if (this.#stopped) return false;
    this.#stopped = true;
    this.#clearRetry();
    return true;
  }

  /** After the driver released the device: health 'absent', listeners dropped. */
  closed(): void {
    this.#set('absent', 'closed');
    this.#health.clear();
  }

  #clearRetry(): void {
    if (this.#retryTimer !== null) this.#opts.timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  #set(state: DeviceHealth, detail: string): void {
    this.#state = state;
    this.#health.emit(state, detail);
  }
}
