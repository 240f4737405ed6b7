/**
 * A fully simulated lane: the REAL drivers (edge/devices) on simulated libraries.
 *
 *   barrier, loops  GpioBarrier / GpioLoop  on SimGpio pins (SimGpioBus) wired to SimArm / SimLoop
 *   plate camera    SerialPlateCamera       on SerialPortStream + @serialport/binding-mock (SimSerialBinding)
 *   QR scanner      HidQrScanner            on SimHidDevice (node-hid's event surface, real report bytes)
 *   display         the driver kit's recording display
 *
 * The drivers come in as `opts.drivers` (edge/devices/factory.ts simulatedLibraryDrivers, passed by
 * whoever composes the lane): the simulator builds only the hardware and its libraries.
 *
 * ## Timing contract
 * Everything runs on `opts.clock` (now + setTimeout/clearTimeout); nothing sleeps on wall time.
 * In tests: `const fake = sinon.useFakeTimers({ now, toFake: [...SIM_FAKE_TIMERS.toFake] })`, pass
 * `clock: hostClock()`, and move time with `await fake.tickAsync(ms)`. Keep process.nextTick and
 * queueMicrotask real (SIM_FAKE_TIMERS does): sinon 22 fakes them by default, and serialport does its
 * I/O on nextTick. A promise returned by a control method settles once enough time has been ticked.
 * The demo passes `hostClock()` without fakes and runs in real time.
 * Times below are measured from the call, in simulated ms (defaults in brackets):
 *   - loops:   the sim changes the pin at once; the driver reports after `debounceMs` [50] of stability.
 *   - arm:     relay change at t -> the end-stop switch it leaves opens at t; the arm reaches the other
 *              end at t + armTravelMs [1000] (proportionally less from mid-travel); the limit driver
 *              reports 20 ms later (switch debounce). Jammed: it stops and no limit is reached.
 *   - vehicleArrives(plate): arming loop on at t; the camera sends its frame at t + readDelayMs [200]
 *              (split frames: one chunk per ms after that); `readBeforeLoop` swaps the two.
 *   - presentQr(text): one HID report per ms, 2 per character plus 2 for Enter; the code is decoded
 *              when the Enter report arrives (t + 2*len + 1 ms).
 *   - driveThrough(): safety on at t, arming off at t + passMs/2, safety off at t + passMs [1200].
 *   - backOut(): arming off at t + backOutMs [800].
 *   - tailgate(): like driveThrough with a second car tailgateGapMs [300] behind (2 safety pulses,
 *              arming loop stays covered until the second car is under the arm).
 *   - disconnectCamera(): the driver sees the loss at once (health 'lost') and retries with backoff
 *              [500 ms, x2, max 30 s] until reconnectCamera(); likewise for the QR scanner.
 * Device opens use process.nextTick/promises only, so createSimLane resolves without ticking.
 */
import type {
  GpioWiring,
  LaneDevices,
  LaneDriverKit,
  RecordingDisplay,
  SimulatedLibraries,
} from '../edge/devices/types.js';
import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import type { BackoffOptions } from '../protocol/timers.js';
import { type ArmState, SimArm, type SimPinWiring } from './arm.js';
import { type CameraShot, SimPlateCamera, SimSerialBinding, uniqueSerialPath } from './camera.js';
import { type SimClockLike, sleep } from './clock.js';
import { SimGpioBus } from './gpio.js';
import { SimQrScanner } from './qr.js';
import { SimLoop, SimVehicles, type VehicleTiming } from './vehicles.js';

export type { SimClockLike } from './clock.js';

export interface SimCameraSettings {
  misreadRate?: number;
  noiseRate?: number;
  splitFrames?: boolean;
  /** Reported confidence range, 0..1 [0.85, 0.99]. */
  confidence?: [number, number];
  /** Arming loop to frame on the wire [200]. */
  readDelayMs?: number;
}

export interface SimLaneOptions {
  laneId: string;
  /** Builds the real drivers over the simulated libraries. */
  drivers: LaneDriverKit;
  clock: SimClockLike;
  random: Random;
  logger: Logger;
  armTravelMs?: number;
  /** Wire open/closed limit switches [true]. */
  limitSwitches?: boolean;
  /** Camera settings, or false for a lane without a camera [{}]. */
  camera?: SimCameraSettings | false;
  /** Fit a QR scanner [true]. */
  qr?: boolean;
  /** Loop debounce configured in the driver [50]. */
  debounceMs?: number;
  vehicleTiming?: Partial<VehicleTiming>;
  /** Driver reconnect backoff [500 ms, x2, max 30 s]. */
  backoff?: BackoffOptions;
}

