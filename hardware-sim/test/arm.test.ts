import sinon from 'sinon';
import t from 'tap';
import { SimArm } from '../arm.js';
import { hostClock, SIM_FAKE_TIMERS } from '../clock.js';
import { SimGpioBus } from '../gpio.js';

function rig(t: { teardown(fn: () => void): void }, travelMs = 1000) {
  const fake = sinon.useFakeTimers({ now: 0, toFake: [...SIM_FAKE_TIMERS.toFake] });
  t.teardown(() => fake.restore());
  const bus = new SimGpioBus();
  const arm = new SimArm({
    bus,
    clock: hostClock(),
    relay: { pin: 17, activeLow: true },
    limitOpen: { pin: 23, activeLow: false },
    limitClosed: { pin: 24, activeLow: true },
    travelMs,
  });
  // drive the relay the way a driver would, through a SimGpio output
  const relay = bus.factory()(17, 'high', 'none', {});
  const raise = () => relay.writeSync(0);
  const lower = () => relay.writeSync(1);
  const limits = () => ({ open: bus.level(23) === 1, closed: bus.level(24) === 0 });
  return { fake, bus, arm, raise, lower, limits };
}

t.test('travel time and limit switches', async (t) => {
  const { fake, arm, raise, lower, limits } = rig(t);
  t.equal(arm.state(), 'down');
  t.same(limits(), { open: false, closed: true });
  raise();
  t.equal(arm.state(), 'raising');
  t.same(limits(), { open: false, closed: false }, 'leaving the closed stop releases it at once');
  fake.tick(500);
  t.equal(arm.position(), 0.5);
  fake.tick(499);
  t.equal(arm.state(), 'raising');
  t.same(limits(), { open: false, closed: false });
  fake.tick(1);
  t.equal(arm.state(), 'up');
  t.equal(arm.position(), 1);
  t.same(limits(), { open: true, closed: false });
  lower();
  fake.tick(1000);
  t.equal(arm.state(), 'down');
  t.same(limits(), { open: false, closed: true });
});

t.test('reversal mid-travel takes only the distance covered', async (t) => {
  const { fake, arm, raise, lower } = rig(t);
  raise();
  fake.tick(300);
  lower();
  t.equal(arm.state(), 'lowering');
  fake.tick(299);
  t.equal(arm.state(), 'lowering');
  fake.tick(1);
  t.equal(arm.state(), 'down');
});

t.test('jam: the arm stops and no limit is reached; releasing resumes', async (t) => {
  const { fake, arm, raise, lower, limits } = rig(t);
  raise();
  fake.tick(1000);
  lower();
  fake.tick(400);
  arm.jam(true);
  t.equal(arm.state(), 'jammed');
  fake.tick(10_000);
  t.equal(arm.position(), 0.6);
  t.same(limits(), { open: false, closed: false }, 'jammed: no closed limit');
  arm.jam(false);
  t.equal(arm.state(), 'lowering');
  fake.tick(600);
  t.equal(arm.state(), 'down');
  t.same(limits(), { open: false, closed: true });
});

t.test('jammed at rest: a raise command does not move it', async (t) => {
  const { fake, arm, raise, limits } = rig(t);
  arm.jam(true);
  raise();
  fake.tick(5000);
  t.equal(arm.position(), 0);
  t.same(limits(), { open: false, closed: true });
  t.equal(arm.target(), 'up');
});

t.test('SimGpio mirrors onoff: activeLow inverts, edges filtered, inputs refuse writes', async (t) => {
  const bus = new SimGpioBus();
  const make = bus.factory();
  const inverted = make(5, 'in', 'both', { activeLow: true });
  const rising = make(5, 'in', 'rising', {});
  const seen: string[] = [];
  inverted.watch((_e, v) => seen.push(`inv:${v}`));
  rising.watch((_e, v) => seen.push(`rise:${v}`));
  t.equal(inverted.readSync(), 1);
  bus.drive(5, 1);
  bus.drive(5, 1); // no edge
  bus.drive(5, 0);
  t.same(seen, ['inv:0', 'rise:1', 'inv:1']);
  t.throws(() => inverted.writeSync(1), /input/);
  inverted.unexport();
  t.throws(() => inverted.readSync(), /not exported/);
  const out = make(6, 'out', 'none', { activeLow: true });
  t.equal(bus.level(6), 0, "'out' starts low");
  out.writeSync(1);
  t.equal(bus.level(6), 0, 'activeLow write 1 -> raw 0');
  t.match(bus.journal().at(-1), { op: 'write', pin: 6, value: 1, raw: 0 });
});
