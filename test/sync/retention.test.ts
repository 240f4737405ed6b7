/**
 * Change-log retention end to end: the cloud app on PostgreSQL (DATABASE_URL; PGlite otherwise), the
 * edge's SQLite store, the embedded broker. `lot_changes` is pruned by the sweeper; an edge that was
 * offline for longer than the retention comes back by snapshot and ends up with the cloud's view.
 */
import mqtt from 'mqtt';
import t from 'tap';
import { accounts, edge, embeddedBroker, waitFor } from './support/harness.js';
import { realCloud, realCloudSync, realEdgeStore } from './support/real.js';

const LOT = `pr${process.pid}`;

t.test(
  'pruned past the retention: an edge whose cursor is below the log floor resyncs by snapshot',
  async (t) => {
    const acc = accounts([LOT]);
    const broker = await embeddedBroker(acc);
    t.teardown(() => broker.close());
    const rc = await realCloud([LOT]);
    t.teardown(() => rc.close());
    const cs = await realCloudSync(rc, broker.url, acc);
    t.teardown(() => cs.stop());
    const re = realEdgeStore(rc.lotConfigs.get(LOT)!);
    t.teardown(() => {
      re.close();
      re.remove();
    });
    const db = rc.cloud.db;
    const statusAtEdge = (id: string) => re.store.mirror.reservationById(id)?.status;

    // Online: two bookings reach the edge.
    let e = await edge(broker.url, acc, LOT, re.port);
    const kept = await rc.book(LOT, 'KEEP1');
    const gone = await rc.book(LOT, 'GONE1');
    await waitFor(
      () => statusAtEdge(kept.id) === 'CONFIRMED' && statusAtEdge(gone.id) === 'CONFIRMED',
      'online',
    );
    await e.stop();
    const cursorAtCut = re.port.getCursor();

    // Offline "for 31 days": a cancellation and a booking the edge never hears about...
    await rc.cancel(gone.id);
    const during = await rc.book(LOT, 'DURING1');
    await rc.cloud.app.changeSequencer.kick();
    // ...whose log entries are older than the retention (the log's clock, not the bookings', is aged).
    await db.pooled.query(`update lot_changes set at = at - interval '31 days' where lot_id = $1`, [LOT]);
    // And one change within the retention.
    const after = await rc.book(LOT, 'AFTER1');
    await rc.cloud.app.changeSequencer.kick();
    const head = await rc.headSeq(LOT);

    t.equal(rc.cloud.app.config.sweepers.changeLogRetentionDays, 30, 'default retention: 30 days');
    const pruned = await rc.cloud.app.sweepers.runChangeLogPrune();
    t.ok(pruned !== null && pruned >= 4, `pruned ${pruned} entries`);
    t.equal(await rc.cloud.app.sweepers.runChangeLogPrune(), 0, 'a second run finds nothing more');
    const [log] = await db.rows<{ n: number; min: number | null }>(
      'select count(*)::int as n, min(seq)::int as min from lot_changes where lot_id = $1',
      [LOT],
    );
    const [floor] = await db.rows<{ floor_seq: string }>(
      'select floor_seq from lot_log_floor where lot_id = $1',
      [LOT],
    );
    t.ok(log!.n >= 1, 'the recent changes are kept');
    t.equal(Number(floor!.floor_seq), log!.min! - 1, 'the floor sits right below the oldest kept seq');
    t.ok(cursorAtCut < Number(floor!.floor_seq), `edge cursor ${cursorAtCut} is below the floor`);

    // A month offline outlives the broker's persistent session (Mosquitto expires it): drop it, so
    // the changes queued for the edge are gone and only the resync can bring them.
    const cred = acc.lots.get(LOT)!;
    const wipe = await mqtt.connectAsync(broker.url, {
      clientId: `edge-${LOT}`,
      clean: true,
      username: cred.username,
      password: cred.password,
      reconnectPeriod: 0,
    });
    await wipe.endAsync();

    // Back online: the resync from below the floor is answered by a snapshot.
    e = await edge(broker.url, acc, LOT, re.port);
    t.teardown(() => e.stop());
    await waitFor(() => re.port.getCursor() === head, 'edge caught up', 15_000);
    const stats = await e.stats();
    t.ok(stats.metrics.snapshots >= 1, 'caught up by snapshot');
    t.equal(statusAtEdge(gone.id), 'CANCELLED', 'the cancellation whose change was pruned reached the edge');
    t.equal(statusAtEdge(during.id), 'CONFIRMED', 'the booking whose change was pruned reached the edge');
    t.equal(statusAtEdge(after.id), 'CONFIRMED');
    t.equal(statusAtEdge(kept.id), 'CONFIRMED');
    // The mirror equals the cloud's view: every reservation of the lot has the cloud's status.
    const cloud = await rc.statuses(LOT);
    t.same(new Map([...cloud.keys()].map((id) => [id, statusAtEdge(id)])), cloud, 'mirror = cloud');
  },
);