export interface ArrivalOptions {
  /** Force (true) or forbid (false) a misread; default: the camera's misreadRate. */
  misread?: boolean;
  /** The camera sees no plate (dirty, missing, motorbike from behind): nothing is sent. */
  unreadable?: boolean;
  /** Camera reads the car on approach, before it reaches the arming loop. */
  readBeforeLoop?: boolean;
  /** Confidence the camera reports (0..1); default: random in the camera's range. */
  confidence?: number;
}

/** One scripted car at the lane (`SimLaneControl.visit`). */
export interface SimVisit {
  /** What the camera reads; null: no readable plate. */
  plate: string | null;
  /** QR text the driver shows once at the loop; null: none. */
  qr: string | null;
  /** Confidence the camera reports (0..1). */
  confidence?: number;
  /** How long the driver waits for the arm before reversing away. */
  patienceMs: number;
}

/** What a scripted car saw: whether the arm opened (it drove through) and the sign meanwhile. */
export interface SimVisitResult {
  admitted: boolean;
  /** The lane sign when the driver decided (drove on or gave up). */
  display: string[];
  /** The camera's frame, or null (no camera, no plate, or unreadable). */
  read: { plate: string; confidence: number; delivered: boolean } | null;
  /** Whether the QR scanner took the code; null when no code was shown. */
  qrScanned: boolean | null;
}

/** What can be seen of the lane's hardware right now. */
export interface SimLaneSnapshot {
  arm: ArmState;
  loops: { presence: boolean; safety: boolean };
  /** null: the lane has no such device; else whether it is plugged in. */
  camera: boolean | null;
  qr: boolean | null;
  /** A scripted car is at the lane. */
  busy: boolean;
}

export interface SafetyViolation {
  at: number;
  kind: 'lowered-on-occupied-safety-loop';
}

/** What tests and scenarios do to a simulated lane, and what they can observe of the hardware. */
export interface SimLaneControl {
  readonly laneId: string;
  readonly bus: SimGpioBus;
  readonly arm: SimArm;
  readonly armingLoop: SimLoop;
  readonly safetyLoop: SimLoop;
  readonly vehicles: SimVehicles;
  readonly camera: SimPlateCamera | null;
  readonly qr: SimQrScanner | null;
  /** The lane sign (the driver kit's display, with history). */
  readonly display: RecordingDisplay;
  /** The GPIO wiring given to the drivers. */
  readonly pins: GpioWiring;

  /** Arming loop on; the camera then reads `plate` (null: a car the camera cannot read). */
  vehicleArrives(plate: string | null, options?: ArrivalOptions): Promise<CameraShot | null>;
  /** The driver holds a code to the scanner. Resolves false when no scanner is connected. */
  presentQr(text: string): Promise<boolean>;
  driveThrough(): Promise<void>;
  backOut(): Promise<void>;
  /** The admitted car drives through with another on its bumper (read by the camera if `secondPlate`). */
  tailgate(secondPlate?: string): Promise<void>;
  /** Barrier fault injection. */
  jamArm(jammed: boolean): void;
  /** 0 = down .. 1 = up. */
  armPosition(): number;
  armState(): ArmState;
  /** Resolves true when the arm rests in `state`, false after `timeoutMs`. */
  waitForArm(state: 'up' | 'down', timeoutMs: number): Promise<boolean>;
  /** Electrical noise on a loop for `ms` (shorter than the debounce: the lane must not notice). */
  glitch(loop: 'arming' | 'safety', ms: number): Promise<void>;
  disconnectCamera(): Promise<void>;
  reconnectCamera(): void;
  disconnectQr(): void;
  reconnectQr(): void;
  /**
   * One car, start to finish (the demo's scripted arrival): arrives and is read, shows `qr`, drives
   * through once the arm is up or reverses away after `patienceMs`; resolves once the loop driver has
   * reported it gone (the debounce later). Rejects while another scripted car is at the lane.
   */
  visit(visit: SimVisit): Promise<SimVisitResult>;
  /** Force a loop's detector on or off (a stalled car, a stuck detector); 'presence' = arming loop. */
  setLoop(loop: 'presence' | 'safety', occupied: boolean): void;
  snapshot(): SimLaneSnapshot;
  /** Times the relay was driven to arm-down while a vehicle stood on the safety loop (must stay empty). */
  safetyViolations(): readonly SafetyViolation[];
  /** Closes the drivers and the simulated hardware. */
  close(): Promise<void>;
}

