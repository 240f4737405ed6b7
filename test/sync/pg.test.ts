/**
 * Sync end to end on the real stores: the cloud app on PostgreSQL (DATABASE_URL; PGlite otherwise)
 * and the edge's SQLite store, over the embedded aedes broker with the project's accounts and ACL,
 * with the real mqtt client on both sides.
 */
import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { verifyCredential } from '../../protocol/credential.js';
import { decide } from '../../edge/lane/decision.js';
import { timeFormatter } from '../../edge/lane/messages.js';
import { encodeMessage, topics } from '../../protocol/mqtt.js';
import { accounts, edge, embeddedBroker, waitFor } from './support/harness.js';
import { type RealCloud, type RealEdge, realCloud, realCloudSync, realEdgeStore } from './support/real.js';

const A = `pa${process.pid}`;
const B = `pb${process.pid}`;

async function world(t: Test, lotIds = [A]) {
  const acc = accounts([...lotIds]);
  const broker = await embeddedBroker(acc);
  t.teardown(() => broker.close());
  const rc = await realCloud(lotIds);
  t.teardown(() => rc.close());
  const cs = await realCloudSync(rc, broker.url, acc);
  t.teardown(() => cs.stop());
  const edges = new Map<string, RealEdge>();
  for (const id of lotIds) {
    const re = realEdgeStore(rc.lotConfigs.get(id)!);
    t.teardown(() => {
      re.close();
      re.remove();
    });
    edges.set(id, re);
  }
  return { acc, broker, rc, cs, edges };
}

const statusAtEdge = (re: RealEdge, id: string) => re.store.mirror.reservationById(id)?.status;

async function sameAsCloud(rc: RealCloud, re: RealEdge, lotId: string): Promise<boolean> {
  const cloud = await rc.statuses(lotId);
  for (const [id, status] of cloud) if (statusAtEdge(re, id) !== status) return false;
  return re.port.getCursor() === (await rc.headSeq(lotId));
}

function denied(re: RealEdge, n: number, at = Date.now()): void {
  re.store.db.transaction(() => {
    for (let i = 0; i < n; i++)
      re.store.ledger.recordEvent(
        {
          kind: 'denied',
          at: new Date(at).toISOString(),
          laneId: 'in-1',
          correlationId: null,
          plate: `Q${i}`,
          reservationId: null,
          reason: 'unknown',
        },
        at,
      );
  })();
}

async function storedEvents(
  rc: RealCloud,
  lotId: string,
): Promise<{ n: number; distinct: number; max: number }> {
  const [r] = await rc.cloud.db.rows<{ n: number; distinct: number; max: number | null }>(
    'select count(*)::int as n, count(distinct event_id)::int as distinct, max(event_id)::int as max from gate_events where lot_id = $1',
    [lotId],
  );
  return { n: r!.n, distinct: r!.distinct, max: r!.max ?? 0 };
}

t.test(
  'a booking confirmed in the cloud lands in SQLite; a cancellation revokes it; config and keys arrive',
  async (t) => {
    const { acc, broker, rc, edges } = await world(t);
    const re = edges.get(A)!;
    const e = await edge(broker.url, acc, A, re.port);
    t.teardown(() => e.stop());
    await waitFor(
      () => re.store.mirror.config().version >= 1,
      'cloud config (version ≥ 1) replaced the file config',
    );
    t.equal(re.store.mirror.config().publicKeys.length, 1, 'the cloud signing key arrived with the config');
    const b = await rc.book(A, 'SYNC1');
    await waitFor(() => statusAtEdge(re, b.id) === 'CONFIRMED', 'booking confirmed at the edge');
    await rc.cancel(b.id);
    await waitFor(() => statusAtEdge(re, b.id) === 'CANCELLED', 'cancellation at the edge');
    t.ok(await sameAsCloud(rc, re, A), 'edge mirror equals the cloud');
  },
);

