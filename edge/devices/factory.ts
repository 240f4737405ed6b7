import { z } from 'zod';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import { type BackoffOptions, systemTimers, type Timers } from '../../protocol/timers.js';
import { LogDisplay, MemoryDisplay } from './display.js';
import { GpioBarrier, GpioLoop, realGpioFactory } from './gpio.js';
import { nativeSerialBinding, SerialPlateCamera } from './plate-camera.js';
import { HidQrScanner, nodeHidOpener } from './qr-scanner.js';
import type {
  GpioFactory,
  GpioWiring,
  HidOpener,
  LaneDevices,
  LaneDisplay,
  LaneDriverKit,
  PlateCameraDriver,
  QrScannerDriver,
  SerialBinding,
  SimulatedLibraries,
} from './types.js';

const PinNumber = z.number().int().min(0).max(1023);

/** Real GPIO wiring of one lane. "ActiveLow" = the signal is active when the pin reads 0. */
export const GpioPinsSchema = z
  .object({
    relay: PinNumber,
    /** Most opto-isolated relay boards energise on a low input. */
    relayActiveLow: z.boolean().default(false),
    armingLoop: PinNumber,
    armingLoopActiveLow: z.boolean().default(false),
    safetyLoop: PinNumber,
    safetyLoopActiveLow: z.boolean().default(false),
    limitOpen: PinNumber.optional(),
    limitOpenActiveLow: z.boolean().default(false),
    limitClosed: PinNumber.optional(),
    limitClosedActiveLow: z.boolean().default(false),
    /** Loop detector outputs chatter as a vehicle moves over the edge of the loop. */
    debounceMs: z.number().int().min(0).max(5000).default(50),
    limitDebounceMs: z.number().int().min(0).max(1000).default(20),
  })
  .refine(
    (p) => {
      const pins = [p.relay, p.armingLoop, p.safetyLoop, p.limitOpen, p.limitClosed].filter(
        (x) => x !== undefined,
      );
      return new Set(pins).size === pins.length;
    },
    { message: 'each GPIO pin may be used once per lane' },
  );
export type GpioPins = z.output<typeof GpioPinsSchema>;
/** The simulator writes its wiring against types.ts (it may not import this file); same shape. */
export type GpioPinsInput = GpioWiring;
type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// Fails to compile when the schema and the GpioWiring interface drift apart.
export const GPIO_WIRING_MATCHES_SCHEMA: SameShape<GpioWiring, z.input<typeof GpioPinsSchema>> = true;

export const SerialCameraSchema = z.object({
  path: z.string().min(1),
  baudRate: z.number().int().positive().default(9600),
});
export const HidScannerSchema = z.object({
  vendorId: z.number().int().min(0).max(0xffff),
  productId: z.number().int().min(0).max(0xffff),
});

/**
 * How a lane's devices are bound: each device is either real hardware settings or 'sim' (the
 * simulator supplies the substitute library objects through `deps.sim`); camera and QR may be 'none'.
 */
export const LaneDeviceBindingSchema = z.object({
  gpio: z.union([z.literal('sim'), GpioPinsSchema]),
  camera: z.union([z.literal('sim'), z.literal('none'), SerialCameraSchema]).default('none'),
  qr: z.union([z.literal('sim'), z.literal('none'), HidScannerSchema]).default('none'),
  display: z.enum(['log', 'memory']).default('log'),
});
export type LaneDeviceBinding = z.output<typeof LaneDeviceBindingSchema>;
export type LaneDeviceBindingInput = z.input<typeof LaneDeviceBindingSchema>;

export interface LaneDeviceDeps {
  laneId: string;
  clock: Clock;
  logger: Logger;
  /** Defaults to the host timers (faked by sinon in tests). */
  timers?: Timers;
  backoff?: BackoffOptions;
  /** What the simulator hands in for devices bound to 'sim': the library stand-ins, not drivers. */
  sim?: Partial<SimulatedLibraries>;
  /** Overrides for the real libraries (tests); default: lazy onoff / bindings-cpp / node-hid. */
  real?: {
    gpioFactory?: () => Promise<GpioFactory>;
    serialBinding?: () => Promise<SerialBinding>;
    hidOpener?: (vendorId: number, productId: number) => HidOpener;
  };
}

/**
 * Builds one lane's drivers. The barrier comes first, so the relay is driven arm-down before any
 * other device is touched. Camera and QR failures degrade the lane (health 'lost', retried) or,
 * when the native library cannot load at all, leave that device null; GPIO failures throw because
 * a lane without its barrier cannot run.
 */
