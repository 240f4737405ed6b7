import sinon from 'sinon';
import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { seededRandom } from '../../protocol/random.js';
import type { PlateRead } from '../../edge/devices/types.js';
import { hostClock, SIM_FAKE_TIMERS } from '../clock.js';
import { createSimLane } from '../lane.js';
import { simulatedLibraryDrivers as drivers } from '../../edge/devices/factory.js';

t.test('a vehicle arrives: loops, camera and arm through the real drivers', async (t) => {
  const fake = sinon.useFakeTimers({ now: 1_767_225_600_000, toFake: [...SIM_FAKE_TIMERS.toFake] });
  t.teardown(() => fake.restore());
  const { devices, sim } = await createSimLane({
    laneId: 'lane-1',
    drivers,
    clock: hostClock(),
    random: seededRandom(1),
    logger: silentLogger(),
  });
  t.teardown(() => sim.close());
  t.equal(devices.camera?.health(), 'ok');
  t.equal(devices.qr?.health(), 'ok');
  t.same(devices.barrier.limits(), { open: false, closed: true });
  t.equal(devices.armingLoop.occupied(), false);

  const reads: PlateRead[] = [];
  devices.camera?.onRead((r) => reads.push(r));
  const arming: boolean[] = [];
  devices.armingLoop.onChange((o) => arming.push(o));

  const arrived = sim.vehicleArrives('AB123CD', { misread: false });
  await fake.tickAsync(250);
  const shot = await arrived;
  t.same(arming, [true]);
  t.equal(reads.length, 1);
  t.equal(reads[0]?.plate, 'AB123CD');
  t.equal(reads[0]?.laneId, 'lane-1');
  t.equal(reads[0]?.confidence, shot?.confidence);

  devices.barrier.raise();
  t.equal(sim.armState(), 'raising');
  await fake.tickAsync(30); // past the 20 ms limit-switch debounce
  t.same(devices.barrier.limits(), { open: false, closed: false });
  const up = sim.waitForArm('up', 5000);
  await fake.tickAsync(1100);
  t.equal(await up, true);
  t.same(devices.barrier.limits(), { open: true, closed: false });

  const codes: string[] = [];
  devices.qr?.onCode((c) => codes.push(c));
  const presented = sim.presentQr('RES-42_Xy');
  await fake.tickAsync(100);
  t.equal(await presented, true);
  t.same(codes, ['RES-42_Xy']);

  const passing = sim.driveThrough();
  await fake.tickAsync(1300);
  await passing;
  t.equal(devices.armingLoop.occupied(), false);
  t.equal(devices.safetyLoop.occupied(), false);
  devices.barrier.lower();
  await fake.tickAsync(1100);
  t.equal(sim.armState(), 'down');
  t.same(devices.barrier.limits(), { open: false, closed: true });
  t.same(sim.safetyViolations(), []);
});

async function lane(
  t: { teardown(fn: () => unknown): void },
  opts: Partial<Parameters<typeof createSimLane>[0]> = {},
) {
  const fake = sinon.useFakeTimers({ now: 1_767_225_600_000, toFake: [...SIM_FAKE_TIMERS.toFake] });
  t.teardown(() => fake.restore());
  const built = await createSimLane({
    laneId: 'lane-1',
    drivers,
    clock: hostClock(),
    random: seededRandom(7),
    logger: silentLogger(),
    ...opts,
  });
  t.teardown(() => built.sim.close());
  return { fake, ...built };
}

t.test('camera misreads, noise and split frames: the driver reports exactly what was sent', async (t) => {
  const { fake, devices, sim } = await lane(t, {
    camera: { misreadRate: 0.5, noiseRate: 1, splitFrames: true },
  });
  const reads: PlateRead[] = [];
  devices.camera!.onRead((r) => reads.push(r));
  const plates = ['OB8SZ21', 'IS0LATE', 'AB123CD', 'Z1B8O5S', 'XYZ987'];
  for (const plate of plates) {
    const arrived = sim.vehicleArrives(plate);
    await fake.tickAsync(300);
    await arrived;
    const backing = sim.backOut();
    await fake.tickAsync(1000);
    await backing;
  }
  const shots = sim.camera!.shots();
  t.equal(shots.length, plates.length);
  t.same(
    reads.map((r) => r.plate),
    shots.map((s) => s.sent),
  );
  t.ok(
    shots.some((s) => s.misread),
    'some misreads',
  );
  for (const s of shots) {
    if (s.misread) t.not(s.sent, s.plate);
    else t.equal(s.sent, s.plate);
    t.ok(s.confidence >= 0.85 && s.confidence <= 0.99);
  }
});

t.test('same seed, same camera output', async (t) => {
  const run = async () => {
    const { fake, sim } = await lane(t, { camera: { misreadRate: 0.5 } });
    const sent: string[] = [];
    for (const plate of ['OB8SZ21', 'AB123CD', 'ZZ1100', 'SBOI']) {
      const p = sim.vehicleArrives(plate);
      await fake.tickAsync(300);
      sent.push((await p)!.sent);
      const b = sim.backOut();
      await fake.tickAsync(1000);
      await b;
    }
    fake.restore();
    await sim.close();
    return sent;
  };
  t.same(await run(), await run());
});

