import { SerialPortStream } from '@serialport/stream';
import type { Logger } from '../../protocol/logger.js';
import { PlateFrameParser } from '../../protocol/devices.js';
import { Backoff, type BackoffOptions, type Timers } from './timers.js';
import type { DeviceHealth, PlateCameraDriver, PlateRead, Unsubscribe } from './types.js';

/** A serialport binding: `@serialport/bindings-cpp` on a box, `@serialport/binding-mock` in the simulator. */
// (bindings-interface's export map hides its types from NodeNext, so take the type from the stream)
export type SerialBinding = ConstructorParameters<typeof SerialPortStream>[0]['binding'];

export interface SerialPlateCameraOptions {
  /** Frames naming another lane are rejected: a camera cabled to the wrong lane must not open this one. */
  laneId: string;
  path: string;
  baudRate: number;
  binding: SerialBinding;
  timers: Timers;
  logger: Logger;
  backoff?: BackoffOptions;
}

/**
 * Plate camera on a serial line (frame format in protocol/devices.ts). The stream comes from
 * serialport with an injected binding, so the simulator swaps the library and this code runs as is.
 *
 * Health: 'absent' until start() and after close(); 'ok' while the port is open; 'lost' when it
 * closes or an open fails (a retry is then scheduled with exponential backoff); 'retrying' while a
 * reopen is in flight.
 */
export class SerialPlateCamera implements PlateCameraDriver {
  readonly #opts: SerialPlateCameraOptions;
  readonly #logger: Logger;
  readonly #parser = new PlateFrameParser();
  readonly #backoff: Backoff;
  readonly #readListeners = new Set<(read: PlateRead) => void>();
  readonly #healthListeners = new Set<(health: DeviceHealth, detail: string) => void>();
  #port: SerialPortStream | null = null;
  #health: DeviceHealth = 'absent';
  #retryTimer: ReturnType<Timers['setTimeout']> | null = null;
  #started = false;
  #stopped = false;
  #frames = 0;
  #rejected = 0;

  constructor(options: SerialPlateCameraOptions) {
    this.#opts = options;
    this.#logger = options.logger;
    this.#backoff = new Backoff(options.backoff);
  }

  /** Opens the port. Never rejects: a camera that is not there degrades the lane, it does not stop it. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#connect();
  }

  onRead(cb: (read: PlateRead) => void): Unsubscribe {
    this.#readListeners.add(cb);
    return () => this.#readListeners.delete(cb);
  }

  health(): DeviceHealth {
    return this.#health;
  }

  onHealth(cb: (health: DeviceHealth, detail: string) => void): Unsubscribe {
    this.#healthListeners.add(cb);
    return () => this.#healthListeners.delete(cb);
  }

  stats(): { frames: number; rejected: number } {
    return { frames: this.#frames, rejected: this.#rejected };
  }

  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#retryTimer !== null) this.#opts.timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const port = this.#port;
    this.#port = null;
    if (port?.isOpen) {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    port?.removeAllListeners();
    this.#setHealth('absent', 'closed');
    this.#readListeners.clear();
    this.#healthListeners.clear();
  }

  #connect(): Promise<void> {
    const { path, baudRate, binding } = this.#opts;
    return new Promise<void>((resolve) => {
      let port: SerialPortStream;
      try {
        port = new SerialPortStream({ binding, path, baudRate, autoOpen: false });
      } catch (err) {
        this.#lost(`cannot create port: ${errorMessage(err)}`);
        resolve();
        return;
      }
      port.on('data', (chunk: Buffer) => this.#onData(chunk));
      // without an 'error' listener a stream error would crash the process
      port.on('error', (err: Error) => this.#logger.warn({ err, path }, 'camera port error'));
      port.on('close', (err: Error | null) => {
        if (this.#port !== port) return;
        this.#port = null;
        port.removeAllListeners();
        port.on('error', () => {});
        if (!this.#stopped) this.#lost(err ? `disconnected: ${err.message}` : 'port closed');
      });
      port.open((err) => {
        if (err) {
          port.removeAllListeners();
          port.on('error', () => {});
          if (!this.#stopped) this.#lost(`open failed: ${err.message}`);
        } else if (this.#stopped) {
          port.close();
        } else {
          this.#port = port;
          this.#parser.reset();
          this.#backoff.reset();
          this.#setHealth('ok', `open ${path} @${baudRate}`);
        }
        resolve();
      });
    });
  }

  #lost(reason: string): void {
    const delay = this.#backoff.next();
    this.#logger.warn({ path: this.#opts.path, reason, retryInMs: delay }, 'plate camera lost');
    this.#setHealth('lost', `${reason}; retry in ${delay} ms`);
    if (this.#retryTimer !== null) this.#opts.timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = this.#opts.timers.setTimeout(() => {
      this.#retryTimer = null;
      if (this.#stopped) return;
      this.#setHealth('retrying', `attempt ${this.#backoff.attempt}`);
      void this.#connect();
    }, delay);
  }

  #onData(chunk: Buffer): void {
    const { reads, rejected } = this.#parser.push(chunk);
    for (const rejection of rejected) {
      this.#rejected++;
      this.#logger.warn({ reason: rejection.reason, detail: rejection.detail }, 'plate frame rejected');
    }
    for (const read of reads) {
      if (read.laneId !== this.#opts.laneId) {
        this.#rejected++;
        this.#logger.warn(
          { frameLane: read.laneId, plate: read.plate },
          'plate frame for another lane rejected',
        );
        continue;
      }
      this.#frames++;
      for (const listener of [...this.#readListeners]) {
        try {
          listener(read);
        } catch (err) {
          this.#logger.error({ err }, 'plate read listener threw');
        }
      }
    }
  }

  #setHealth(health: DeviceHealth, detail: string): void {
    this.#health = health;
    for (const listener of [...this.#healthListeners]) {
      try {
        listener(health, detail);
      } catch (err) {
        this.#logger.error({ err }, 'camera health listener threw');
      }
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The OS serial binding, loaded only when a real camera is configured: it is a native module that
 * a laptop running the simulator may not have built.
 */
export async function nativeSerialBinding(): Promise<SerialBinding> {
  const mod = await import('@serialport/bindings-cpp');
  return mod.autoDetect();
}
