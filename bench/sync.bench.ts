/**
 * Sync benchmarks (budgets in the README, "Benchmarks"): sync lag (cloud commit of a booking change → applied in the edge's
 * SQLite) against a bare MQTT publish → receive on the same broker in the same run; catch-up of 10,000
 * changes after a disconnect; outbox drain of 100,000 gate events queued offline.
 *
 * Database: PostgreSQL when DATABASE_URL is set (an isolated schema), PGlite otherwise.
 * Broker: MQTT_URL's broker when it accepts this run's credentials (it would need them provisioned;
 * set MQTT_BENCH_CLOUD_USER/PASS and MQTT_BENCH_LOT_USER/PASS, the lot user being the lot id),
 * otherwise the embedded aedes broker with the project's accounts and ACL. The rows say which.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import {
  type BrokerCredentials,
  createCloudCredentials,
  createLotCredentials,
  MemoryCredentialStore,
} from '../cloud/broker/credentials.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../cloud/broker/embedded.js';
import { appendChange } from '../cloud/repositories/changes.js';
import type { CloudSync } from '../cloud/sync/index.js';
import { startCloudSyncForApp } from '../cloud/sync/repo-adapter.js';
import { buildTestCloud, lotBody, type TestCloud } from '../cloud/test/helpers.js';
import { Connectivity } from '../edge/connectivity.js';
import { EdgeStore } from '../edge/store/store.js';
import { createSyncPort } from '../edge/store/sync-port.js';
import { type EdgeSync, startEdgeSync } from '../edge/sync/client.js';
import { TestClock } from '../protocol/clock.js';
import type { Reservation } from '../protocol/domain.js';
import { silentLogger } from '../protocol/logger.js';
import { encodeMessage, topics } from '../protocol/mqtt.js';
import { SLOT_MS } from '../protocol/slots.js';
import { type BenchContext, type BenchRow, skippedRow, toRow, valueRow, summariseMs } from './harness.js';

const logger = silentLogger();

class LiveClock extends TestClock {
  constructor() {
    super(Date.now());
  }
  override now(): number {
    return Date.now();
  }
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Broker {
  url: string;
  kind: string;
  cloud: BrokerCredentials;
  lot: BrokerCredentials;
  close(): Promise<void>;
}

async function accepts(url: string, c: BrokerCredentials): Promise<boolean> {
  try {
    const client = await mqtt.connectAsync(url, {
      username: c.username,
      password: c.password,
      reconnectPeriod: 0,
      connectTimeout: 2000,
      clientId: `bench-probe-${process.pid}`,
    });
    await client.endAsync(true);
    return true;
  } catch {
    return false;
  }
}

async function pickBroker(lotId: string, ctx: BenchContext): Promise<Broker> {
  const url = process.env.MQTT_URL;
  const e = process.env;
  if (
    url &&
    e.MQTT_BENCH_CLOUD_USER &&
    e.MQTT_BENCH_CLOUD_PASS &&
    e.MQTT_BENCH_LOT_USER &&
    e.MQTT_BENCH_LOT_PASS
  ) {
    const cloud = { username: e.MQTT_BENCH_CLOUD_USER, password: e.MQTT_BENCH_CLOUD_PASS };
    const lot = { username: e.MQTT_BENCH_LOT_USER, password: e.MQTT_BENCH_LOT_PASS };
    if ((await accepts(url, cloud)) && (await accepts(url, lot)) && lot.username === lotId) {
      return { url, kind: `MQTT_URL (${url})`, cloud, lot, close: async () => {} };
    }
    ctx.log(`sync: ${url} refused the bench credentials; using the embedded broker`);
  } else if (url) {
    ctx.log(
      `sync: MQTT_URL is set but no bench credentials for it (MQTT_BENCH_*); using the embedded broker`,
    );
  }
  const cloud = createCloudCredentials();
  const lot = createLotCredentials(lotId);
  const credentials = await MemoryCredentialStore.fromCredentials([cloud, lot]);
  const broker: EmbeddedBroker = await startEmbeddedBroker({ credentials, logger });
  return { url: broker.url, kind: 'embedded aedes', cloud, lot, close: () => broker.close() };
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const lotId = `bench-${process.pid}`;
  const samples = ctx.quick ? 100 : 500;
  const catchUpN = ctx.quick ? 2000 : 10_000;
  const drainN = ctx.quick ? 20_000 : 100_000;
  const clock = new LiveClock();
  let cloud: TestCloud | null = null;
  let broker: Broker | null = null;
  let cs: CloudSync | null = null;
  let sync: EdgeSync | null = null;
  let store: EdgeStore | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'parkedge-bench-sync-'));
  try {
    cloud = await buildTestCloud({ clock, logger, poolSize: 16 });
    const dbKind = cloud.kind === 'postgres' ? 'PostgreSQL' : 'PGlite';
    const body = lotBody({ id: lotId }, 8);
    const op = await cloud.userWithToken('operator');
    const created = await cloud.call('POST', '/v1/lots', { token: op.token, body });
    if (created.status !== 201) throw new Error(`lot: ${created.status}`);
    const lotRecord = (await cloud.app.lots.get(lotId))!;
    const lot = {
      id: lotId,
      name: body.name,
      timeZone: body.timeZone,
      location: body.location,
      rates: lotRecord.rates,
      policy: lotRecord.policy,
      spots: body.spots,
    };

    broker = await pickBroker(lotId, ctx);
    const where = `${broker.kind}, ${dbKind}${cloud.kind === 'pglite' ? ' (no NOTIFY through PGlite’s socket: 100 ms relay poll; set DATABASE_URL)' : ''}`;
    ctx.log(`sync: broker ${broker.kind}; database ${dbKind}`);
    cs = await startCloudSyncForApp(cloud.app, {
      mqtt: {
        url: broker.url,
        username: broker.cloud.username,
        password: broker.cloud.password,
        instanceId: `bench-${process.pid}`,
        sharedSubscription: false,
      },
      logger,
      clock,
      metricsRegistry: new Registry(),
    });

    store = EdgeStore.open({
      path: join(dir, 'edge.db'),
      lotId,
      clock,
      logger,
      fileConfig: { lot, publicKeys: [] },
    });
    const port = createSyncPort({
      store,
      connectivity: new Connectivity('offline', clock.now()),
      lanes: () => [],
    });
    const startEdge = () =>
      startEdgeSync({
        lotId,
        edgeVersion: 'bench',
        mqtt: {
          url: broker!.url,
          username: broker!.lot.username,
          password: broker!.lot.password,
          reconnectPeriodMs: 100,
        },
        store: port,
        onCommand: async () => ({ ok: true, detail: '' }),
        clock,
        logger,
        metricsRegistry: new Registry(),
      });
    sync = await startEdge();
    await until(() => sync!.connectivity() === 'online' && cs!.connected(), 15_000, 'connected');

    // ---- sync lag: commit a change in PostgreSQL → applied in SQLite ----
    const db = cloud.db;
    let n = 0;
    const reservation = (): Reservation => {
      const start = Math.floor(clock.now() / SLOT_MS) * SLOT_MS + (n % 8) * 4 * SLOT_MS;
      return {
        id: `bench-r${++n}`,
        lotId,
        spotId: body.spots[n % 8]!.id,
        spotLabel: body.spots[n % 8]!.label,
        vehicleType: 'car',
        plate: `B${n}`,
        start: new Date(start).toISOString(),
        end: new Date(start + 4 * SLOT_MS).toISOString(),
        status: 'CONFIRMED',
        kind: 'booking',
        price: { amount: 400, currency: 'EUR' },
      };
    };
    // Seqs are assigned after commit by the change sequencer (as every repository write kicks it);
    // the lag runs from the commit, so it includes the sequencing.
    const commit = async (count: number): Promise<{ t0: number; head: number }> => {
      await db.tx(async (q) => {
        for (let i = 0; i < count; i++) await appendChange(q, lotId, 'confirmed', reservation(), clock.now());
      });
      const t0 = performance.now();
      await cloud!.app.changeSequencer.kick();
      return { t0, head: await cloud!.app.changes.headSeq(lotId) };
    };
    const lag: number[] = [];
    for (let i = 0; i < samples + 20; i++) {
      const { t0, head: seq } = await commit(1);
      await until(() => store!.mirror.getCursor() >= seq, 5000, `seq ${seq} at the edge`);
      if (i >= 20) lag.push(performance.now() - t0);
    }

    // Baseline: a bare QoS 1 publish → receive of a similar payload, cloud account → lot account.
    const pub = await mqtt.connectAsync(broker.url, {
      username: broker.cloud.username,
      password: broker.cloud.password,
      clientId: `bench-pub-${process.pid}`,
    });
    const sub = await mqtt.connectAsync(broker.url, {
      username: broker.lot.username,
      password: broker.lot.password,
      clientId: `bench-sub-${process.pid}`,
    });
    const topic = topics.down(lotId, 'reply');
    await sub.subscribeAsync(topic, { qos: 1 });
    let received = 0;
    sub.on('message', () => received++);
    const payload = encodeMessage(
      'changes',
      {
        changes: [{ seq: 1, at: new Date().toISOString(), reason: 'confirmed', reservation: reservation() }],
      },
      { id: 'b', sentAt: new Date().toISOString() },
    );
    const bare: number[] = [];
    for (let i = 0; i < samples + 20; i++) {
      const want = received + 1;
      const t0 = performance.now();
      await pub.publishAsync(topic, payload, { qos: 1 });
      await until(() => received >= want, 5000, 'bare message');
      if (i >= 20) bare.push(performance.now() - t0);
    }
    await pub.endAsync(true);
    await sub.endAsync(true);
    const lagM = summariseMs('sync lag: commit → edge SQLite', lag);
    const bareM = summariseMs('bare MQTT publish → receive', bare);
    const rows: BenchRow[] = [
      toRow(bareM, { notes: where }),
      toRow(lagM, { baseline: bareM, budget: { label: 'p99 < 50 ms', p99MaxUs: 50_000 }, notes: where }),
    ];

    // ---- catch-up: 10,000 changes while the edge is away ----
    await sync.stop();
    sync = null;
    const { head } = await commit(catchUpN);
    const t0 = performance.now();
    sync = await startEdge();
    await until(() => store!.mirror.getCursor() >= head, 120_000, 'catch-up');
    const catchUpS = (performance.now() - t0) / 1000;
    rows.push(
      valueRow(
        `catch-up: ${catchUpN.toLocaleString('en')} changes after a disconnect`,
        Number(catchUpS.toFixed(2)),
        's',
        {
          budget: '< 5 s',
          pass: catchUpS < 5,
          notes: `${where}; reconnect + resync included`,
        },
      ),
    );

    // ---- outbox drain: 100,000 gate events queued offline ----
    await sync.stop();
    sync = null;
    const now = clock.now();
    const at = new Date(now).toISOString();
    store.db.transaction(() => {
      for (let i = 0; i < drainN; i++)
        store!.ledger.recordEvent(
          {
            kind: 'denied',
            at,
            laneId: 'in-1',
            correlationId: null,
            plate: `D${i}`,
            reservationId: null,
            reason: 'unknown',
          },
          now,
        );
    })();
    const depth = store.ledger.outboxDepth();
    const d0 = performance.now();
    sync = await startEdge();
    await until(() => store!.ledger.outboxDepth() === 0, 300_000, 'drain');
    const drainS = (performance.now() - d0) / 1000;
    const [stored] = await db.rows<{ n: number }>(
      'select count(*)::int as n from gate_events where lot_id = $1',
      [lotId],
    );
    rows.push(
      valueRow(`outbox drain: ${depth.toLocaleString('en')} gate events`, Number(drainS.toFixed(2)), 's', {
        budget: '< 30 s',
        pass: drainS < 30 && stored!.n === depth,
        notes: `${where}; all stored (${stored!.n}) and acked; ${Math.round(depth / drainS)} events/s`,
      }),
    );
    return rows;
  } catch (error) {
    ctx.log(`sync bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    return [skippedRow('sync', error instanceof Error ? error.message : String(error))];
  } finally {
    await sync?.stop().catch(() => {});
    await cs?.stop().catch(() => {});
    store?.close();
    await broker?.close().catch(() => {});
    await cloud?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
