/**
 * Cloud benchmarks (quality.md): reserve+confirm throughput over real HTTP with 64 concurrent
 * clients on one lot of 1,000 spots, against a one-row insert transaction with the same clients
 * and pool; and capacity-check latency under load, against the same server's /health.
 * Real PostgreSQL when DATABASE_URL is set (an isolated schema, dropped afterwards), PGlite otherwise.
 */
import { Worker } from 'node:worker_threads';
import { buildApp } from '../cloud/app.js';
import { ephemeralConfig } from '../cloud/config.js';
import { migrate } from '../cloud/db/migrate.js';
import { createMetrics } from '../cloud/metrics.js';
import { bitmapMismatches, lotBody, openTestDatabase } from '../cloud/test/helpers.js';
import { systemClock } from '../protocol/clock.js';
import { silentLogger } from '../protocol/logger.js';
import { seededRandom } from '../protocol/random.js';
import { type BenchContext, type BenchRow, type Measurement, toRow } from './harness.js';

const CLIENTS = 64;
const SPOTS = 1000;
const POOL = 16;
const SLOT = 15 * 60_000;

function summarise(name: string, samplesMs: number[], wallMs: number): Measurement {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]! * 1000;
  const mean = (sorted.reduce((a, b) => a + b, 0) / sorted.length) * 1000;
  return {
    name,
    iterations: sorted.length,
    p50Us: at(0.5),
    p99Us: at(0.99),
    meanUs: mean,
    minUs: sorted[0]! * 1000,
    maxUs: sorted[sorted.length - 1]! * 1000,
    // Throughput of the whole concurrent run, not 1 / latency.
    opsPerSec: (sorted.length / wallMs) * 1000,
  };
}

/** `clients` loops sharing `total` operations, in this thread; latencies and wall time. */
async function closedLoop(clients: number, total: number, op: (i: number) => Promise<void>) {
  const samples: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const s = performance.now();
        await op(i);
        samples.push(performance.now() - s);
      }
    }),
  );
  return { samples, wallMs: performance.now() - t0 };
}

/**
 * The HTTP load generator runs in a worker thread so the clients do not share the server's event
 * loop. Plain JS (no loader needed): `clients` keep-alive loops share `total` operations.
 */
const LOAD_WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: w.clients });
const url = new URL(w.base);
function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = { authorization: 'Bearer ' + w.token };
    if (data) { headers['content-type'] = 'application/json'; headers['content-length'] = Buffer.byteLength(data); }
    const req = http.request({ agent, host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode, body: text.startsWith('{') ? JSON.parse(text) : text });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
