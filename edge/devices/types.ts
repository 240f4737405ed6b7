/**
 * The narrow device interfaces lane logic depends on (design/gate.md). Real drivers (onoff,
 * serialport, node-hid) and the simulator both sit behind these; the lane never knows which.
 * Subscriptions return an unsubscribe function.
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
export type GpioFactory = (pin: number, direction: GpioDirection, edge: GpioEdge, options: GpioOptions) => GpioLike;

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

/** Everything one lane is wired to. */
export interface LaneDevices {
  barrier: BarrierDriver;
  armingLoop: LoopDriver;
  safetyLoop: LoopDriver;
  camera: PlateCameraDriver | null;
  qr: QrScannerDriver | null;
  display: LaneDisplay;
}