t.test(
  'link cut: 500 bookings and cancellations, restored → edge equals cloud, each change applied once',
  async (t) => {
    const { acc, broker, rc, edges } = await world(t);
    const re = edges.get(A)!;
    let e = await edge(broker.url, acc, A, re.port);
    await waitFor(() => e.connectivity() === 'online', 'online');
    const first = await rc.book(A, 'CUT0');
    await waitFor(() => statusAtEdge(re, first.id) === 'CONFIRMED', 'first booking');
    await e.stop();
    const cursorAtCut = re.port.getCursor();
    // Eight clients at a time, each booking then cancelling.
    let next = 1;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i <= 500; i = next++) {
          const b = await rc.book(A, `CUT${i}`);
          await rc.cancel(b.id);
        }
      }),
    );
    const head = await rc.headSeq(A);
    t.ok(head - cursorAtCut >= 1500, `${head - cursorAtCut} changes while cut`);
    e = await edge(broker.url, acc, A, re.port);
    t.teardown(() => e.stop());
    await waitFor(() => sameAsCloud(rc, re, A), 'edge caught up', 30_000, 50);
    const stats = await e.stats();
    t.equal(stats.metrics.changesApplied, head - cursorAtCut, 'every change applied exactly once');
  },
);

t.test(
  '10,000 gate events queued offline → all stored once, acked, outbox drained; effects once',
  async (t) => {
    const { acc, broker, rc, edges } = await world(t);
    const re = edges.get(A)!;
    // A booking whose entry and exit happen while the lot is offline.
    let e = await edge(broker.url, acc, A, re.port);
    const b = await rc.book(A, 'EFF1');
    await waitFor(() => statusAtEdge(re, b.id) === 'CONFIRMED', 'booking at the edge');
    await e.stop();
    const now = Date.now();
    const at = new Date(now).toISOString();
    re.store.ledger.recordEvent(
      {
        kind: 'entry',
        at,
        laneId: 'in-1',
        correlationId: null,
        sessionId: 'sess1',
        reservationId: b.id,
        plate: 'EFF1',
        credential: 'plate',
        pool: 'bookable',
        spotId: 's1',
        overflowReservationId: null,
      },
      now,
    );
    denied(re, 9_998);
    re.store.ledger.recordEvent(
      {
        kind: 'exit',
        at,
        laneId: 'out-1',
        correlationId: null,
        sessionId: 'sess1',
        reservationId: b.id,
        plate: 'EFF1',
        charge: null,
        overstayMinutes: 0,
        settlement: 'none',
      },
      now,
    );
    t.equal(re.port.outboxDepth(), 10_000);
    e = await edge(broker.url, acc, A, re.port);
    t.teardown(() => e.stop());
    await waitFor(() => re.port.outboxDepth() === 0, 'outbox drained', 60_000, 50);
    const s = await storedEvents(rc, A);
    t.same(s, { n: 10_000, distinct: 10_000, max: 10_000 }, 'stored once each');
    await waitFor(
      async () => (await rc.statuses(A)).get(b.id) === 'COMPLETED',
      'entry and exit applied in the cloud',
    );
    const facts = await rc.cloud.db.rows<{ n: number }>(
      'select count(*)::int as n from gate_facts where lot_id = $1',
      [A],
    );
    t.equal(facts[0]!.n, 2, 'one arrival fact, one departure fact');
    await waitFor(() => statusAtEdge(re, b.id) === 'COMPLETED', 'the completion flows back down');
  },
);

