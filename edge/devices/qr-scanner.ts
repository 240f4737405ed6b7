import type { Logger } from '../../protocol/logger.js';
import { HidKeyboardDecoder } from '../../protocol/devices.js';
import { DeviceLink, Listeners } from './link.js';
import type { BackoffOptions, TimerHandle, Timers } from '../../protocol/timers.js';
import type { DeviceHealth, HidDeviceLike, HidOpener, QrScannerDriver, Unsubscribe } from './types.js';

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
  readonly #link: DeviceLink;
  readonly #codes: Listeners<[string]>;
  #device: HidDeviceLike | null = null;
  #idleTimer: TimerHandle | null = null;

  constructor(options: HidQrScannerOptions) {
    this.#opts = options;
    this.#logger = options.logger;
    this.#codes = new Listeners(options.logger, 'qr code');
    this.#link = new DeviceLink({
      name: 'qr scanner',
      timers: options.timers,
      logger: options.logger,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      connect: () => this.#connect(),
    });
  }

  /** Opens the device. Never rejects: a missing scanner degrades the lane, it does not stop it. */
  start(): Promise<void> {
    return this.#link.start();
  }

  onCode(cb: (text: string) => void): Unsubscribe {
    return this.#codes.add(cb);
  }

  health(): DeviceHealth {
    return this.#link.health();
  }

  onHealth(cb: (health: DeviceHealth, detail: string) => void): Unsubscribe {
    return this.#link.onHealth(cb);
  }

  /** Decoder counters: codes read, reports rejected. */
  stats(): { codes: number; rejected: number } {
    return this.#decoder.stats();
  }

  async close(): Promise<void> {
    if (!this.#link.stop()) return;
    this.#clearIdle();
    const device = this.#device;
    this.#device = null;
    if (device) await this.#release(device);
    this.#link.closed();
    this.#codes.clear();
  }

  async #connect(): Promise<void> {
    let device: HidDeviceLike;
    try {
      device = await this.#opts.open();
    } catch (err) {
      this.#link.lost(`open failed: ${errorMessage(err)}`);
      return;
    }
    if (this.#link.stopped) {
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
      this.#link.lost(`device error: ${err.message}`);
    });
    this.#link.connected('open');
  }

  #onReport(report: Buffer): void {
    const codes = this.#decoder.push(report);
    this.#clearIdle();
    if (this.#decoder.pending() > 0) {
      const ms = this.#opts.interKeyTimeoutMs ?? 1000;
      this.#idleTimer = this.#opts.timers.setTimeout(() => {
        this.#idleTimer = null;
        this.#logger.warn({ chars: this.#decoder.pending() }, 'qr scan incomplete; fragment dropped');
        this.#decoder.reset();
      }, ms);
    }
    for (const code of codes) this.#codes.emit(code);
  }

  async #release(device: HidDeviceLike): Promise<void> {
    device.removeAllListeners('data');
    device.removeAllListeners('error');
    // node-hid can emit a late 'error' while closing; without a listener that would throw
    device.on('error', (err: Error) => this.#logger.debug({ err }, 'qr scanner error after release'));
    try {
      await device.close();
    } catch (err) {
      this.#logger.debug({ err }, 'qr device close failed (already gone)');
    }
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) this.#opts.timers.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
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