export async function createLaneDevices(
  binding: LaneDeviceBindingInput,
  deps: LaneDeviceDeps,
): Promise<LaneDevices> {
  const parsed = LaneDeviceBindingSchema.safeParse(binding);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`lane ${deps.laneId}: invalid device binding: ${detail}`);
  }
  const config = parsed.data;
  const timers = deps.timers ?? systemTimers();
  const logger = deps.logger.child({ laneId: deps.laneId, component: 'devices' });

  let gpio: GpioFactory;
  let pins: GpioPins;
  if (config.gpio === 'sim') {
    if (!deps.sim?.gpio)
      throw new Error(`lane ${deps.laneId}: gpio bound to 'sim' but no simulated GPIO given`);
    gpio = deps.sim.gpio.factory;
    pins = GpioPinsSchema.parse(deps.sim.gpio.pins);
  } else {
    gpio = await (deps.real?.gpioFactory ?? realGpioFactory)();
    pins = config.gpio;
  }

  const barrier = new GpioBarrier({
    gpio,
    relay: { pin: pins.relay, activeLow: pins.relayActiveLow },
    limitOpen:
      pins.limitOpen === undefined ? undefined : { pin: pins.limitOpen, activeLow: pins.limitOpenActiveLow },
    limitClosed:
      pins.limitClosed === undefined
        ? undefined
        : { pin: pins.limitClosed, activeLow: pins.limitClosedActiveLow },
    limitDebounceMs: pins.limitDebounceMs,
    timers,
    logger: logger.child({ device: 'barrier' }),
  });
  const loops: GpioLoop[] = [];
  try {
    for (const [name, pin, activeLow] of [
      ['armingLoop', pins.armingLoop, pins.armingLoopActiveLow],
      ['safetyLoop', pins.safetyLoop, pins.safetyLoopActiveLow],
    ] as const) {
      loops.push(
        new GpioLoop({
          gpio,
          binding: { pin, activeLow },
          debounceMs: pins.debounceMs,
          timers,
          logger: logger.child({ device: name }),
        }),
      );
    }
  } catch (err) {
    for (const loop of loops) loop.close();
    barrier.close();
    throw err;
  }
  const [armingLoop, safetyLoop] = loops as [GpioLoop, GpioLoop];

  const camera = await createCamera(config.camera, deps, timers, logger.child({ device: 'camera' }));
  const qr = await createQr(config.qr, deps, timers, logger.child({ device: 'qr' }));
  const display: LaneDisplay =
    config.display === 'memory'
      ? new MemoryDisplay({ clock: deps.clock })
      : new LogDisplay({ logger: logger.child({ device: 'display' }) });

  return { barrier, armingLoop, safetyLoop, camera, qr, display };
}

async function createCamera(
  setting: LaneDeviceBinding['camera'],
  deps: LaneDeviceDeps,
  timers: Timers,
  logger: Logger,
): Promise<PlateCameraDriver | null> {
  if (setting === 'none') return null;
  let binding: SerialBinding;
  let path: string;
  let baudRate: number;
  if (setting === 'sim') {
    if (!deps.sim?.camera)
      throw new Error(`lane ${deps.laneId}: camera bound to 'sim' but no simulated port given`);
    ({ binding, path } = deps.sim.camera);
    baudRate = deps.sim.camera.baudRate ?? 9600;
  } else {
    try {
      binding = await (deps.real?.serialBinding ?? nativeSerialBinding)();
    } catch (err) {
      logger.error({ err }, 'serial library unavailable; lane runs without its plate camera');
      return null;
    }
    ({ path, baudRate } = setting);
  }
  const camera = new SerialPlateCamera({
    laneId: deps.laneId,
    path,
    baudRate,
    binding,
    timers,
    logger,
    backoff: deps.backoff,
  });
  await camera.start();
  return camera;
}

async function createQr(
  setting: LaneDeviceBinding['qr'],
  deps: LaneDeviceDeps,
  timers: Timers,
  logger: Logger,
): Promise<QrScannerDriver | null> {
  if (setting === 'none') return null;
  let open: HidOpener;
  if (setting === 'sim') {
    if (!deps.sim?.qr)
      throw new Error(`lane ${deps.laneId}: qr bound to 'sim' but no simulated device given`);
    open = deps.sim.qr.open;
  } else {
    // node-hid is imported inside the opener; a load failure shows up as a lost device and is retried
    open = (deps.real?.hidOpener ?? nodeHidOpener)(setting.vendorId, setting.productId);
  }
  const qr = new HidQrScanner({ open, timers, logger, backoff: deps.backoff });
  await qr.start();
  return qr;
}

/** Closes a lane's devices; the barrier last, and without moving it (see GpioBarrier.close). */
export async function closeLaneDevices(devices: LaneDevices): Promise<void> {
  await Promise.all([devices.camera?.close(), devices.qr?.close()]);
  devices.display.close();
  devices.armingLoop.close();
  devices.safetyLoop.close();
  devices.barrier.close();
}

/**
 * The real drivers over a simulator's libraries, for hardware-sim (which may not import this file):
 * whoever composes a simulated lot passes this kit in.
 */
export const simulatedLibraryDrivers: LaneDriverKit = {
  async open(libraries, deps) {
    const devices = await createLaneDevices(
      {
        gpio: 'sim',
        camera: libraries.camera ? 'sim' : 'none',
        qr: libraries.qr ? 'sim' : 'none',
        display: 'memory',
      },
      { ...deps, sim: libraries },
    );
    const { display } = devices;
    if (!(display instanceof MemoryDisplay))
      throw new Error(`lane ${deps.laneId}: expected a memory display`);
    return { ...devices, display };
  },
  close: closeLaneDevices,
};