t.test('duplicated and reordered deliveries change nothing, on either side', async (t) => {
  const { acc, broker, rc, edges } = await world(t);
  const re = edges.get(A)!;
  const e = await edge(broker.url, acc, A, re.port);
  t.teardown(() => e.stop());
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await rc.book(A, `DUP${i}`)).id);
  await rc.cancel(ids[0]!);
  const now = Date.now();
  re.store.ledger.recordEvent(
    {
      kind: 'entry',
      at: new Date(now).toISOString(),
      laneId: 'in-1',
      correlationId: null,
      sessionId: 'dup1',
      reservationId: ids[1]!,
      plate: 'DUP1',
      credential: 'plate',
      pool: 'bookable',
      spotId: 's2',
      overflowReservationId: null,
    },
    now,
  );
  denied(re, 20);
  e.notifyEventsWritten();
  await waitFor(async () => (await sameAsCloud(rc, re, A)) && re.port.outboxDepth() === 0, 'settled');
  await waitFor(async () => (await rc.statuses(A)).get(ids[1]!) === 'CHECKED_IN', 'checked in once');
  await waitFor(() => sameAsCloud(rc, re, A), 'check-in mirrored');
  const before = {
    cursor: re.port.getCursor(),
    edge: new Map(ids.map((id) => [id, statusAtEdge(re, id)])),
    cloud: await rc.statuses(A),
    events: await storedEvents(rc, A),
  };

  // Replay every change, shuffled and doubled, as the cloud would on redelivery.
  const changes = await rc.cloud.app.changes.changesSince(A, 0, 1000);
  const shuffled = [...changes, ...changes].sort(() => Math.random() - 0.5);
  const down = await mqtt.connectAsync(broker.url, {
    username: acc.cloud.username,
    password: acc.cloud.password,
    clientId: `dup-down-${process.pid}`,
  });
  t.teardown(() => down.endAsync(true));
  for (const c of shuffled) {
    await down.publishAsync(
      topics.down(A, 'changes'),
      encodeMessage('changes', { changes: [c] }, { id: `d${c.seq}`, sentAt: new Date().toISOString() }),
      { qos: 1 },
    );
  }
  // Replay every event, shuffled and doubled, as the edge would after losing acks.
  const events = re.store.ledger.eventsAfter(0, 1000);
  const up = await mqtt.connectAsync(broker.url, {
    username: acc.lots.get(A)!.username,
    password: acc.lots.get(A)!.password,
    clientId: `dup-up-${process.pid}`,
  });
  t.teardown(() => up.endAsync(true));
  const batches = [...events, ...events].sort(() => Math.random() - 0.5);
  for (let i = 0; i < batches.length; i += 7) {
    await up.publishAsync(
      topics.up(A, 'events'),
      encodeMessage(
        'events',
        { events: batches.slice(i, i + 7) as never },
        { id: `u${i}`, sentAt: new Date().toISOString() },
      ),
      { qos: 1 },
    );
  }
  // A marker after the replays, on each path, proves the replays were processed.
  const marker = await rc.book(A, 'DUPEND');
  await waitFor(() => statusAtEdge(re, marker.id) === 'CONFIRMED', 'marker booking at the edge');
  denied(re, 1);
  e.notifyEventsWritten();
  await waitFor(() => re.port.outboxDepth() === 0, 'marker event acked');
  await rc.cloud.app.ready();
  t.equal(re.port.getCursor(), before.cursor + 2, 'cursor moved only by the marker (created + confirmed)');
  for (const id of ids) t.equal(statusAtEdge(re, id), before.edge.get(id), `edge ${id} unchanged`);
  const cloudAfter = await rc.statuses(A);
  for (const [id, s] of before.cloud) t.equal(cloudAfter.get(id), s, `cloud ${id} unchanged`);
  t.same(await storedEvents(rc, A), {
    n: before.events.n + 1,
    distinct: before.events.n + 1,
    max: before.events.max + 1,
  });
  const facts = await rc.cloud.db.rows<{ n: number }>(
    'select count(*)::int as n from gate_facts where lot_id = $1',
    [A],
  );
  t.equal(facts[0]!.n, 1, 'the entry took effect once');
});

t.test('cloud restart and broker restart mid-stream: nothing lost, nothing doubled', async (t) => {
  const acc = accounts([A]);
  let broker = await embeddedBroker(acc);
  const port = broker.port;
  t.teardown(() => broker.close());
  const rc = await realCloud([A]);
  t.teardown(() => rc.close());
  let cs = await realCloudSync(rc, broker.url, acc, { instanceId: `c1-${process.pid}` });
  t.teardown(() => cs.stop());
  const re = realEdgeStore(rc.lotConfigs.get(A)!);
  t.teardown(() => {
    re.close();
    re.remove();
  });
  const e = await edge(broker.url, acc, A, re.port, {
    tuning: { eventBatchSize: 100, maxInFlightBatches: 2 },
  });
  t.teardown(() => e.stop());
  await waitFor(() => e.connectivity() === 'online', 'online');

  // Cloud restart while events stream up and bookings stream down.
  denied(re, 3000);
  e.notifyEventsWritten();
  const booked: string[] = [];
  for (let i = 0; i < 5; i++) booked.push((await rc.book(A, `RST${i}`)).id);
  await waitFor(async () => (await storedEvents(rc, A)).n > 0, 'some events stored');
  await cs.stop();
  for (let i = 5; i < 10; i++) booked.push((await rc.book(A, `RST${i}`)).id);
  cs = await realCloudSync(rc, broker.url, acc, { instanceId: `c2-${process.pid}` });
  await waitFor(() => re.port.outboxDepth() === 0, 'outbox drained after the cloud restart', 30_000, 50);
  await waitFor(() => sameAsCloud(rc, re, A), 'changes caught up after the cloud restart');

  // Broker restart (state lost: aedes keeps sessions in memory) while both directions stream.
  denied(re, 3000);
  e.notifyEventsWritten();
  const booking = rc.book(A, 'RSTB');
  await broker.close();
  broker = await embeddedBroker(acc, port);
  booked.push((await booking).id);
  for (let i = 0; i < 5; i++) booked.push((await rc.book(A, `RSTC${i}`)).id);
  await waitFor(() => re.port.outboxDepth() === 0, 'outbox drained after the broker restart', 30_000, 50);
  await waitFor(() => sameAsCloud(rc, re, A), 'changes caught up after the broker restart', 30_000, 50);
  t.same(await storedEvents(rc, A), { n: 6000, distinct: 6000, max: 6000 }, 'every event once');
  for (const id of booked) t.equal(statusAtEdge(re, id), 'CONFIRMED');
  t.equal((await e.stats()).metrics.changesApplied, await rc.headSeq(A), 'every change applied once');
});

