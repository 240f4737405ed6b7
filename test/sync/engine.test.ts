/**
 * Sync engines against in-memory ports, over the real mqtt client and the embedded aedes broker
 * (with the project's accounts and ACL). Fast: no database.
 */
import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { MemorySyncStore } from '../../cloud/sync/memory-store.js';
import { systemClock } from '../../protocol/clock.js';
import { encodeMessage, MAX_PAYLOAD_BYTES, topics } from '../../protocol/mqtt.js';
import { LOT_CONFIG, MemoryCloud, MemoryEdgeStore } from './support/fakes.js';
import { accounts, cloud, edge, embeddedBroker, waitFor } from './support/harness.js';

const LOT = 'lot-a';

async function setup(t: Test, opts: { edgeTuning?: Record<string, number>; relayPollMs?: number } = {}) {
  const acc = accounts([LOT, 'lot-b']);
  const broker = await embeddedBroker(acc);
  t.teardown(() => broker.close());
  const memCloud = new MemoryCloud();
  memCloud.setConfig(LOT_CONFIG(LOT, 1));
  const syncStore = new MemorySyncStore(systemClock);
  const effects = memCloud.effects();
  const c = await cloud(broker.url, acc, {
    changeLog: memCloud,
    notifications: memCloud,
    config: memCloud,
    overflow: memCloud.overflowPort(),
    reservations: memCloud,
    store: syncStore,
    effects,
    tuning: { relayPollMs: opts.relayPollMs ?? 200 },
  });
  t.teardown(() => c.stop());
  const store = new MemoryEdgeStore();
  const e = await edge(broker.url, acc, LOT, store, { tuning: opts.edgeTuning ?? {} });
  t.teardown(() => e.stop());
  await waitFor(() => e.connectivity() === 'online' && c.connected(), 'both connected');
  return { acc, broker, memCloud, syncStore, effects, c, store, e };
}

t.test('a booking confirmed in the cloud lands at the edge; a cancellation revokes it', async (t) => {
  const { memCloud, store } = await setup(t);
  const r = memCloud.reserve(LOT);
  await waitFor(() => store.reservations.get(r.id)?.status === 'CONFIRMED', 'booking at the edge');
  memCloud.cancel(r.id);
  await waitFor(() => store.reservations.get(r.id)?.status === 'CANCELLED', 'cancellation at the edge');
  t.equal(store.cursor, 2);
  t.ok(
    [...store.appliedSeqs.values()].every((n) => n === 1),
    'each change applied once',
  );
  await waitFor(() => store.config?.version === 1, 'retained config applied');
  t.equal(store.config?.lot.spots.length, 3);
});

t.test('newer config versions replace older ones, older never do', async (t) => {
  const { memCloud, store, c } = await setup(t);
  await waitFor(() => store.config?.version === 1, 'v1');
  memCloud.setConfig(LOT_CONFIG(LOT, 3));
  await c.configChanged(LOT);
  await waitFor(() => store.config?.version === 3, 'v3');
  memCloud.setConfig(LOT_CONFIG(LOT, 2));
  await c.configChanged(LOT);
  await c.idle();
  // A later message proves v2 was processed: bump to 4.
  memCloud.setConfig(LOT_CONFIG(LOT, 4));
  await c.configChanged(LOT);
  await waitFor(() => store.config?.version === 4, 'v4');
});

t.test('gate events are stored once, acknowledged and drained; effects run once', async (t) => {
  const { memCloud, syncStore, effects, store, e } = await setup(t);
  const r = memCloud.reserve(LOT);
  await waitFor(() => store.reservations.has(r.id), 'booking at the edge');
  const at = new Date().toISOString();
  store.writeEvent({
    kind: 'entry',
    at,
    laneId: 'in-1',
    correlationId: null,
    sessionId: 'x1',
    reservationId: r.id,
    plate: r.plate,
    credential: 'plate',
    pool: 'bookable',
    spotId: 's1',
    overflowReservationId: null,
  });
  for (let i = 0; i < 2500; i++)
    store.writeEvent({
      kind: 'denied',
      at,
      laneId: 'in-1',
      correlationId: null,
      plate: `X${i}`,
      reservationId: null,
      reason: 'unknown',
    });
  e.notifyEventsWritten();
  await waitFor(() => store.outboxDepth() === 0, 'outbox drained');
  t.equal(await syncStore.watermark(LOT), 2501);
  t.equal(syncStore.events.get(LOT)?.size, 2501);
  await waitFor(() => effects.seen.size === 2501, 'effects applied');
  t.ok(
    [...effects.seen.values()].every((n) => n === 1),
    'every effect ran once',
  );
  t.same(memCloud.checkIns, [r.id]);
  await waitFor(() => store.reservations.get(r.id)?.status === 'CHECKED_IN', 'check-in flows back down');
});

