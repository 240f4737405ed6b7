import Fastify from 'fastify';
import t from 'tap';
import type { SimLaneControl } from '../../hardware-sim/index.js';
import { silentLogger } from '../../protocol/logger.js';
import { registerSimControl, type SimulatedLaneHandle } from '../sim-control/plugin.js';
import { change, HOUR, qrFor, reservation, type SimEdge, simEdge, T0 } from './support.js';

/**
 * The simulator control (POST /sim/arrive and friends) on a whole edge with simulated lanes: a car
 * sent through it is read, admitted and recorded like one on real hardware.
 */

// hardware-sim's lane control is what the edge's control drives (checked at compile time).
const _handle: (sim: SimLaneControl) => SimulatedLaneHandle = (sim) => sim;
void _handle;

/** Sends a request and moves simulated time until it is answered. */
async function send(s: SimEdge, url: string, payload?: object, remoteAddress = '127.0.0.1') {
  const reply = s.inject({
    method: payload ? 'POST' : 'GET',
    url,
    remoteAddress,
    ...(payload ? { payload } : {}),
  });
  await s.run(15_000);
  return reply;
}

t.test('POST /sim/arrive: a booked car is read by plate, admitted and recorded', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const booked = reservation({
    id: 'r1',
    plate: 'AB-123-CD',
    startMs: T0,
    endMs: T0 + 2 * HOUR,
    spotId: 'A2',
  });
  s.edge.store.mirror.applyChanges([change(1, booked)]);

  const res = await send(s, '/sim/arrive', { laneId: 'in-1', plate: 'AB123CD', confidence: 0.97 });
  t.equal(res.statusCode, 200, res.body);
  const body = res.json();
  t.equal(body.admitted, true, 'the arm opened and the car drove through');
  t.same(body.read, { plate: 'AB123CD', confidence: 0.97, delivered: true }, 'the camera sent that read');
  t.match(body.display.join(' '), /A-2/, 'the sign showed the bay');
  t.match(body.lane, { laneId: 'in-1', loops: { presence: false, safety: false }, busy: false });
  const entry = s.events().find((e) => e.kind === 'entry');
  t.match(entry, { kind: 'entry', reservationId: 'r1', credential: 'plate' }, 'the entry is recorded');
  t.same(s.entry.safetyViolations(), []);
});

t.test('POST /sim/arrive: an unsure read of an unknown car waits; its QR gets it in', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const unsure = await send(s, '/sim/arrive', {
    laneId: 'in-1',
    plate: 'QQ-77-XX',
    confidence: 0.3,
    patienceMs: 6_000,
  });
  t.equal(unsure.statusCode, 200, unsure.body);
  t.equal(unsure.json().admitted, false, 'no drive-up on a 0.3 read: the car reversed away');
  t.equal(s.events().filter((e) => e.kind === 'entry').length, 0, 'nothing recorded');

  const booked = reservation({ id: 'r2', plate: 'KL77MN', startMs: T0, endMs: T0 + HOUR, spotId: 'A3' });
  s.edge.store.mirror.applyChanges([change(1, booked)]);
  const res = await send(s, '/sim/arrive', {
    laneId: 'in-1',
    qr: qrFor({ id: 'r2', plate: 'KL77MN', startMs: T0, endMs: T0 + HOUR }),
  });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { admitted: true, read: null, qrScanned: true });
  t.match(
    s.events().find((e) => e.kind === 'entry'),
    { reservationId: 'r2', credential: 'qr' },
    'admitted on the signed QR',
  );
});