t.test(
  'a booking made while the lot is offline is admitted by its signed QR; offline drive-ups stay in the driveup pool',
  async (t) => {
    const { acc, broker, rc, edges } = await world(t);
    const re = edges.get(A)!;
    const e = await edge(broker.url, acc, A, re.port);
    await waitFor(
      () => re.store.mirror.config().version >= 1 && re.store.mirror.config().publicKeys.length > 0,
      'keys delivered',
    );
    await e.stop(); // the lot goes offline
    const b = await rc.book(A, 'QR1');
    t.ok(b.credential, 'the confirmed booking carries a signed QR');
    t.equal(re.store.mirror.reservationById(b.id), undefined, 'the edge has never seen it');
    const cfg = re.store.mirror.config();
    const now = Date.now();
    const claims = verifyCredential(b.credential!, cfg.publicKeys, {
      lotId: A,
      nowMs: now,
      earlyArrivalMinutes: cfg.lot.policy.earlyArrivalMinutes,
    });
    t.ok(claims.ok, 'the edge verifies it with the keys it holds');
    const ctx = {
      lot: cfg.lot,
      publicKeys: cfg.publicKeys,
      laneId: 'in-1',
      direction: 'entry' as const,
      overflowAvailable: false,
      driveupCapacity: re.store.mirror.lotIndex().driveupCount,
      spotsById: new Map(cfg.lot.spots.map((s) => [s.id, s])),
      times: timeFormatter(cfg.lot.timeZone),
    };
    const decision = decide(ctx, re.store.gateView, { kind: 'qr', text: b.credential! }, now);
    t.equal(decision.kind, 'admit', 'the gate admits the unseen booking');
    // Offline drive-ups: only driveup spots, never the spot the cloud sold.
    const cloudSpot = (
      await rc.cloud.db.rows<{ spot_id: string }>('select spot_id from reservations where id = $1', [b.id])
    )[0]!.spot_id;
    const driveups: string[] = [];
    for (let i = 0; i < 4; i++) {
      const d = decide(ctx, re.store.gateView, { kind: 'driveup', plate: `OFF${i}` }, now);
      if (d.kind !== 'admit') break;
      t.equal(d.plan.pool, 'driveup', `offline drive-up ${i} goes to the driveup pool`);
      t.not(d.plan.spotId, cloudSpot, 'never the booked spot');
      re.store.ledger.recordEntry({
        sessionId: `off${i}`,
        atMs: now,
        laneId: 'in-1',
        correlationId: null,
        sessionKind: 'driveup',
        reservationId: null,
        plate: `OFF${i}`,
        credential: 'driveup',
        pool: 'driveup',
        spotId: d.plan.spotId,
        spotLabel: d.plan.spotLabel,
        reservationStartMs: null,
        reservationEndMs: null,
        overflowReservationId: null,
        softPassbackViolation: false,
        supersedesSessionId: null,
      });
      driveups.push(`OFF${i}`);
    }
    t.equal(driveups.length, 2, 'as many offline drive-ups as driveup spots, then FULL');
    t.equal(
      decide(ctx, re.store.gateView, { kind: 'driveup', plate: 'OFF9' }, now).kind,
      'refuse',
      'FULL for drive-ups',
    );
    t.equal(
      decide(ctx, re.store.gateView, { kind: 'qr', text: b.credential! }, now).kind,
      'admit',
      'the booking is still admitted',
    );
  },
);