t.test('operator commands are executed once and acknowledged by a command_ack event', async (t) => {
  const acc = accounts([LOT]);
  const broker = await embeddedBroker(acc);
  t.teardown(() => broker.close());
  const memCloud = new MemoryCloud();
  const syncStore = new MemorySyncStore(systemClock);
  const c = await cloud(broker.url, acc, {
    changeLog: memCloud,
    config: memCloud,
    overflow: memCloud.overflowPort(),
    reservations: memCloud,
    store: syncStore,
    effects: {
      affects: (ev) => ev.kind === 'command_ack',
      apply: async (_lot, ev) =>
        syncStore.ackCommand(String(ev.commandId), ev.ok === true, String(ev.detail), ev.at),
    },
  });
  t.teardown(() => c.stop());
  const store = new MemoryEdgeStore();
  const executed: string[] = [];
  const e = await edge(broker.url, acc, LOT, store, {
    onCommand: async (cmd) => {
      executed.push(cmd.commandId);
      return { ok: true, detail: `opened ${cmd.kind === 'open_lane' ? cmd.laneId : ''}` };
    },
  });
  t.teardown(() => e.stop());
  await waitFor(() => e.connectivity() === 'online' && c.connected(), 'connected');
  const cmd = await c.sendCommand(LOT, {
    kind: 'open_lane',
    laneId: 'in-1',
    reason: 'stuck ticket',
    by: 'op@x',
  });
  await waitFor(async () => (await c.commands(LOT))[0]?.ackedAt != null, 'command acknowledged');
  const [row] = await c.commands(LOT);
  t.equal(row?.ok, true);
  t.equal(row?.detail, 'opened in-1');
  t.same(executed, [cmd.commandId]);
  t.equal(store.outbox.filter((o) => o.event.kind === 'command_ack').length, 1);
});

t.test('overflow: granted in time; a late grant is cancelled by the edge', async (t) => {
  const { memCloud, e } = await setup(t);
  const granted = await e.requestOverflow({ plate: 'DRV1', vehicleType: 'car' });
  t.equal(granted?.kind, 'driveup');
  t.equal(granted?.status, 'CONFIRMED');
  memCloud.overflowAnswer = 'refuse';
  t.equal(await e.requestOverflow({ plate: 'DRV2', vehicleType: 'car' }), null, 'refused → null');
  memCloud.overflowAnswer = 'grant';
  memCloud.overflowDelayMs = 400;
  const started = Date.now();
  t.equal(
    await e.requestOverflow({ plate: 'DRV3', vehicleType: 'car', timeoutMs: 150 }),
    null,
    'timeout → null',
  );
  t.ok(Date.now() - started < 400, 'the lane did not wait for the late answer');
  await waitFor(() => memCloud.cancels.length === 1, 'late grant cancelled');
  const late = memCloud.reservations.get(memCloud.cancels[0]!);
  t.equal(late?.plate, 'DRV3');
  t.equal(late?.status, 'CANCELLED');
});

