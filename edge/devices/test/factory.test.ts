import { execFileSync } from 'node:child_process';
import { MockBinding } from '@serialport/binding-mock';
import t from 'tap';
import { TestClock } from '../../../protocol/clock.js';
import { silentLogger } from '../../../protocol/logger.js';
import { MemoryDisplay, LogDisplay } from '../display.js';
import {
  closeLaneDevices,
  createLaneDevices,
  LaneDeviceBindingSchema,
  type LaneDeviceDeps,
} from '../factory.js';
import type { GpioFactory, GpioValue } from '../types.js';

const PINS = { relay: 17, relayActiveLow: true, armingLoop: 27, safetyLoop: 22 };

function recordingFactory() {
  const exports: Array<{ pin: number; direction: string }> = [];
  const writes: Array<{ pin: number; value: GpioValue }> = [];
  const factory: GpioFactory = (pin, direction) => {
    exports.push({ pin, direction });
    return {
      readSync: () => 0,
      writeSync: (value) => {
        writes.push({ pin, value });
      },
      watch: () => {},
      unwatchAll: () => {},
      unexport: () => {},
    };
  };
  return { factory, exports, writes };
}

function deps(extra: Partial<LaneDeviceDeps> = {}): LaneDeviceDeps {
  return { laneId: 'lane-1', clock: new TestClock(0), logger: silentLogger(), ...extra };
}

t.test('schema: defaults, per-pin polarity, and refusals', async (t) => {
  const parsed = LaneDeviceBindingSchema.parse({ gpio: PINS });
  t.same(parsed.camera, 'none');
  t.same(parsed.qr, 'none');
  t.equal(parsed.display, 'log');
  t.match(parsed.gpio, {
    relayActiveLow: true,
    armingLoopActiveLow: false,
    debounceMs: 50,
    limitDebounceMs: 20,
  });
  t.same(LaneDeviceBindingSchema.parse({ gpio: 'sim', camera: { path: '/dev/ttyUSB0' } }).camera, {
    path: '/dev/ttyUSB0',
    baudRate: 9600,
  });
  t.notOk(LaneDeviceBindingSchema.safeParse({ gpio: { ...PINS, safetyLoop: 27 } }).success, 'pin used twice');
  t.notOk(LaneDeviceBindingSchema.safeParse({ gpio: PINS, qr: { vendorId: 70000, productId: 1 } }).success);
  t.notOk(LaneDeviceBindingSchema.safeParse({ gpio: PINS, display: 'lcd' }).success);
});

t.test('a bad binding fails with the lane and the field named', async (t) => {
  await t.rejects(
    createLaneDevices({ gpio: { ...PINS, relay: -1 } }, deps()),
    /lane lane-1: invalid device binding: gpio/,
  );
  await t.rejects(createLaneDevices({ gpio: 'sim' }, deps()), /gpio bound to 'sim' but no simulated GPIO/);
});

t.test('real GPIO settings: barrier first, arm-down first', async (t) => {
  const rec = recordingFactory();
  const devices = await createLaneDevices(
    { gpio: { ...PINS, limitClosed: 24, limitClosedActiveLow: true }, display: 'memory' },
    deps({ real: { gpioFactory: async () => rec.factory } }),
  );
  t.same(rec.exports[0], { pin: 17, direction: 'high' });
  t.same(rec.writes[0], { pin: 17, value: 1 });
  t.same(
    rec.exports.map((e) => e.pin),
    [17, 24, 27, 22],
  );
  t.equal(devices.barrier.hasLimitSwitches, true);
  t.equal(devices.camera, null);
  t.equal(devices.qr, null);
  t.ok(devices.display instanceof MemoryDisplay);
  await closeLaneDevices(devices);
});

t.test(
  'camera/qr: real settings use the (injected) libraries; a library that cannot load degrades',
  async (t) => {
    const rec = recordingFactory();
    MockBinding.createPort('/dev/ttyTEST-factory');
    const opened: Array<[number, number]> = [];
    const devices = await createLaneDevices(
      {
        gpio: PINS,
        camera: { path: '/dev/ttyTEST-factory', baudRate: 19200 },
        qr: { vendorId: 0x05e0, productId: 0x1200 },
      },
      deps({
        real: {
          gpioFactory: async () => rec.factory,
          serialBinding: async () => MockBinding,
          hidOpener: (vid, pid) => async () => {
            opened.push([vid, pid]);
            throw new Error('no such device');
          },
        },
        backoff: { initialMs: 60_000 },
      }),
    );
    t.equal(devices.camera?.health(), 'ok');
    t.equal(devices.qr?.health(), 'lost', 'missing scanner degrades, does not throw');
    t.same(opened, [[0x05e0, 0x1200]]);
    t.ok(devices.display instanceof LogDisplay);
    await closeLaneDevices(devices);

    const without = await createLaneDevices(
      { gpio: PINS, camera: { path: '/dev/ttyX', baudRate: 9600 } },
      deps({
        real: {
          gpioFactory: async () => rec.factory,
          serialBinding: async () => {
            throw new Error('Cannot find module @serialport/bindings-cpp');
          },
        },
      }),
    );
    t.equal(without.camera, null, 'lane runs without its camera');
    await closeLaneDevices(without);
  },
);

t.test('native modules are not loaded by importing the drivers or the simulator', async (t) => {
  const script = `
    import { createRequire } from 'node:module';
    await import('./edge/devices/factory.ts');
    await import('./hardware-sim/index.ts');
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(loaded.filter((p) => /onoff|epoll|node-hid|bindings-cpp/.test(p))));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('../../../', import.meta.url),
    encoding: 'utf8',
  });
  t.same(JSON.parse(out.trim().split('\n').at(-1)!), []);
});
