import type { Logger } from '../../protocol/logger.js';
import { HidKeyboardDecoder } from '../../protocol/devices.js';
import { Backoff, type BackoffOptions, type Timers } from './timers.js';
import type { DeviceHealth, QrScannerDriver, Unsubscribe } from './types.js';

/** The part of node-hid's `HID` / `HIDAsync` we use; the simulator's device has the same surface. */
export interface HidDeviceLike {
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
  close(): void | Promise<void>;
}

/** Opens (or reopens, after a loss) the scanner. */
export type HidOpener = () => Promise<HidDeviceLike>;

export interface HidQrScannerOptions {
  open: HidOpener;
  timers: Timers;
  logger: Logger;
  backoff?: BackoffOptions;
  /**
   * A scanner types a whole code in a burst; if it goes quiet this long mid-code the fragment is
   * dropped, so it cannot glue onto the next scan.
   */
  interKeyTimeoutMs?: number;
}

/**
 * QR scanner in USB HID keyboard mode. Reports are decoded by our HidKeyboardDecoder (protocol/),
 * so real scanner bytes and simulated ones take the same path.
 *
 * Health: 'absent' before start() and after close(); 'ok' while open; 'lost' after an error or a
 * failed open (a retry is scheduled with exponential backoff); 'retrying' while reopening.
 */
export class HidQrScanner implements QrScannerDriver {
  readonly #opts: HidQrScannerOptions;
  readonly #logger: Logger;
  readonly #decoder = new HidKeyboardDecoder();
  readonly #backoff: Backoff;
  readonly #codeListeners = new Set<(text: string) => void>();
  readonly #healthListeners = new Set<(health: DeviceHealth, detail: string) => void>();
  #device: HidDeviceLike | null = null;
  #health: DeviceHealth = 'absent';
  #retryTimer: ReturnType<Timers['setTimeout']> | null = null;
  #idleTimer: ReturnType<Timers['setTimeout']> | null = null;
  #started = false;
  #stopped = false;

  constructor(options: HidQrScannerOptions) {
    this.#opts = options;
    this.#logger = options.logger;
    this.#backoff = new Backoff(options.backoff);
  }

  /** Opens the device. Never rejects: a missing scanner degrades the lane, it does not stop it. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#connect();
  }

  onCode(cb: (text: string) => void): Unsubscribe {
    this.#codeListeners.add(cb);
    return () => this.#codeListeners.delete(cb);
  }

  health(): DeviceHealth {
    return this.#health;
  }

  onHealth(cb: (health: DeviceHealth, detail: string) => void): Unsubscribe {
    this.#healthListeners.add(cb);
    return () => this.#healthListeners.delete(cb);
  }

  /** Decoder counters: codes read, reports rejected. */
  stats(): { codes: number; rejected: number } {
    return this.#decoder.stats();
  }

  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clearTimer('retry');
    this.#clearTimer('idle');
    const device = this.#device;
    this.#device = null;
    if (device) await this.#release(device);
    this.#setHealth('absent', 'closed');
    this.#codeListeners.clear();
    this.#healthListeners.clear();
  }

  async #connect(): Promise<void> {
    let device: HidDeviceLike;
    try {
      device = await this.#opts.open();
    } catch (err) {
      if (!this.#stopped) this.#lost(`open failed: ${errorMessage(err)}`);
      return;
    }
    if (this.#stopped) {
      await this.#release(device);
      return;
    }
    this.#device = device;
    this.#decoder.reset();
    device.on('data', (data: Buffer) => {
      if (this.#device === device) this.#onReport(data);
    });
    device.on('error', (err: Error) => {
      if (this.#device !== device) return;
      this.#device = null;
      this.#decoder.reset();
      void this.#release(device);
      if (!this.#stopped) this.#lost(`device error: ${err.message}`);
    });
    this.#backoff.reset();
    this.#setHealth('ok', 'open');
  }

  #onReport(report: Buffer): void {
    const codes = this.#decoder.push(report);
    this.#clearTimer('idle');
    if (this.#decoder.pending() > 0) {
      const ms = this.#opts.interKeyTimeoutMs ?? 1000;
      this.#idleTimer = this.#opts.timers.setTimeout(() => {
        this.#idleTimer = null;
        this.#logger.warn({ chars: this.#decoder.pending() }, 'qr scan incomplete; fragment dropped');
        this.#decoder.reset();
      }, ms);
    }
    for (const code of codes) {
      for (const listener of [...this.#codeListeners]) {
        try {
          listener(code);
        } catch (err) {
          this.#logger.error({ err }, 'qr code listener threw');
        }
      }
    }
  }

  async #release(device: HidDeviceLike): Promise<void> {
    device.removeAllListeners('data');
    device.removeAllListeners('error');
    // node-hid can emit a late 'error' while closing; without a listener that would throw
    device.on('error', () => {});
    try {
      await device.close();
    } catch (err) {
      this.#logger.debug({ err }, 'qr device close failed (already gone)');
    }
  }

  #lost(reason: string): void {
    const delay = this.#backoff.next();
    this.#logger.warn({ reason, retryInMs: delay }, 'qr scanner lost');
    this.#setHealth('lost', `${reason}; retry in ${delay} ms`);
    this.#clearTimer('retry');
    this.#retryTimer = this.#opts.timers.setTimeout(() => {
      this.#retryTimer = null;
      if (this.#stopped) return;
      this.#setHealth('retrying', `attempt ${this.#backoff.attempt}`);
      void this.#connect();
    }, delay);
  }

  #clearTimer(which: 'retry' | 'idle'): void {
    const handle = which === 'retry' ? this.#retryTimer : this.#idleTimer;
    if (handle !== null) this.#opts.timers.clearTimeout(handle);
    if (which === 'retry') this.#retryTimer = null;
    else this.#idleTimer = null;
  }

  #setHealth(health: DeviceHealth, detail: string): void {
    this.#health = health;
    for (const listener of [...this.#healthListeners]) {
      try {
        listener(health, detail);
      } catch (err) {
        this.#logger.error({ err }, 'qr health listener threw');
      }
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * node-hid opener by vendor/product id, loaded only when a real scanner is configured (native
 * module + libusb/hidraw, absent on most dev machines).
 */
export function nodeHidOpener(vendorId: number, productId: number): HidOpener {
  return async () => {
    const hid = await import('node-hid');
    return hid.HIDAsync.open(vendorId, productId);
  };
}