t.test('malformed and oversized payloads are dropped and counted; both sides keep serving', async (t) => {
  const { acc, broker, memCloud, c, store, e } = await setup(t);
  // The lot's own credentials, publishing garbage on its own up/ topics.
  const rogue = await mqtt.connectAsync(broker.url, {
    username: acc.lots.get(LOT)!.username,
    password: acc.lots.get(LOT)!.password,
    clientId: 'rogue-lot-a',
  });
  t.teardown(() => rogue.endAsync(true));
  await rogue.publishAsync(topics.up(LOT, 'events'), 'not json', { qos: 1 });
  await rogue.publishAsync(
    topics.up(LOT, 'events'),
    JSON.stringify({
      v: '1.0',
      type: 'events',
      id: 'x',
      sentAt: new Date().toISOString(),
      body: { events: [{ eventId: -1 }] },
    }),
    { qos: 1 },
  );
  await rogue.publishAsync(
    topics.up(LOT, 'request'),
    JSON.stringify({ v: '9.0', type: 'request', id: 'x', sentAt: new Date().toISOString(), body: {} }),
    { qos: 1 },
  );
  await waitFor(() => c.metrics.droppedTotal >= 3, 'cloud dropped three');
  // Over the cap: the broker drops it (as Mosquitto's message_size_limit does); nobody falls over.
  await rogue.publishAsync(topics.up(LOT, 'events'), Buffer.alloc(MAX_PAYLOAD_BYTES + 10, 0x20), { qos: 1 });
  await waitFor(() => broker.droppedOversize >= 1, 'oversized payload dropped by the broker');
  t.ok((c.metrics.dropped.not_json ?? 0) >= 1);
  t.ok((c.metrics.dropped.bad_body ?? 0) >= 1);
  t.ok((c.metrics.dropped.version_unsupported ?? 0) >= 1);
  // Down: the cloud account publishing garbage to the lot.
  const rogueCloud = await mqtt.connectAsync(broker.url, {
    username: acc.cloud.username,
    password: acc.cloud.password,
    clientId: 'rogue-cloud',
  });
  t.teardown(() => rogueCloud.endAsync(true));
  await rogueCloud.publishAsync(topics.down(LOT, 'changes'), '{"v":"1.0"', { qos: 1 });
  await rogueCloud.publishAsync(topics.down(LOT, 'changes'), Buffer.alloc(MAX_PAYLOAD_BYTES - 100, 0x7b), {
    qos: 1,
  });
  await rogueCloud.publishAsync(
    topics.down(LOT, 'changes'),
    encodeMessage('ack', { upTo: 1 }, { id: 'a', sentAt: new Date().toISOString() }),
    { qos: 1 },
  );
  const stats = await e.stats();
  await waitFor(() => stats.metrics.droppedTotal >= 3, 'edge dropped three');
  t.ok((stats.metrics.dropped.not_json ?? 0) >= 2, 'truncated and oversize-ish garbage');
  t.ok((stats.metrics.dropped.type_mismatch ?? 0) >= 1, 'ack on the changes topic');
  // A protocol major this edge does not speak: refused and reported, on both sides.
  const mismatches: string[] = [];
  e.events.on('version_mismatch', (m) => mismatches.push(m.message));
  const v2 = (type: string, body: unknown) =>
    JSON.stringify({ v: '2.0', type, id: 'v2', sentAt: new Date().toISOString(), body });
  await rogueCloud.publishAsync(topics.down(LOT, 'changes'), v2('changes', { changes: [] }), { qos: 1 });
  await waitFor(() => stats.metrics.versionMismatches === 1 && mismatches.length === 1, 'edge refused v2');
  await rogue.publishAsync(topics.up(LOT, 'status'), v2('status', { state: 'online' }), { qos: 1 });
  await waitFor(
    async () => (await c.fleet(LOT))[0]?.protocolSupported === false,
    'cloud reports the lot’s skew',
  );
  await waitFor(
    async () => (await c.fleet(LOT))[0]?.protocolVersion === '2.0',
    'the refused version is recorded',
  );
  // Both still serve.
  const r = memCloud.reserve(LOT);
  await waitFor(() => store.reservations.has(r.id), 'still syncing after garbage');
  store.writeEvent({
    kind: 'tailgate',
    at: new Date().toISOString(),
    laneId: 'in-1',
    correlationId: null,
    sessionId: null,
  });
  e.notifyEventsWritten();
  await waitFor(() => store.outboxDepth() === 0, 'still draining after garbage');
});

t.test('duplicates are ignored, a gap makes the edge resync, a pruned log gets a snapshot', async (t) => {
  // Slow relay poll: a change appended silently (no NOTIFY) stays unpublished until the edge asks.
  const { memCloud, store, e, broker, acc } = await setup(t, { relayPollMs: 60_000 });
  const r1 = memCloud.reserve(LOT);
  const r2 = memCloud.reserve(LOT);
  await waitFor(() => store.cursor === 2, 'relay delivered');
  const inject = await mqtt.connectAsync(broker.url, {
    username: acc.cloud.username,
    password: acc.cloud.password,
    clientId: 'inject',
  });
  t.teardown(() => inject.endAsync(true));
  const send = (changes: unknown[]) =>
    inject.publishAsync(
      topics.down(LOT, 'changes'),
      encodeMessage('changes', { changes } as never, { id: 'i', sentAt: new Date().toISOString() }),
      { qos: 1 },
    );
  // Duplicate of seq 1 with different content: ignored by seq.
  const [c1] = await memCloud.changesSince(LOT, 0, 1);
  if (!c1 || !('reservation' in c1)) throw new Error('seq 1 is a reservation change');
  await send([{ ...c1, reservation: { ...c1.reservation, status: 'CANCELLED' } }]);
  // Seq 3 happens without a notification, seq 4 arrives first: a gap.
  memCloud.silent = true;
  const r3 = memCloud.reserve(LOT);
  const r4 = memCloud.reserve(LOT);
  memCloud.silent = false;
  const [, c4] = await memCloud.changesSince(LOT, 2, 2);
  const resyncsBefore = (await e.stats()).metrics.resyncs;
  await send([c4!]);
  await waitFor(() => store.cursor === 4, 'gap filled by a resync');
  t.ok((await e.stats()).metrics.resyncs > resyncsBefore, 'a resync was requested');
  t.ok((await e.stats()).metrics.gaps >= 1, 'the gap was seen');
  t.ok(
    [...store.appliedSeqs.values()].every((n) => n === 1),
    'each seq applied once',
  );
  t.equal(store.reservations.get(r1.id)?.status, 'CONFIRMED', 'the duplicate did not overwrite');
  t.ok(store.reservations.has(r3.id) && store.reservations.has(r4.id));
  // Prune the log and cut the edge off while more changes happen: the reconnect gets a snapshot.
  await e.stop();
  memCloud.cancel(r1.id);
  memCloud.reserve(LOT, { id: 'r-new' });
  memCloud.prune(LOT, 6);
  const e2 = await edge(broker.url, acc, LOT, store);
  t.teardown(() => e2.stop());
  await waitFor(() => store.snapshots === 1 && store.cursor === 6, 'snapshot applied');
  t.notOk(store.reservations.has(r1.id), 'the cancelled booking is gone from the mirror');
  t.ok(store.reservations.has('r-new'));
  t.ok(store.reservations.has(r2.id));
});