/** The fixed wiring of a simulated lane; mixed polarities so the active-low mapping is exercised. */
export const SIM_PINS = {
  relay: { pin: 17, activeLow: true },
  armingLoop: { pin: 27, activeLow: true },
  safetyLoop: { pin: 22, activeLow: true },
  limitOpen: { pin: 23, activeLow: false },
  limitClosed: { pin: 24, activeLow: false },
} as const satisfies Record<string, SimPinWiring>;

/** The electrical side of a lane: GPIO bus, arm, loops, vehicles, and the safety watch on the relay. */
function simHardware(opts: SimLaneOptions, withLimits: boolean) {
  const { clock } = opts;
  const bus = new SimGpioBus();
  const arm = new SimArm({
    bus,
    clock,
    relay: SIM_PINS.relay,
    limitOpen: withLimits ? SIM_PINS.limitOpen : undefined,
    limitClosed: withLimits ? SIM_PINS.limitClosed : undefined,
    travelMs: opts.armTravelMs ?? 1000,
  });
  const armingLoop = new SimLoop(bus, SIM_PINS.armingLoop);
  const safetyLoop = new SimLoop(bus, SIM_PINS.safetyLoop);
  const vehicles = new SimVehicles({
    arming: armingLoop,
    safety: safetyLoop,
    clock,
    timing: opts.vehicleTiming,
  });

  // The one rule the lane must never break: the relay goes arm-down while the safety loop is covered.
  const violations: SafetyViolation[] = [];
  let relayDown = true;
  bus.onOutput(SIM_PINS.relay.pin, (raw) => {
    const armDown = SIM_PINS.relay.activeLow ? raw === 1 : raw === 0;
    if (armDown && !relayDown && safetyLoop.occupied()) {
      violations.push({ at: clock.now(), kind: 'lowered-on-occupied-safety-loop' });
    }
    relayDown = armDown;
  });
  return { bus, arm, armingLoop, safetyLoop, vehicles, violations };
}

/** The GPIO wiring the drivers are configured with (SIM_PINS, limits optional). */
function simWiring(withLimits: boolean, debounceMs: number): GpioWiring {
  return {
    relay: SIM_PINS.relay.pin,
    relayActiveLow: SIM_PINS.relay.activeLow,
    armingLoop: SIM_PINS.armingLoop.pin,
    armingLoopActiveLow: SIM_PINS.armingLoop.activeLow,
    safetyLoop: SIM_PINS.safetyLoop.pin,
    safetyLoopActiveLow: SIM_PINS.safetyLoop.activeLow,
    ...(withLimits
      ? {
          limitOpen: SIM_PINS.limitOpen.pin,
          limitOpenActiveLow: SIM_PINS.limitOpen.activeLow,
          limitClosed: SIM_PINS.limitClosed.pin,
          limitClosedActiveLow: SIM_PINS.limitClosed.activeLow,
        }
      : {}),
    debounceMs,
  };
}

/** The camera and scanner devices, each optional. */
async function simPeripherals(opts: SimLaneOptions) {
  const { laneId, clock, random } = opts;
  const cameraSettings = opts.camera === false ? null : (opts.camera ?? {});
  let serial: SimSerialBinding | null = null;
  let camera: SimPlateCamera | null = null;
  if (cameraSettings) {
    serial = new SimSerialBinding(await uniqueSerialPath(`/dev/ttySIM-${laneId}-plate`));
    camera = new SimPlateCamera({ laneId, serial, clock, random, ...cameraSettings });
  }
  const qr = (opts.qr ?? true) ? new SimQrScanner({ clock }) : null;
  return { serial, camera, qr, readDelayMs: cameraSettings?.readDelayMs ?? 200 };
}

export async function createSimLane(
  opts: SimLaneOptions,
): Promise<{ devices: LaneDevices; sim: SimLaneControl }> {
  const { laneId, clock, logger } = opts;
  const withLimits = opts.limitSwitches ?? true;
  const hw = simHardware(opts, withLimits);
  const peripherals = await simPeripherals(opts);
  const { serial, qr } = peripherals;
  const pins = simWiring(withLimits, opts.debounceMs ?? 50);
  const libraries: SimulatedLibraries = {
    gpio: { factory: hw.bus.factory(), pins },
    ...(serial ? { camera: { binding: serial, path: serial.path, baudRate: 9600 } } : {}),
    ...(qr ? { qr: { open: qr.open } } : {}),
  };
  const devices = await opts.drivers.open(libraries, {
    laneId,
    clock,
    logger,
    timers: clock,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
  });
  const sim = simLaneControl({
    laneId,
    clock,
    hw,
    peripherals,
    pins,
    display: devices.display,
    close: async () => {
      await opts.drivers.close(devices);
      hw.arm.close();
    },
  });
  return { devices, sim };
}