t.test('GET /sim, loops and faults', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const list = await send(s, '/sim');
  t.equal(list.statusCode, 200);
  t.same(
    list.json().lanes.map((l: { laneId: string; direction: string }) => [l.laneId, l.direction]),
    [
      ['in-1', 'entry'],
      ['out-1', 'exit'],
    ],
  );
  t.same(list.json().realLanes, []);

  const loop = await send(s, '/sim/loop', { laneId: 'out-1', loop: 'presence', occupied: true });
  t.equal(loop.statusCode, 200, loop.body);
  t.same(loop.json().loops, { presence: true, safety: false });
  t.equal(s.edge.lanes.get('out-1')!.status().loops.arming, true, 'the lane sees the car on its loop');
  await send(s, '/sim/loop', { laneId: 'out-1', loop: 'presence', occupied: false });
  t.equal(s.edge.lanes.get('out-1')!.status().loops.arming, false);

  const fault = await send(s, '/sim/fault', { laneId: 'in-1', device: 'camera', fault: 'disconnect' });
  t.equal(fault.statusCode, 200, fault.body);
  t.equal(fault.json().camera, false);
  t.equal(s.edge.lanes.get('in-1')!.status().devices.camera, 'lost', 'the lane reports its camera lost');
  const back = await send(s, '/sim/fault', { laneId: 'in-1', device: 'camera', fault: 'reconnect' });
  t.equal(back.json().camera, true);
});

t.test('errors: bad body 400, unknown lane 404, busy lane 409, not on loopback 403', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const bad = await send(s, '/sim/arrive', { laneId: 'in-1', plate: 'AB1', confidence: 2 });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { error: 'bad_request', field: 'body.confidence' });
  const missing = await send(s, '/sim/loop', { laneId: 'nope', loop: 'safety', occupied: true });
  t.equal(missing.statusCode, 404);
  t.match(missing.json(), { error: 'not_found', message: /no lane nope/ });
  const remote = await send(s, '/sim/arrive', { laneId: 'in-1', plate: 'AB1' }, '10.1.2.3');
  t.equal(remote.statusCode, 403);
  t.match(remote.json(), { error: 'forbidden', message: /loopback/ });

  // A car that waits (no credential, patience long) keeps the lane busy for a second request.
  const first = s.inject({
    method: 'POST',
    url: '/sim/arrive',
    payload: { laneId: 'out-1', plate: 'ZZ999', patienceMs: 60_000 },
  });
  await s.run(500);
  const second = await send(s, '/sim/arrive', { laneId: 'out-1', plate: 'YY111' });
  t.equal(second.statusCode, 409);
  t.match(second.json(), { error: 'lane_busy' });
  await s.run(70_000);
  t.equal((await first).statusCode, 200);
});

t.test('a real lane is refused; no simulated lane, no /sim routes', async (t) => {
  const calls: string[] = [];
  const sim: SimulatedLaneHandle = {
    visit: async () => ({ admitted: true, display: [], read: null, qrScanned: null }),
    setLoop: (loop) => void calls.push(loop),
    snapshot: () => ({
      arm: 'down',
      loops: { presence: false, safety: false },
      camera: true,
      qr: true,
      busy: false,
    }),
    disconnectCamera: async () => {},
    reconnectCamera: () => {},
    disconnectQr: () => {},
    reconnectQr: () => {},
  };
  const lanes = [
    { id: 'in-1', direction: 'entry' as const },
    { id: 'gate-2', direction: 'entry' as const },
  ];
  const mixed = Fastify();
  t.teardown(() => mixed.close());
  t.equal(
    await registerSimControl(mixed, {
      lotId: 'lot-x',
      lanes,
      sims: new Map([['in-1', sim]]),
      logger: silentLogger(),
    }),
    true,
  );
  const refused = await mixed.inject({
    method: 'POST',
    url: '/sim/arrive',
    payload: { laneId: 'gate-2', plate: 'AB123CD' },
  });
  t.equal(refused.statusCode, 409);
  t.match(refused.json(), { error: 'lane_not_simulated', message: /gate-2 has real devices/ });
  t.same((await mixed.inject({ url: '/sim' })).json().realLanes, ['gate-2']);

  const real = Fastify();
  t.teardown(() => real.close());
  t.equal(
    await registerSimControl(real, { lotId: 'lot-x', lanes, sims: new Map(), logger: silentLogger() }),
    false,
  );
  t.equal((await real.inject({ url: '/sim' })).statusCode, 404, 'no /sim route at all');
  t.equal((await real.inject({ method: 'POST', url: '/sim/arrive', payload: {} })).statusCode, 404);
});