t.test(
  'connectivity: online, degraded when the cloud stops answering, offline without a broker',
  async (t) => {
    const { c, e, store, broker } = await setup(t, {
      edgeTuning: { cloudTimeoutMs: 300, probeIntervalMs: 200 },
    });
    t.equal(e.connectivity(), 'online');
    await c.stop();
    await waitFor(() => e.connectivity() === 'degraded', 'degraded without a cloud', 5000);
    t.equal(await e.requestOverflow({ plate: 'X', vehicleType: 'car' }), null, 'no overflow while degraded');
    await broker.close();
    await waitFor(() => e.connectivity() === 'offline', 'offline without a broker', 5000);
    const states = store.connectivityLog.map((s) => s.state);
    t.same(states.slice(-3), ['online', 'degraded', 'offline']);
  },
);

t.test('presence: online, heartbeat with skew alarm, offline via the last will', async (t) => {
  const acc = accounts([LOT]);
  const broker = await embeddedBroker(acc);
  t.teardown(() => broker.close());
  const memCloud = new MemoryCloud();
  const syncStore = new MemorySyncStore(systemClock);
  const c = await cloud(broker.url, acc, {
    changeLog: memCloud,
    config: memCloud,
    overflow: memCloud.overflowPort(),
    reservations: memCloud,
    store: syncStore,
    effects: memCloud.effects(),
    tuning: { skewAlarmMs: 1000 },
  });
  t.teardown(() => c.stop());
  const skewed = { now: () => Date.now() + 60_000 };
  const store = new MemoryEdgeStore();
  const e = await edge(broker.url, acc, LOT, store, { clock: skewed });
  await waitFor(async () => (await c.fleet(LOT))[0]?.skewAlarm === true, 'skew alarm');
  const [p] = await c.fleet(LOT);
  t.equal(p?.state, 'online');
  t.ok(p!.skewMs! > 50_000);
  t.equal(p?.protocolVersion, '1.0');
  t.equal(p?.edgeVersion, '0.1.0-test');
  t.equal(p?.outboxDepth, 0);
  await e.stop();
  await waitFor(async () => (await c.fleet(LOT))[0]?.state === 'offline', 'offline after a graceful stop');
  // An abrupt death (no DISCONNECT): the broker publishes the lot's retained last will.
  const now = new Date().toISOString();
  const status = (state: 'online' | 'offline') =>
    encodeMessage(
      'status',
      {
        state,
        edgeVersion: 'x',
        protocolVersion: '1.0',
        lastAppliedSeq: 0,
        lastEventId: 0,
        outboxDepth: 0,
        configVersion: 0,
        occupancy: {},
        lanes: [],
        clock: new Date().toISOString(),
      },
      { id: state, sentAt: now },
    );
  const lot = await mqtt.connectAsync(broker.url, {
    username: acc.lots.get(LOT)!.username,
    password: acc.lots.get(LOT)!.password,
    clientId: `edge-${LOT}-lwt`,
    reconnectPeriod: 0,
    will: { topic: topics.up(LOT, 'status'), payload: status('offline'), qos: 1, retain: true },
  });
  t.teardown(() => lot.endAsync(true));
  await lot.publishAsync(topics.up(LOT, 'status'), status('online'), { qos: 1, retain: true });
  await waitFor(async () => (await c.fleet(LOT))[0]?.state === 'online', 'online again');
  lot.stream.destroy();
  await waitFor(async () => (await c.fleet(LOT))[0]?.state === 'offline', 'offline by the last will');
});
