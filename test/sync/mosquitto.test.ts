/**
 * Sync on a real Mosquitto started with the project's own mosquitto.conf, password file and ACL
 * (test/support/mosquitto.ts). Locally skipped with a message when the binary is missing; in CI
 * (CI set) a missing binary fails the run.
 */
import mqtt from 'mqtt';
import t from 'tap';
import { MemorySyncStore } from '../../cloud/sync/memory-store.js';
import { systemClock } from '../../protocol/clock.js';
import { encodeMessage, MAX_PAYLOAD_BYTES, topics } from '../../protocol/mqtt.js';
import { mosquittoSkip, startMosquitto } from '../support/mosquitto.js';
import { LOT_CONFIG, MemoryCloud, MemoryEdgeStore } from './support/fakes.js';
import { accounts, cloud, edge, waitFor } from './support/harness.js';
import { realCloud, realCloudSync, realEdgeStore } from './support/real.js';

const skip = mosquittoSkip();
const A = `ma${process.pid}`;
const B = `mb${process.pid}`;

t.test(
  'on Mosquitto: two cloud instances share the load ($share); bookings down, events up; broker restart',
  { skip },
  async (t) => {
    const acc = accounts([A]);
    const broker = await startMosquitto({ accounts: acc.all() });
    t.teardown(() => broker.close());
    const rc = await realCloud([A]);
    t.teardown(() => rc.close());
    const c1 = await realCloudSync(rc, broker.url, acc, {
      instanceId: `m1-${process.pid}`,
      sharedSubscription: true,
    });
    t.teardown(() => c1.stop());
    const c2 = await realCloudSync(rc, broker.url, acc, {
      instanceId: `m2-${process.pid}`,
      sharedSubscription: true,
    });
    t.teardown(() => c2.stop());
    const re = realEdgeStore(rc.lotConfigs.get(A)!);
    t.teardown(() => {
      re.close();
      re.remove();
    });
    const e = await edge(broker.url, acc, A, re.port, { tuning: { eventBatchSize: 100 } });
    t.teardown(() => e.stop());
    await waitFor(() => e.connectivity() === 'online', 'online');
    await waitFor(() => re.store.mirror.config().version >= 1, 'retained config delivered');
    const b = await rc.book(A, 'MOSQ1');
    await waitFor(() => re.store.mirror.reservationById(b.id)?.status === 'CONFIRMED', 'booking at the edge');
    await rc.cancel(b.id);
    await waitFor(
      () => re.store.mirror.reservationById(b.id)?.status === 'CANCELLED',
      'cancellation at the edge',
    );

    const write = (n: number) =>
      re.store.db.transaction(() => {
        const now = Date.now();
        for (let i = 0; i < n; i++)
          re.store.ledger.recordEvent(
            {
              kind: 'denied',
              at: new Date(now).toISOString(),
              laneId: 'in-1',
              correlationId: null,
              plate: `M${i}`,
              reservationId: null,
              reason: 'unknown',
            },
            now,
          );
      })();
    write(2000);
    e.notifyEventsWritten();
    await waitFor(() => re.port.outboxDepth() === 0, 'drained through the shared subscription', 30_000, 50);
    const split = [c1.metrics.eventsStored, c2.metrics.eventsStored];
    t.equal(split[0]! + split[1]!, 2000, `each event stored by exactly one instance (${split.join(' + ')})`);

    // Broker restart (SIGTERM: Mosquitto saves its persistence) while both directions are busy.
    write(2000);
    e.notifyEventsWritten();
    const pending = rc.book(A, 'MOSQ2');
    await broker.restart();
    const b2 = await pending;
    await waitFor(() => re.port.outboxDepth() === 0, 'drained after the broker restart', 30_000, 50);
    await waitFor(
      () => re.store.mirror.reservationById(b2.id)?.status === 'CONFIRMED',
      'booking after the broker restart',
      30_000,
    );
    const [s] = await rc.cloud.db.rows<{ n: number; d: number }>(
      'select count(*)::int as n, count(distinct event_id)::int as d from gate_events where lot_id = $1',
      [A],
    );
    t.same(s, { n: 4000, d: 4000 }, 'nothing lost, nothing doubled');
    t.equal(re.port.getCursor(), await rc.headSeq(A));
  },
);

