import sinon from 'sinon';
import t from 'tap';
import type { LaneDevices } from '../../edge/devices/types.js';
import { silentLogger } from '../../protocol/logger.js';
import { seededRandom } from '../../protocol/random.js';
import { hostClock, SIM_FAKE_TIMERS } from '../clock.js';
import { createSimLane } from '../lane.js';
import { simulatedLibraryDrivers as drivers } from '../../edge/devices/factory.js';
import { generateTraffic, type ReservationSpec, runTraffic, VEHICLE_KINDS } from '../scenarios.js';

const START = Date.UTC(2026, 0, 5, 8, 0, 0);
const MIN = 60_000;
const makeReservations = (n: number): ReservationSpec[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    plate: `RS${100 + i}AA`,
    qr: `QR-r${i}`,
    startMs: START + i * 15 * MIN,
    endMs: START + i * 15 * MIN + 2 * 60 * MIN,
  }));
const reservations = makeReservations(12);

t.test('same seed, same traffic; another seed, different traffic', async (t) => {
  const a = generateTraffic({ seed: 42, count: 40, startMs: START, reservations });
  const b = generateTraffic({ seed: 42, count: 40, startMs: START, reservations });
  const c = generateTraffic({ seed: 43, count: 40, startMs: START, reservations });
  t.same(a, b);
  t.notSame(a, c);
  t.equal(a.length, 40);
});

t.test('kinds, reservations and arrival windows', async (t) => {
  const reservations = makeReservations(80);
  const scripts = generateTraffic({ seed: 9, count: 200, startMs: START, reservations });
  const kinds = new Set(scripts.map((s) => s.kind));
  for (const kind of VEHICLE_KINDS) t.ok(kinds.has(kind), kind);
  const used = scripts.filter((s) => s.reservationId !== null).map((s) => s.reservationId);
  t.equal(new Set(used).size, used.length, 'each reservation used at most once');
  t.ok(used.length <= reservations.length);
  for (const s of scripts) {
    const r = reservations.find((x) => x.id === s.reservationId);
    if (s.kind === 'reservation-never') t.equal(s.arriveAtMs, null);
    if (s.kind === 'reservation-early')
      t.ok(s.arriveAtMs! < r!.startMs && s.arriveAtMs! >= r!.startMs - 15 * MIN);
    if (s.kind === 'reservation-on-time') t.ok(s.arriveAtMs! >= r!.startMs && s.arriveAtMs! < r!.endMs);
    if (s.kind === 'reservation-late')
      t.ok(s.arriveAtMs! >= r!.startMs + 15 * MIN && s.arriveAtMs! < r!.endMs);
    if (s.kind === 'misread-then-qr')
      t.match(s.steps, [{ do: 'arrive', misread: true }, {}, { do: 'present-qr', text: r!.qr }]);
    if (r) t.equal(s.plate, r.plate);
  }
  const times = scripts.map((s) => s.arriveAtMs ?? Number.POSITIVE_INFINITY);
  t.same(
    times,
    [...times].sort((x, y) => x - y),
    'in arrival order',
  );
  t.ok(
    generateTraffic({ seed: 1, count: 30, startMs: START }).every((s) => s.reservationId === null),
    'without reservations everything is unscheduled',
  );
});

/** Just enough lane logic to exercise the runner: open on any credential, close when the lane is clear. */
function toyController(devices: LaneDevices): void {
  const open = () => {
    if (devices.armingLoop.occupied()) devices.barrier.raise();
  };
  devices.camera?.onRead(open);
  devices.qr?.onCode(open);
  const maybeClose = () => {
    if (!devices.armingLoop.occupied() && !devices.safetyLoop.occupied()) devices.barrier.lower();
  };
  devices.armingLoop.onChange(maybeClose);
  devices.safetyLoop.onChange(maybeClose);
}

t.test('runTraffic drives a seeded day through a lane with the real drivers', async (t) => {
  const fake = sinon.useFakeTimers({ now: START - 30 * MIN, toFake: [...SIM_FAKE_TIMERS.toFake] });
  t.teardown(() => fake.restore());
  const clock = hostClock();
  const { devices, sim } = await createSimLane({
    laneId: 'entry-1',
    drivers,
    clock,
    random: seededRandom(5),
    logger: silentLogger(),
    camera: { misreadRate: 0.1, noiseRate: 0.2, splitFrames: true },
  });
  t.teardown(() => sim.close());
  toyController(devices);
  const scripts = generateTraffic({ seed: 5, count: 30, startMs: START, reservations });
  let done = false;
  const run = runTraffic(sim, clock, scripts).then((o) => {
    done = true;
    return o;
  });
  for (let i = 0; i < 2000 && !done; i++) await fake.tickAsync(60_000);
  const outcomes = await run;
  t.equal(outcomes.length, scripts.length);
  const by = (kind: string) => outcomes.filter((o) => o.kind === kind);
  t.ok(by('reservation-never').every((o) => o.result === 'no-show'));
  t.ok(by('back-out').every((o) => o.result === 'backed-out'));
  t.ok(by('drive-up').every((o) => o.result === 'passed'));
  t.ok(by('barrier-fault').every((o) => o.result === 'passed' && o.armTimeouts === 1));
  t.ok(by('tailgate').every((o) => o.result === 'passed'));
  t.same(sim.safetyViolations(), [], 'the toy never lowered onto a car');
  t.equal(sim.armState(), 'down');
});