t.test('back-out, tailgate and a glitch, as the loop drivers see them', async (t) => {
  const { fake, devices, sim } = await lane(t);
  const events: string[] = [];
  devices.armingLoop.onChange((o) => events.push(`arming:${o}`));
  devices.safetyLoop.onChange((o) => events.push(`safety:${o}`));

  const glitch = sim.glitch('safety', 20);
  await fake.tickAsync(200);
  await glitch;
  t.same(events, [], 'a 20 ms glitch is below the 50 ms debounce');

  const a = sim.vehicleArrives('AB123CD');
  await fake.tickAsync(300);
  await a;
  const b = sim.backOut();
  await fake.tickAsync(1000);
  await b;
  t.same(events, ['arming:true', 'arming:false']);

  events.length = 0;
  const c = sim.vehicleArrives('AB123CD');
  await fake.tickAsync(300);
  await c;
  devices.barrier.raise();
  await fake.tickAsync(1100);
  const tg = sim.tailgate('TG1234');
  await fake.tickAsync(4000);
  await tg;
  t.same(events, [
    'arming:true',
    'safety:true',
    'safety:false',
    'safety:true',
    'arming:false',
    'safety:false',
  ]);
  t.same(
    sim.camera!.shots().map((s) => s.plate),
    ['AB123CD', 'AB123CD', 'TG1234'],
  );
});

t.test('jammed arm: the limit driver never reports closed', async (t) => {
  const { fake, devices, sim } = await lane(t);
  devices.barrier.raise();
  await fake.tickAsync(1100);
  t.same(devices.barrier.limits(), { open: true, closed: false });
  devices.barrier.lower();
  await fake.tickAsync(300);
  sim.jamArm(true);
  await fake.tickAsync(10_000);
  t.same(devices.barrier.limits(), { open: false, closed: false });
  t.equal(sim.armState(), 'jammed');
  sim.jamArm(false);
  await fake.tickAsync(1000);
  t.same(devices.barrier.limits(), { open: false, closed: true });
});

t.test('lowering on an occupied safety loop is recorded as a violation', async (t) => {
  const { fake, devices, sim } = await lane(t);
  const a = sim.vehicleArrives('AB123CD');
  await fake.tickAsync(300);
  await a;
  devices.barrier.raise();
  await fake.tickAsync(1100);
  const passing = sim.driveThrough();
  await fake.tickAsync(300);
  devices.barrier.lower(); // what the lane must never do
  await fake.tickAsync(1000);
  await passing;
  t.equal(sim.safetyViolations().length, 1);
});

t.test('camera and QR scanner unplugged and back: the drivers report it and recover', async (t) => {
  const { fake, devices, sim } = await lane(t);
  const health: string[] = [];
  devices.camera!.onHealth((h) => health.push(`camera:${h}`));
  devices.qr!.onHealth((h) => health.push(`qr:${h}`));
  await sim.disconnectCamera();
  sim.disconnectQr();
  await fake.tickAsync(10);
  t.equal(devices.camera!.health(), 'lost');
  t.equal(devices.qr!.health(), 'lost');
  const shot = sim.vehicleArrives('AB123CD');
  await fake.tickAsync(300);
  t.equal((await shot)?.delivered, false, 'frames written into an unplugged line are lost');
  sim.reconnectCamera();
  sim.reconnectQr();
  await fake.tickAsync(600);
  t.equal(devices.camera!.health(), 'ok');
  t.equal(devices.qr!.health(), 'ok');
  t.same(
    health.filter((h) => h.startsWith('camera')),
    ['camera:lost', 'camera:retrying', 'camera:ok'],
  );
  t.same(
    health.filter((h) => h.startsWith('qr')),
    ['qr:lost', 'qr:retrying', 'qr:ok'],
  );
  const codes: string[] = [];
  devices.qr!.onCode((c) => codes.push(c));
  const q = sim.presentQr('BACK');
  await fake.tickAsync(50);
  await q;
  t.same(codes, ['BACK']);
});

t.test('a lane without limit switches, camera or scanner', async (t) => {
  const { fake, devices, sim } = await lane(t, {
    limitSwitches: false,
    camera: false,
    qr: false,
    armTravelMs: 3000,
  });
  t.equal(devices.barrier.hasLimitSwitches, false);
  t.equal(devices.camera, null);
  t.equal(devices.qr, null);
  t.equal(await sim.presentQr('X'), false);
  devices.barrier.raise();
  await fake.tickAsync(2999);
  t.equal(sim.armState(), 'raising');
  await fake.tickAsync(1);
  t.equal(sim.armState(), 'up');
  t.same(devices.barrier.limits(), { open: false, closed: false });
});

t.test('two lanes with the same id get separate serial lines', async (t) => {
  const fake = sinon.useFakeTimers({ now: 0, toFake: [...SIM_FAKE_TIMERS.toFake] });
  t.teardown(() => fake.restore());
  const mk = () =>
    createSimLane({
      laneId: 'dup',
      drivers,
      clock: hostClock(),
      random: seededRandom(1),
      logger: silentLogger(),
    });
  const one = await mk();
  const two = await mk();
  t.teardown(() => Promise.all([one.sim.close(), two.sim.close()]));
  t.not(one.sim.camera!.serial.path, two.sim.camera!.serial.path);
  const reads: string[] = [];
  one.devices.camera!.onRead((r) => reads.push(`one:${r.plate}`));
  two.devices.camera!.onRead((r) => reads.push(`two:${r.plate}`));
  const a = two.sim.vehicleArrives('TWO2');
  await fake.tickAsync(300);
  await a;
  t.same(reads, ['two:TWO2']);
});

t.test('the display is the memory sign with history', async (t) => {
  const { devices, sim } = await lane(t);
  devices.display.show(['WELCOME', 'AB123CD']);
  devices.display.show(['SPOT B12']);
  t.same(sim.display.current(), ['SPOT B12']);
  t.same(
    sim.display.history().map((e) => e.lines),
    [['WELCOME', 'AB123CD'], ['SPOT B12']],
  );
});
