import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import fc from 'fast-check';
import sinon from 'sinon';
import t from 'tap';
import { SimSerialBinding } from '../../../hardware-sim/camera.js';
import { encodePlateFrame, type PlateFrameRecord } from '../../../protocol/devices.js';
import { silentLogger } from '../../../protocol/logger.js';
import { SerialPlateCamera } from '../plate-camera.js';
import type { SerialBinding } from '../types.js';
import { systemTimers } from '../../../protocol/timers.js';
import type { DeviceHealth, PlateRead } from '../types.js';

// serialport completes I/O on process.nextTick; keep that (and microtasks) real under fake timers
const TO_FAKE = [
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  'setImmediate',
  'clearImmediate',
  'Date',
] as const;
const realSetImmediate = setImmediate;
/** Lets pending serial I/O (nextTicks and promises) run to completion. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => realSetImmediate(r));
}

const logger = silentLogger();
const READ: PlateFrameRecord = {
  laneId: 'lane-1',
  plate: 'AB123CD',
  confidence: 0.93,
  capturedAt: 1_767_225_600_000,
};
let nextPort = 0;

/** Plain MockBinding, wrapped only to get hold of the opened port so the test can emit bytes. */
function mockLine() {
  const path = `/dev/ttyTEST-camera-${++nextPort}`;
  MockBinding.createPort(path);
  const state: { port: MockPortBinding | null } = { port: null };
  const binding: SerialBinding = {
    list: () => MockBinding.list(),
    open: async (options) => {
      state.port = await MockBinding.open(options);
      return state.port;
    },
  };
  return { path, binding, state };
}

function collect(camera: SerialPlateCamera) {
  const reads: PlateRead[] = [];
  const health: Array<[DeviceHealth, string]> = [];
  camera.onRead((r) => reads.push(r));
  camera.onHealth((h, d) => health.push([h, d]));
  return { reads, health };
}

t.test('end to end on @serialport/binding-mock: real frames in, plate reads out', async (t) => {
  const line = mockLine();
  const camera = new SerialPlateCamera({
    laneId: 'lane-1',
    path: line.path,
    baudRate: 9600,
    binding: line.binding,
    timers: systemTimers(),
    logger,
  });
  t.teardown(() => camera.close());
  const { reads, health } = collect(camera);
  t.equal(camera.health(), 'absent');
  await camera.start();
  t.equal(camera.health(), 'ok');
  t.same(
    health.map((h) => h[0]),
    ['ok'],
  );

  line.state.port!.emitData(
    Buffer.concat([encodePlateFrame(READ), encodePlateFrame({ ...READ, plate: 'XY9' })]),
  );
  await settle();
  t.same(
    reads.map((r) => r.plate),
    ['AB123CD', 'XY9'],
  );
  t.same(reads[0], READ);
  t.same(camera.stats(), { frames: 2, rejected: 0 });
});

t.test('bad checksum and foreign lane are counted as rejected', async (t) => {
  const line = mockLine();
  const camera = new SerialPlateCamera({
    laneId: 'lane-1',
    path: line.path,
    baudRate: 9600,
    binding: line.binding,
    timers: systemTimers(),
    logger,
  });
  t.teardown(() => camera.close());
  const { reads } = collect(camera);
  await camera.start();
  const corrupt = Buffer.from(encodePlateFrame(READ));
  corrupt[12] = 0x5a; // 'Z' into the plate
  line.state.port!.emitData(
    Buffer.concat([corrupt, encodePlateFrame({ ...READ, laneId: 'lane-2' }), encodePlateFrame(READ)]),
  );
  await settle();
  t.same(
    reads.map((r) => r.plate),
    ['AB123CD'],
  );
  t.same(camera.stats(), { frames: 1, rejected: 2 });
});

t.test('a frame split at every byte boundary reads exactly once', async (t) => {
  const line = mockLine();
  const camera = new SerialPlateCamera({
    laneId: 'lane-1',
    path: line.path,
    baudRate: 9600,
    binding: line.binding,
    timers: systemTimers(),
    logger,
  });
  t.teardown(() => camera.close());
  const { reads } = collect(camera);
  await camera.start();
  const frame = encodePlateFrame(READ);
  for (let cut = 1; cut < frame.length; cut++) {
    line.state.port!.emitData(frame.subarray(0, cut));
    await settle(5);
    line.state.port!.emitData(frame.subarray(cut));
    await settle(5);
  }
  t.equal(reads.length, frame.length - 1);
  t.ok(reads.every((r) => r.plate === READ.plate));
  t.equal(camera.stats().rejected, 0);
});