t.test('lot A never sees lot B: changes, config and events stay within their lot', async (t) => {
  const { acc, broker, rc, edges, cs } = await world(t, [A, B]);
  const ea = await edge(broker.url, acc, A, edges.get(A)!.port);
  t.teardown(() => ea.stop());
  const eb = await edge(broker.url, acc, B, edges.get(B)!.port);
  t.teardown(() => eb.stop());
  const ba = await rc.book(A, 'ISOA');
  const bb = await rc.book(B, 'ISOB');
  await waitFor(
    () =>
      statusAtEdge(edges.get(A)!, ba.id) === 'CONFIRMED' &&
      statusAtEdge(edges.get(B)!, bb.id) === 'CONFIRMED',
    'both delivered',
  );
  t.equal(statusAtEdge(edges.get(A)!, bb.id), undefined, 'B’s booking is not at A');
  t.equal(statusAtEdge(edges.get(B)!, ba.id), undefined, 'A’s booking is not at B');
  // Lot A's credentials: reading B's down/ and writing B's up/ are refused by the broker.
  const rogue = await mqtt.connectAsync(broker.url, {
    username: acc.lots.get(A)!.username,
    password: acc.lots.get(A)!.password,
    clientId: `rogue-${process.pid}`,
  });
  t.teardown(() => rogue.endAsync(true));
  await t.rejects(
    rogue.subscribeAsync(topics.lotDownFilter(B), { qos: 1 }),
    'subscription to B refused (SUBACK 0x80)',
  );
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
  denied(edges.get(B)!, 1);
  eb.notifyEventsWritten();
  await waitFor(() => edges.get(B)!.port.outboxDepth() === 0, 'B’s own event stored');
  const rows = await rc.cloud.db.rows<{ kind: string }>('select kind from gate_events where lot_id = $1', [
    B,
  ]);
  t.same(
    rows.map((r) => r.kind),
    ['denied'],
    'A’s forged event for B was never stored',
  );
  t.equal(cs.metrics.droppedTotal, 0);
});

t.test(
  'online overflow: the grant lands at the edge and checks in once; a late grant is cancelled',
  async (t) => {
    const { acc, broker, rc, edges } = await world(t);
    const re = edges.get(A)!;
    const e = await edge(broker.url, acc, A, re.port);
    t.teardown(() => e.stop());
    await waitFor(
      () => e.connectivity() === 'online' && re.store.mirror.config().version >= 1,
      'online with the cloud config',
    );
    const granted = await e.requestOverflow({ plate: 'OVF1', vehicleType: 'car', laneId: 'in-1' });
    t.ok(granted, 'granted within the deadline');
    t.equal(granted?.kind, 'driveup');
    t.equal(granted?.status, 'CONFIRMED');
    t.match(granted?.spotId, /^s\d+$/, 'a bookable spot');
    await waitFor(
      () => statusAtEdge(re, granted!.id) === 'CONFIRMED',
      'the driveup_granted change reached the mirror',
    );
    const now = Date.now();
    re.store.ledger.recordEvent(
      {
        kind: 'entry',
        at: new Date(now).toISOString(),
        laneId: 'in-1',
        correlationId: null,
        sessionId: 'ovf1',
        reservationId: null,
        plate: 'OVF1',
        credential: 'driveup',
        pool: 'bookable',
        spotId: granted!.spotId,
        overflowReservationId: granted!.id,
      },
      now,
    );
    e.notifyEventsWritten();
    await waitFor(
      async () => (await rc.statuses(A)).get(granted!.id) === 'CHECKED_IN',
      'overflow booking checked in',
    );

    // The cloud's clock runs 5 s behind, so it still books after the edge gave up (1 ms): the edge
    // cancels the late grant and no phantom booking stays.
    rc.clock.offset = -5000;
    t.equal(
      await e.requestOverflow({ plate: 'OVF2', vehicleType: 'car', timeoutMs: 1 }),
      null,
      'timed out at the edge',
    );
    await waitFor(async () => {
      const rows = await rc.cloud.db.rows<{ status: string }>(
        'select status from reservations where lot_id = $1 and plate = $2',
        [A, 'OVF2'],
      );
      return rows.length === 1 && rows[0]!.status === 'CANCELLED';
    }, 'the late grant was cancelled in the cloud');
    rc.clock.offset = 0;
  },
);