let seed = w.seed >>> 0;
const rnd = (n) => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed % n; };
// 2 h windows starting on any slot of the next 30 days: the lot never fills up.
const windowFor = () => {
  const start = (w.firstSlot + rnd(30 * 96)) * 900000;
  return { start: new Date(start).toISOString(), end: new Date(start + 8 * 900000).toISOString() };
};
const ops = {
  async reserve(i) {
    const r = await call('POST', '/v1/reservations',
      { lotId: w.lotId, vehicleType: 'car', plate: w.platePrefix + i, ...windowFor() });
    if (r.status !== 201) return false;
    const u = r.body.paymentUrl;
    const pay = await call('POST', '/v1/sandbox/pay', { checkout: u.slice(u.lastIndexOf('/') + 1) });
    const done = await call('POST', '/v1/reservations/' + r.body.id + '/complete', { paymentToken: pay.body.paymentToken });
    if (done.status !== 200) throw new Error('complete: ' + JSON.stringify(done.body));
    return true;
  },
  async capacity() {
    const x = windowFor();
    const r = await call('GET', '/v1/lots/' + w.lotId + '/capacity?vehicleType=car&start=' +
      encodeURIComponent(x.start) + '&end=' + encodeURIComponent(x.end));
    if (r.status !== 200) throw new Error('capacity ' + r.status);
    return true;
  },
  async health() {
    const r = await call('GET', '/health');
    if (r.status !== 200) throw new Error('health ' + r.status);
    return true;
  },
};
(async () => {
  const op = ops[w.op];
  const samples = [];
  let next = 0;
  let refused = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: w.clients }, async () => {
    for (;;) {
      const i = next++;
      if (i >= w.total) return;
      const s = performance.now();
      if (!(await op(i))) refused++;
      samples.push(performance.now() - s);
    }
  }));
  parentPort.postMessage({ samples, wallMs: performance.now() - t0, refused });
  agent.destroy();
})().catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));
`;

interface LoadSpec {
  base: string;
  token: string;
  lotId: string;
  op: 'reserve' | 'capacity' | 'health';
  clients: number;
  total: number;
  firstSlot: number;
  seed: number;
  platePrefix: string;
}

type LoadResult = { samples: number[]; wallMs: number; refused: number };

function httpLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD_WORKER, { eval: true, workerData: spec });
    worker.once('message', (m: LoadResult | { error: string }) => {
      void worker.terminate();
      if ('error' in m) reject(new Error(m.error));
      else resolve(m);
    });
    worker.once('error', reject);
  });
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const logger = silentLogger();
  const test = await openTestDatabase(logger, POOL);
  const kind = test.kind === 'postgres' ? 'PostgreSQL' : 'PGlite';
  ctx.log(`cloud: ${kind}${test.kind === 'pglite' ? ' (set DATABASE_URL for the real server)' : ''}`);
  const metrics = createMetrics({ defaultMetrics: false });
  const config = ephemeralConfig({
    rateLimits: { capacityPerUserPerMinute: 10_000_000, reservePerLotPerMinute: 10_000_000 },
  });
  try {
    await migrate(test.db, logger);
    const app = await buildApp({
      config,
      logger,
      clock: systemClock,
      random: seededRandom(7),
      db: test.db,
      metrics,
    });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const admin = await app.users.create({
        email: 'bench@example.com',
        password: 'bench password',
        role: 'admin',
      });
      if (!admin.ok) throw new Error(admin.error.message);
      const token = (await app.issueTokens(admin.value)).accessToken;
      const lot = await app.inject({
        method: 'POST',
        url: '/v1/lots',
        headers: { authorization: `Bearer ${token}` },
        payload: lotBody({ id: 'bench', policy: { ...lotBody().policy, holdMinutes: 120 } }, SPOTS),
      });
      if (lot.statusCode !== 201) throw new Error(`lot: ${lot.body}`);
      const firstSlot = Math.ceil(Date.now() / SLOT) + 4;
      const load = (op: LoadSpec['op'], clients: number, total: number, platePrefix: string) =>
        httpLoad({
          base,
          token,
          lotId: 'bench',
          op,
          clients,
          total,
          firstSlot,
          seed: total + clients,
          platePrefix,
        });

      // ---- reserve + confirm, against a one-row insert transaction ----
      const total = ctx.quick ? 1000 : 6000;
      ctx.log('cloud: warming up');
      await load('reserve', CLIENTS, 300, 'WU');
      ctx.log(`cloud: reserve+confirm × ${total}, ${CLIENTS} clients`);
      const res = await load('reserve', CLIENTS, total, 'BN');
      const reserve = summarise('cloud reserve+confirm (HTTP, 64 clients)', res.samples, res.wallMs);

      await test.db.rows(
        'create table if not exists bench_baseline (id bigserial primary key, note text not null)',
      );
      const base1 = await closedLoop(CLIENTS, total, async (i) => {
        await test.db.tx(async (q) => {
          await q.query('insert into bench_baseline (note) values ($1)', [`n${i}`]);
        });
      });
      const baseline = summarise(
        'baseline: one-row insert tx (same clients, pool)',
        base1.samples,
        base1.wallMs,
      );

      const overlaps = await test.db.rows(
        `select a.id from reservations a join reservations b
           on a.lot_id = b.lot_id and a.spot_id = b.spot_id and a.id < b.id and a.during && b.during
         where a.status in ('TENTATIVE','CONFIRMED','CHECKED_IN') and b.status in ('TENTATIVE','CONFIRMED','CHECKED_IN')`,
      );
      const violations = (await metrics.constraintViolations.get()).values.reduce((n, v) => n + v.value, 0);
      const drift = await bitmapMismatches(test.db);
      const doubleBookings = overlaps.length + violations + drift.length;

      // ---- capacity under load, against /health ----
      const checks = ctx.quick ? 2000 : 10_000;
      const loadClients = 8;
      ctx.log(`cloud: capacity × ${checks}, ${loadClients} clients`);
      await load('capacity', loadClients, 500, '');
      const cap = await load('capacity', loadClients, checks, '');
      const health = await load('health', loadClients, checks, '');
      const capacity = summarise(
        `cloud capacity check (HTTP, ${loadClients} clients)`,
        cap.samples,
        cap.wallMs,
      );
      const healthM = summarise(`baseline: /health (${loadClients} clients)`, health.samples, health.wallMs);

      const note = `${kind}; pool ${POOL}; ${SPOTS} spots`;
      return [
        toRow(reserve, {
          baseline,
          budget: { label: '> 1000 res/s, 0 double', opsPerSecMin: 1000 },
          notes: `${note}; ${res.refused} refused; double bookings: ${doubleBookings} (overlaps ${overlaps.length}, constraint ${violations}, bitmap drift ${drift.length})`,
        }),
        toRow(baseline, { notes: note }),
        toRow(capacity, {
          baseline: healthM,
          budget: { label: 'p99 < 10 ms', p99MaxUs: 10_000 },
          notes: note,
        }),
        toRow(healthM, { notes: note }),
      ].map((row) =>
        row.name.startsWith('cloud reserve') && doubleBookings > 0 ? { ...row, pass: false } : row,
      );
    } finally {
      await app.close();
    }
  } finally {
    await test.close();
  }
}