t.test(
  'on Mosquitto: lot A cannot read or write lot B; garbage is dropped and counted; the will marks offline',
  { skip },
  async (t) => {
    const acc = accounts([A, B]);
    const broker = await startMosquitto({ accounts: acc.all() });
    t.teardown(() => broker.close());
    const memCloud = new MemoryCloud();
    memCloud.setConfig(LOT_CONFIG(A));
    memCloud.setConfig(LOT_CONFIG(B));
    const syncStore = new MemorySyncStore(systemClock);
    const c = await cloud(
      broker.url,
      acc,
      {
        changeLog: memCloud,
        notifications: memCloud,
        config: memCloud,
        overflow: memCloud.overflowPort(),
        reservations: memCloud,
        store: syncStore,
        effects: memCloud.effects(),
      },
      { sharedSubscription: true },
    );
    t.teardown(() => c.stop());
    const sa = new MemoryEdgeStore();
    const sb = new MemoryEdgeStore();
    const ea = await edge(broker.url, acc, A, sa);
    t.teardown(() => ea.stop());
    const eb = await edge(broker.url, acc, B, sb);
    t.teardown(() => eb.stop());
    await waitFor(() => ea.connectivity() === 'online' && eb.connectivity() === 'online', 'both online');

    // A rogue client with lot A's credentials tries lot B's topics.
    const rogue = await mqtt.connectAsync(broker.url, {
      username: acc.lots.get(A)!.username,
      password: acc.lots.get(A)!.password,
      clientId: `rogue-${process.pid}`,
    });
    t.teardown(() => rogue.endAsync(true));
    const seen: string[] = [];
    rogue.on('message', (topic) => seen.push(topic));
    await rogue.subscribeAsync(topics.lotDownFilter(B), { qos: 1 }).catch(() => {});
    await rogue.subscribeAsync('parkedge/v1/lot/+/up/#', { qos: 1 }).catch(() => {});
    const now = new Date().toISOString();
    await rogue.publishAsync(
      topics.up(B, 'events'),
      encodeMessage(
        'events',
        { events: [{ eventId: 1, kind: 'tailgate', at: now }] as never },
        { id: 'x', sentAt: now },
      ),
      { qos: 1 },
    );
    await rogue.publishAsync(
      topics.down(A, 'changes'),
      encodeMessage('ack', { upTo: 99 }, { id: 'y', sentAt: now }),
      { qos: 1 },
    );
    const rb = memCloud.reserve(B);
    await waitFor(() => sb.reservations.has(rb.id), 'B got its booking');
    sb.writeEvent({ kind: 'tailgate', at: now, laneId: 'in-1', correlationId: null, sessionId: null });
    eb.notifyEventsWritten();
    await waitFor(() => sb.outboxDepth() === 0, 'B’s own event acked');
    t.same(seen, [], 'A’s credentials never received anything of B (nor any up/ topic)');
    t.equal(syncStore.events.get(B)?.size, 1, 'only B’s own event is stored for B');
    t.notOk(sa.reservations.has(rb.id));

    // Malformed and oversized payloads on A's own topics: dropped, counted, everyone keeps serving.
    const own = await mqtt.connectAsync(broker.url, {
      username: acc.lots.get(A)!.username,
      password: acc.lots.get(A)!.password,
      clientId: `own-${process.pid}`,
    });
    t.teardown(() => own.endAsync(true));
    await own.publishAsync(topics.up(A, 'request'), '{"v":"1.0","type":"request"', { qos: 1 });
    await own.publishAsync(topics.up(A, 'events'), Buffer.alloc(MAX_PAYLOAD_BYTES + 10, 0x20), { qos: 1 });
    await waitFor(() => (c.metrics.dropped.not_json ?? 0) >= 1, 'malformed request dropped and counted');
    const ra = memCloud.reserve(A);
    await waitFor(() => sa.reservations.has(ra.id), 'A still syncing');
    sa.writeEvent({ kind: 'tailgate', at: now, laneId: 'in-1', correlationId: null, sessionId: null });
    ea.notifyEventsWritten();
    await waitFor(() => sa.outboxDepth() === 0, 'A still draining');

    // The last will: a lot whose connection dies without DISCONNECT is reported offline.
    const lwtLot = await mqtt.connectAsync(broker.url, {
      username: acc.lots.get(B)!.username,
      password: acc.lots.get(B)!.password,
      clientId: `edge-${B}-lwt`,
      reconnectPeriod: 0,
      will: {
        topic: topics.up(B, 'status'),
        payload: encodeMessage(
          'status',
          {
            state: 'offline',
            edgeVersion: 'x',
            protocolVersion: '1.0',
            lastAppliedSeq: 0,
            lastEventId: 0,
            outboxDepth: 0,
            configVersion: 0,
            occupancy: {},
            lanes: [],
            clock: now,
          },
          { id: 'w', sentAt: now },
        ),
        qos: 1,
        retain: true,
      },
    });
    t.teardown(() => lwtLot.endAsync(true));
    await eb.stop();
    await lwtLot.publishAsync(
      topics.up(B, 'status'),
      encodeMessage(
        'status',
        {
          state: 'online',
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
        { id: 'o', sentAt: now },
      ),
      { qos: 1, retain: true },
    );
    await waitFor(async () => (await c.fleet(B))[0]?.state === 'online', 'B online');
    lwtLot.stream.destroy();
    await waitFor(async () => (await c.fleet(B))[0]?.state === 'offline', 'B offline by its will', 20_000);
  },
);