t.test('fuzz: random bytes never break the driver; the next good frame is read', async (t) => {
  const line = mockLine();
  const camera = new SerialPlateCamera({
    laneId: 'lane-1',
    path: line.path,
    baudRate: 9600,
    binding: line.binding,
    timers: systemTimers(),
    logger,
  });
  t.teardown(() => camera.close());
  const { reads } = collect(camera);
  await camera.start();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 5 }),
      fc.stringMatching(/^[A-Z0-9]{1,16}$/),
      async (chunks, plate) => {
        for (const chunk of chunks) line.state.port!.emitData(Buffer.from(chunk));
        const before = reads.length;
        line.state.port!.emitData(encodePlateFrame({ ...READ, plate }));
        await settle(8);
        return camera.health() === 'ok' && reads.length === before + 1 && reads.at(-1)?.plate === plate;
      },
    ),
    { numRuns: 100 },
  );
});

t.test('device loss: health lost, retries with exponential backoff, recovers and resets', async (t) => {
  const fake = sinon.useFakeTimers({ toFake: [...TO_FAKE] });
  t.teardown(() => fake.restore());
  const serial = new SimSerialBinding(`/dev/ttyTEST-camera-loss-${++nextPort}`);
  const camera = new SerialPlateCamera({
    laneId: 'lane-1',
    path: serial.path,
    baudRate: 9600,
    binding: serial,
    timers: systemTimers(),
    logger,
    backoff: { initialMs: 500, factor: 2, maxMs: 4000 },
  });
  t.teardown(() => camera.close());
  const { reads, health } = collect(camera);
  await camera.start();
  t.equal(camera.health(), 'ok');

  await serial.unplug();
  await settle();
  t.equal(camera.health(), 'lost');
  t.match(health.at(-1)?.[1], /disconnected.*retry in 500 ms/);

  await fake.tickAsync(499);
  t.equal(camera.health(), 'lost', 'no retry before the backoff');
  await fake.tickAsync(1);
  await settle();
  t.same(
    health.slice(-2).map((h) => h[0]),
    ['retrying', 'lost'],
  );
  t.match(health.at(-1)?.[1], /open failed.*retry in 1000 ms/);

  await fake.tickAsync(1000);
  await settle();
  t.match(health.at(-1)?.[1], /retry in 2000 ms/);
  await fake.tickAsync(2000);
  await settle();
  t.match(health.at(-1)?.[1], /retry in 4000 ms/);
  await fake.tickAsync(4000);
  await settle();
  t.match(health.at(-1)?.[1], /retry in 4000 ms/, 'capped at maxMs');

  serial.plug();
  await fake.tickAsync(4000);
  await settle();
  t.equal(camera.health(), 'ok');
  serial.emit(encodePlateFrame(READ));
  await settle();
  t.same(
    reads.map((r) => r.plate),
    ['AB123CD'],
    'reads again after reconnecting',
  );

  await serial.unplug();
  await settle();
  t.match(health.at(-1)?.[1], /retry in 500 ms/, 'backoff reset after a success');
});

t.test('a camera missing at start degrades, then comes up', async (t) => {
  const fake = sinon.useFakeTimers({ toFake: [...TO_FAKE] });
  t.teardown(() => fake.restore());
  const serial = new SimSerialBinding(`/dev/ttyTEST-camera-late-${++nextPort}`);
  await serial.unplug();
  const camera = new SerialPlateCamera({
    laneId: 'lane-1',
    path: serial.path,
    baudRate: 9600,
    binding: serial,
    timers: systemTimers(),
    logger,
  });
  await camera.start();
  t.equal(camera.health(), 'lost');
  serial.plug();
  await fake.tickAsync(500);
  await settle();
  t.equal(camera.health(), 'ok');
  await camera.close();
  t.equal(camera.health(), 'absent');
});

t.test('close() during backoff stops retrying', async (t) => {
  const fake = sinon.useFakeTimers({ toFake: [...TO_FAKE] });
  t.teardown(() => fake.restore());
  const opens = { n: 0 };
  const binding: SerialBinding = {
    list: async () => [],
    open: async () => {
      opens.n++;
      throw new Error('ENOENT');
    },
  };
  const camera = new SerialPlateCamera({
    laneId: 'lane-1',
    path: '/dev/none',
    baudRate: 9600,
    binding,
    timers: systemTimers(),
    logger,
  });
  await camera.start();
  await settle();
  t.equal(opens.n, 1);
  await camera.close();
  await fake.tickAsync(60_000);
  await settle();
  t.equal(opens.n, 1);
  t.equal(camera.health(), 'absent');
});
