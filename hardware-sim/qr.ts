import { EventEmitter } from 'node:events';
import type { HidDeviceLike, HidOpener } from '../edge/devices/types.js';
import { encodeTextAsHidReports } from '../protocol/devices.js';
import { type SimClockLike, sleep } from './clock.js';

/** A HID device with node-hid's event surface: 'data' (one report Buffer) and 'error'. */
export class SimHidDevice extends EventEmitter implements HidDeviceLike {
  #open = true;

  get isOpen(): boolean {
    return this.#open;
  }

  /** The scanner sends one report; ignored once the device is closed. */
  report(buf: Buffer): boolean {
    if (!this.#open) return false;
    this.emit('data', buf);
    return true;
  }

  /** Unplugged: node-hid reports "could not read from HID device" as an 'error' event. */
  fail(message: string): void {
    if (!this.#open) return;
    this.emit('error', new Error(message));
  }

  close(): void {
    this.#open = false;
  }
}

export interface SimQrScannerOptions {
  clock: SimClockLike;
  /** Time between two reports; a real scanner types about one key per millisecond. */
  reportIntervalMs?: number;
}

/** A keyboard-wedge QR scanner that can be plugged and unplugged. */
export class SimQrScanner {
  readonly #clock: SimClockLike;
  readonly #intervalMs: number;
  #device: SimHidDevice | null = null;
  #plugged = true;
  #presented: string[] = [];

  constructor(options: SimQrScannerOptions) {
    this.#clock = options.clock;
    this.#intervalMs = Math.max(0, options.reportIntervalMs ?? 1);
  }

  /** The opener the HidQrScanner driver gets in place of node-hid. */
  readonly open: HidOpener = async () => {
    if (!this.#plugged)
      throw new Error('cannot open device with vendor id and product id (simulated: unplugged)');
    const device = new SimHidDevice();
    this.#device = device;
    return device;
  };

  connected(): boolean {
    return this.#device?.isOpen ?? false;
  }

  /**
   * Scans `text`: press/release reports then Enter, `reportIntervalMs` apart. Resolves true when every
   * report reached an open device.
   */
  async present(text: string): Promise<boolean> {
    this.#presented.push(text);
    if (this.#presented.length > 1000) this.#presented.shift();
    let delivered = true;
    for (const report of encodeTextAsHidReports(text)) {
      delivered = this.report(report) && delivered;
      if (this.#intervalMs > 0) await sleep(this.#clock, this.#intervalMs);
    }
    return delivered;
  }

  /** Sends any buffer as a report (for fuzzing the driver). */
  report(buf: Buffer): boolean {
    return this.#device?.report(buf) ?? false;
  }

  presented(): readonly string[] {
    return this.#presented;
  }

  plugged(): boolean {
    return this.#plugged;
  }

  unplug(): void {
    this.#plugged = false;
    const device = this.#device;
    this.#device = null;
    device?.fail('could not read from HID device');
    device?.close();
  }

  plug(): void {
    this.#plugged = true;
  }
}
