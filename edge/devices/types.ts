import type { SerialPortStream } from '@serialport/stream';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { BackoffOptions, Timers } from '../../protocol/timers.js';

/**
 * The narrow device interfaces lane logic depends on (docs/architecture.md#the-dependency-rule). Real drivers (onoff,
 * serialport, node-hid) and the simulator both sit behind these; the lane never knows which.
 * Subscriptions return an unsubscribe function.
 *
 * This is the one file of edge/ that hardware-sim may import (test/architecture.test.ts): the
 * library surfaces the simulator implements, and the driver kit it is handed to build real drivers.
 */

export type Unsubscribe = () => void;
export type DeviceHealth = 'ok' | 'lost' | 'retrying' | 'absent';

/** The subset of onoff's `Gpio` our GPIO drivers use; the simulator implements the same surface. */
export type GpioValue = 0 | 1;
export type GpioDirection = 'in' | 'out' | 'high' | 'low';
export type GpioEdge = 'none' | 'rising' | 'falling' | 'both';
export interface GpioLike {
  readSync(): GpioValue;
  writeSync(value: GpioValue): void;
  watch(callback: (err: Error | null | undefined, value: GpioValue) => void): void;
  unwatchAll(): void;
  unexport(): void;
}
export interface GpioOptions {
  activeLow?: boolean;
  /** Do not change the pin's level while exporting (keeps the relay where boot left it until we drive it). */
  reconfigureDirection?: boolean;
}
export type GpioFactory = (
  pin: number,
  direction: GpioDirection,
  edge: GpioEdge,
  options: GpioOptions,
) => GpioLike;

/** A serialport binding: `@serialport/bindings-cpp` on a box, `@serialport/binding-mock` in the simulator. */
// (bindings-interface's export map hides its types from NodeNext, so take the type from the stream)
export type SerialBinding = ConstructorParameters<typeof SerialPortStream>[0]['binding'];

/** The part of node-hid's `HID` / `HIDAsync` we use; the simulator's device has the same surface. */
export interface HidDeviceLike {
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
  close(): void | Promise<void>;
}

/** Opens (or reopens, after a loss) the scanner. */
export type HidOpener = () => Promise<HidDeviceLike>;

export interface LimitState {
  open: boolean;
  closed: boolean;
}

/** Barrier relay plus optional limit switches. */
export interface BarrierDriver {
  /** Drive the relay to "arm up". */
  raise(): void;
  /** Drive the relay to "arm down". Callers must check the safety loop first; the lane does. */
  lower(): void;
  /** Last commanded position. */
  commanded(): 'up' | 'down';
  limits(): LimitState;
  onLimits(cb: (state: LimitState) => void): Unsubscribe;
  /** True when limit switches are wired; without them the lane assumes travel time. */
  readonly hasLimitSwitches: boolean;
  close(): void;
}

/** An inductive loop detector (debounced). */
export interface LoopDriver {
  occupied(): boolean;
  onChange(cb: (occupied: boolean) => void): Unsubscribe;
  close(): void;
}

export interface PlateRead {
  laneId: string;
  plate: string;
  /** 0..1 */
  confidence: number;
  /** Epoch ms as reported by the camera. */
  capturedAt: number;
}

export interface PlateCameraDriver {
  onRead(cb: (read: PlateRead) => void): Unsubscribe;
  health(): DeviceHealth;
  onHealth(cb: (health: DeviceHealth, detail: string) => void): Unsubscribe;
  /** Counters for metrics: frames accepted, frames rejected (bad checksum / malformed). */
  stats(): { frames: number; rejected: number };
  close(): Promise<void>;
}

export interface QrScannerDriver {
  onCode(cb: (text: string) => void): Unsubscribe;
  health(): DeviceHealth;
  onHealth(cb: (health: DeviceHealth, detail: string) => void): Unsubscribe;
  close(): Promise<void>;
}

export interface LaneDisplay {
  show(lines: string[]): void;
  current(): string[];
  close(): void;
}

export interface DisplayEntry {
  at: number;
  lines: string[];
}

/** A sign that keeps what it showed (simulated lanes; tests read the history). */
export interface RecordingDisplay extends LaneDisplay {
  /** Oldest first, bounded. */
  history(): DisplayEntry[];
}

/** Everything one lane is wired to. */
export interface LaneDevices {
  barrier: BarrierDriver;
  armingLoop: LoopDriver;
  safetyLoop: LoopDriver;
  camera: PlateCameraDriver | null;
  qr: QrScannerDriver | null;
  display: LaneDisplay;
}

/**
 * GPIO wiring of one lane (the input shape of edge/devices/factory.ts GpioPinsSchema, which checks
 * it). "ActiveLow" = the signal is active when the pin reads 0.
 */
export interface GpioWiring {
  relay: number;
  relayActiveLow?: boolean;
  armingLoop: number;
  armingLoopActiveLow?: boolean;
  safetyLoop: number;
  safetyLoopActiveLow?: boolean;
  limitOpen?: number;
  limitOpenActiveLow?: boolean;
  limitClosed?: number;
  limitClosedActiveLow?: boolean;
  debounceMs?: number;
  limitDebounceMs?: number;
}

/** What a simulator hands the real drivers in place of the native libraries (onoff, serialport, node-hid). */
export interface SimulatedLibraries {
  gpio: { factory: GpioFactory; pins: GpioWiring };
  camera?: { binding: SerialBinding; path: string; baudRate?: number };
  qr?: { open: HidOpener };
}

export interface DriverKitDeps {
  laneId: string;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  backoff?: BackoffOptions;
}

/**
 * The real drivers over simulated libraries (edge/devices/factory.ts `simulatedLibraryDrivers`).
 * The composer of a simulated lot passes it to hardware-sim, which therefore never imports the
 * drivers themselves.
 */
export interface LaneDriverKit {
  open(
    libraries: SimulatedLibraries,
    deps: DriverKitDeps,
  ): Promise<LaneDevices & { display: RecordingDisplay }>;
  close(devices: LaneDevices): Promise<void>;
}
