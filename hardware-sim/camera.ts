import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import type { SerialBinding } from '../edge/devices/types.js';
import { encodePlateFrame } from '../protocol/devices.js';
import type { Random } from '../protocol/random.js';
import { type SimClockLike, sleep } from './clock.js';

type PortBinding = Awaited<ReturnType<SerialBinding['open']>>;
type OpenOptions = Parameters<SerialBinding['open']>[0];
type UpdateOptions = Parameters<PortBinding['update']>[0];
type SetOptions = Parameters<PortBinding['set']>[0];

/** Error shape serialport treats as a lost device (anything not `canceled`). */
class UnpluggedError extends Error {
  readonly disconnected = true;
}

/**
 * One port of `@serialport/binding-mock`, wrapped so the simulator can also unplug it: a read in
 * flight fails like a yanked USB-serial adapter and opens fail until it is plugged back. The real
 * SerialPortStream and our driver sit on top unchanged.
 */
class SimPort implements PortBinding {
  readonly #inner: MockPortBinding;
  readonly #gone: Promise<never>;
  #unplug!: (err: Error) => void;
  #unplugged = false;

  constructor(inner: MockPortBinding) {
    this.#inner = inner;
    this.#gone = new Promise<never>((_, reject) => {
      this.#unplug = reject;
    });
    this.#gone.catch(() => {}); // observed through read(); not an unhandled rejection otherwise
  }

  get openOptions(): PortBinding['openOptions'] {
    return this.#inner.openOptions;
  }

  /** Like an fd on a yanked adapter: still open until the stream closes it after the read error. */
  get isOpen(): boolean {
    return this.#inner.isOpen;
  }

  emitData(data: Buffer): boolean {
    if (this.#unplugged || !this.#inner.isOpen) return false;
    this.#inner.emitData(data);
    return true;
  }

  async unplug(): Promise<void> {
    if (this.#unplugged) return;
    this.#unplugged = true;
    this.#unplug(new UnpluggedError('device disconnected (simulated)'));
  }

  async close(): Promise<void> {
    if (this.#inner.isOpen) await this.#inner.close();
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (this.#unplugged) return Promise.reject(new UnpluggedError('device disconnected (simulated)'));
    return Promise.race([this.#inner.read(buffer, offset, length), this.#gone]);
  }

  write(buffer: Buffer): Promise<void> {
    if (this.#unplugged) return Promise.reject(new UnpluggedError('device disconnected (simulated)'));
    return this.#inner.write(buffer);
  }

  update(options: UpdateOptions): Promise<void> {
    return this.#inner.update(options);
  }

  set(options: SetOptions): Promise<void> {
    return this.#inner.set(options);
  }

  get(): ReturnType<PortBinding['get']> {
    return this.#inner.get();
  }

  getBaudRate(): ReturnType<PortBinding['getBaudRate']> {
    return this.#inner.getBaudRate();
  }

  flush(): Promise<void> {
    return this.#inner.flush();
  }

  drain(): Promise<void> {
    return this.#inner.drain();
  }
}

/**
 * A serialport binding backed by `@serialport/binding-mock` with plug/unplug. MockBinding keeps a
 * process-wide port table, so each simulated camera gets its own path (see `uniqueSerialPath`);
 * we never call `MockBinding.reset()`, which would pull the ports out from under other lanes.
 */
export class SimSerialBinding implements SerialBinding {
  readonly path: string;
  #open: SimPort | null = null;
  #plugged = true;

  constructor(path: string) {
    this.path = path;
    MockBinding.createPort(path, { echo: false, record: false });
  }

  list(): ReturnType<SerialBinding['list']> {
    return MockBinding.list();
  }

  async open(options: OpenOptions): Promise<PortBinding> {
    if (!this.#plugged || options.path !== this.path) {
      throw new Error(`ENOENT: no such file or directory, cannot open ${options.path}`);
    }
    const port = new SimPort(await MockBinding.open(options));
    this.#open = port;
    return port;
  }

  plugged(): boolean {
    return this.#plugged;
  }

  /** True when a driver has the port open (bytes written now will be read). */
  connected(): boolean {
    return this.#open?.isOpen ?? false;
  }

  /** The camera writes bytes onto the line; lost when nobody has the port open. */
  emit(data: Buffer): boolean {
    return this.#open?.emitData(data) ?? false;
  }

  async unplug(): Promise<void> {
    this.#plugged = false;
    const port = this.#open;
    this.#open = null;
    await port?.unplug();
  }

  plug(): void {
    this.#plugged = true;
  }
}

/** A MockBinding path not used by any other simulated port in this process. */
export async function uniqueSerialPath(base: string): Promise<string> {
  const taken = new Set((await MockBinding.list()).map((p) => p.path));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

const CONFUSABLE: Readonly<Record<string, string>> = {
  O: '0',
  '0': 'O',
  I: '1',
  '1': 'I',
  B: '8',
  '8': 'B',
  S: '5',
  '5': 'S',
  Z: '2',
  '2': 'Z',
};
const PLATE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * What a plate reader gets wrong: mostly a confusable glyph (O/0 I/1 B/8 S/5 Z/2), otherwise one
 * character read as some other letter or digit. Always differs from the input.
 */
export function misreadPlate(plate: string, random: Random): string {
  const chars = [...plate];
  if (chars.length === 0) return 'X';
  const confusable = chars.flatMap((c, i) => (CONFUSABLE[c] ? [i] : []));
  if (confusable.length > 0 && random.chance(0.8)) {
    const i = random.pick(confusable);
    chars[i] = CONFUSABLE[chars[i]!]!;
    return chars.join('');
  }
  const i = random.int(chars.length);
  const others = PLATE_ALPHABET.replace(chars[i]!, '');
  chars[i] = random.pick([...others]);
  return chars.join('');
}

export interface SimCameraOptions {
  laneId: string;
  serial: SimSerialBinding;
  clock: SimClockLike;
  random: Random;
  /** Chance a read comes back with a wrong character. */
  misreadRate?: number;
  /** Chance of line noise (random bytes) ahead of a frame. */
  noiseRate?: number;
  /** Deliver each frame in several chunks, 1 ms apart, cut at random byte boundaries. */
  splitFrames?: boolean;
  /** Confidence reported for a read, uniform in [lo, hi] (0..1). */
  confidence?: [number, number];
}

export interface CameraShot {
  at: number;
  plate: string;
  /** What the camera put on the wire. */
  sent: string;
  misread: boolean;
  confidence: number;
  /** False when no driver had the port open (camera unplugged or not yet opened). */
  delivered: boolean;
}

/** A plate camera that writes real protocol frames into the simulated serial line. */
export class SimPlateCamera {
  readonly #opts: SimCameraOptions;
  readonly #shots: CameraShot[] = [];

  constructor(options: SimCameraOptions) {
    this.#opts = options;
  }

  get serial(): SimSerialBinding {
    return this.#opts.serial;
  }

  /**
   * Reads `plate` and sends the frame; `misread` forces (true) or forbids (false) a misread;
   * `confidence` (0..1) is reported instead of a random one from the configured range.
   */
  async capture(
    plate: string,
    options: { misread?: boolean; confidence?: number } = {},
  ): Promise<CameraShot> {
    const { random, clock, laneId } = this.#opts;
    const truth = normalisePlate(plate);
    const misread = options.misread ?? random.chance(this.#opts.misreadRate ?? 0);
    const sent = misread ? misreadPlate(truth, random) : truth;
    const [lo, hi] = this.#opts.confidence ?? [0.85, 0.99];
    const confidence = options.confidence ?? Math.round((lo + random.next() * (hi - lo)) * 100) / 100;
    const frame = encodePlateFrame({ laneId, plate: sent, confidence, capturedAt: clock.now() });
    const noise = random.chance(this.#opts.noiseRate ?? 0) ? randomBytes(random, 1 + random.int(24)) : null;
    const delivered = await this.send(noise ? Buffer.concat([noise, frame]) : frame);
    const shot: CameraShot = { at: clock.now(), plate: truth, sent, misread, confidence, delivered };
    this.#shots.push(shot);
    if (this.#shots.length > 1000) this.#shots.shift();
    return shot;
  }

  /** Puts raw bytes on the line (split if configured). Resolves true if every chunk was delivered. */
  async send(bytes: Buffer): Promise<boolean> {
    const { random, clock, serial } = this.#opts;
    if (!this.#opts.splitFrames || bytes.length < 2) return serial.emit(bytes);
    let delivered = true;
    let offset = 0;
    while (offset < bytes.length) {
      const size = 1 + random.int(Math.min(16, bytes.length - offset));
      delivered = serial.emit(bytes.subarray(offset, offset + size)) && delivered;
      offset += size;
      // a separate read per chunk: the stream cannot coalesce them
      if (offset < bytes.length) await sleep(clock, 1);
    }
    return delivered;
  }

  /** Recent shots (bounded), oldest first. */
  shots(): readonly CameraShot[] {
    return this.#shots;
  }
}

function randomBytes(random: Random, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = random.int(256);
  return out;
}

export function normalisePlate(plate: string): string {
  return plate.toUpperCase().replace(/[^A-Z0-9-]/g, '');
}
