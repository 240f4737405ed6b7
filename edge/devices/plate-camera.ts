import { SerialPortStream } from '@serialport/stream';
import type { Logger } from '../../protocol/logger.js';
import { PlateFrameParser } from '../../protocol/devices.js';
import { DeviceLink, Listeners } from './link.js';
import type { BackoffOptions, Timers } from '../../protocol/timers.js';
import type { DeviceHealth, PlateCameraDriver, PlateRead, SerialBinding, Unsubscribe } from './types.js';

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
  readonly #link: DeviceLink;
  readonly #reads: Listeners<[PlateRead]>;
  #port: SerialPortStream | null = null;
  #frames = 0;
  #rejected = 0;

  constructor(options: SerialPlateCameraOptions) {
    this.#opts = options;
    this.#logger = options.logger;
    this.#reads = new Listeners(options.logger, 'plate read');
    this.#link = new DeviceLink({
      name: 'plate camera',
      timers: options.timers,
      logger: options.logger.child({ path: options.path }),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      connect: () => this.#connect(),
    });
  }

  /** Opens the port. Never rejects: a camera that is not there degrades the lane, it does not stop it. */
  start(): Promise<void> {
    return this.#link.start();
  }

  onRead(cb: (read: PlateRead) => void): Unsubscribe {
    return this.#reads.add(cb);
  }

  health(): DeviceHealth {
    return this.#link.health();
  }

  onHealth(cb: (health: DeviceHealth, detail: string) => void): Unsubscribe {
    return this.#link.onHealth(cb);
  }

  stats(): { frames: number; rejected: number } {
    return { frames: this.#frames, rejected: this.#rejected };
  }

  async close(): Promise<void> {
    if (!this.#link.stop()) return;
    const port = this.#port;
    this.#port = null;
    if (port?.isOpen) {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    port?.removeAllListeners();
    this.#link.closed();
    this.#reads.clear();
  }

  #connect(): Promise<void> {
    const { path, baudRate, binding } = this.#opts;
    return new Promise<void>((resolve) => {
      let port: SerialPortStream;
      try {
        port = new SerialPortStream({ binding, path, baudRate, autoOpen: false });
      } catch (err) {
        this.#link.lost(`cannot create port: ${errorMessage(err)}`);
        resolve();
        return;
      }
      port.on('data', (chunk: Buffer) => this.#onData(chunk));
      // without an 'error' listener a stream error would crash the process
      port.on('error', (err: Error) => this.#logger.warn({ err, path }, 'camera port error'));
      // a port we let go of can still report; it no longer matters to the lane
      const lateError = (err: Error) => this.#logger.debug({ err, path }, 'camera port error after release');
      port.on('close', (err: Error | null) => {
        if (this.#port !== port) return;
        this.#port = null;
        port.removeAllListeners();
        port.on('error', lateError);
        this.#link.lost(err ? `disconnected: ${err.message}` : 'port closed');
      });
      port.open((err) => {
        if (err) {
          port.removeAllListeners();
          port.on('error', lateError);
          this.#link.lost(`open failed: ${err.message}`);
        } else if (this.#link.stopped) {
          port.close();
        } else {
          this.#port = port;
          this.#parser.reset();
          this.#link.connected(`open ${path} @${baudRate}`);
        }
        resolve();
      });
    });
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
      this.#reads.emit(read);
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