/** What tests and scenarios hold: the hardware's controls and observations. */
function simLaneControl(parts: {
  laneId: string;
  clock: SimClockLike;
  hw: ReturnType<typeof simHardware>;
  peripherals: Awaited<ReturnType<typeof simPeripherals>>;
  pins: GpioWiring;
  display: RecordingDisplay;
  close: () => Promise<void>;
}): SimLaneControl {
  const { laneId, clock, pins } = parts;
  const sign = parts.display;
  const { bus, arm, armingLoop, safetyLoop, vehicles, violations } = parts.hw;
  const { serial, camera, qr, readDelayMs } = parts.peripherals;

  const capture = async (plate: string | null, options: ArrivalOptions): Promise<CameraShot | null> => {
    if (!camera || plate === null || options.unreadable) return null;
    return camera.capture(plate, {
      ...(options.misread === undefined ? {} : { misread: options.misread }),
      ...(options.confidence === undefined ? {} : { confidence: options.confidence }),
    });
  };
  let visiting = false;

  const control: SimLaneControl = {
    laneId,
    bus,
    arm,
    armingLoop,
    safetyLoop,
    vehicles,
    camera,
    qr,
    display: sign,
    pins,
    async vehicleArrives(plate, options = {}) {
      if (options.readBeforeLoop) {
        const shot = await capture(plate, options);
        await sleep(clock, readDelayMs);
        vehicles.arrive();
        return shot;
      }
      vehicles.arrive();
      await sleep(clock, readDelayMs);
      return capture(plate, options);
    },
    async presentQr(text) {
      return qr ? qr.present(text) : false;
    },
    driveThrough: () => vehicles.driveThrough(),
    backOut: () => vehicles.backOut(),
    tailgate: (secondPlate) =>
      vehicles.tailgate(() => {
        if (secondPlate && camera) {
          void sleep(clock, readDelayMs).then(() => camera.capture(secondPlate));
        }
      }),
    jamArm: (jammed) => arm.jam(jammed),
    armPosition: () => arm.position(),
    armState: () => arm.state(),
    waitForArm(state, timeoutMs) {
      if (arm.state() === state) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = clock.setTimeout(() => {
          off();
          resolve(false);
        }, timeoutMs);
        const off = arm.onChange((now) => {
          if (now !== state) return;
          clock.clearTimeout(timer);
          off();
          resolve(true);
        });
      });
    },
    glitch: (loop, ms) => (loop === 'arming' ? armingLoop : safetyLoop).glitch(clock, ms),
    async disconnectCamera() {
      await serial?.unplug();
    },
    reconnectCamera: () => serial?.plug(),
    disconnectQr: () => qr?.unplug(),
    reconnectQr: () => qr?.plug(),
    async visit(v) {
      if (visiting) throw new Error(`a car is already at lane ${laneId}`);
      visiting = true;
      try {
        const shot = await control.vehicleArrives(v.plate, {
          misread: false,
          ...(v.confidence === undefined ? {} : { confidence: v.confidence }),
        });
        const qrScanned = v.qr === null ? null : await control.presentQr(v.qr);
        const admitted = await control.waitForArm('up', v.patienceMs);
        const display = [...sign.current()];
        if (admitted) await control.driveThrough();
        else await control.backOut();
        // Answer once the loop driver has reported the car gone (debounce), so the lane has seen
        // it leave: the passage is recorded by the time the caller hears back.
        await sleep(clock, (pins.debounceMs ?? 50) + 10);
        const read = shot && { plate: shot.sent, confidence: shot.confidence, delivered: shot.delivered };
        return { admitted, display, read, qrScanned };
      } finally {
        visiting = false;
      }
    },
    setLoop(loop, occupied) {
      const target = loop === 'presence' ? armingLoop : safetyLoop;
      if (occupied && !target.occupied()) target.enter();
      while (!occupied && target.occupied()) target.leave();
    },
    snapshot: () => ({
      arm: arm.state(),
      loops: { presence: armingLoop.occupied(), safety: safetyLoop.occupied() },
      camera: serial ? serial.plugged() : null,
      qr: qr ? qr.plugged() : null,
      busy: visiting,
    }),
    safetyViolations: () => violations,
    close: parts.close,
  };
  return control;
}
