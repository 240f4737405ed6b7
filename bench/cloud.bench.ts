/**
 * Cloud benchmarks (budgets in the README, "Benchmarks"): reserve+confirm throughput over real HTTP with 64 concurrent
 * clients on one lot of 1,000 spots, against a one-row insert transaction with the same clients
 * and pool; and capacity-check latency under load, against the same server's /health.
 * Real PostgreSQL when DATABASE_URL is set (an isolated schema, dropped afterwards), PGlite otherwise.
 *
 * On PostgreSQL every cloud instance runs in a child process of its own (bench/cloud-server.child.ts)
 * and the HTTP load comes from a worker thread of this process, so neither the clients nor the
 * baseline share an event loop with a server. Reserve is measured on one instance, and again on
 * INSTANCES instances sharing the database and the same total pool (the design runs several cloud
 * instances behind a load balancer; each client keeps to one instance), each run on a fresh lot;
 * and spread over 50 lots by 256 clients. Budgets (README): reserve ≥ 1000/s and ≥ 0.3× the
 * baseline's ops/s with 0 double bookings; capacity p99 < 5 ms and ≤ 3× /health p99.
 * `BENCH_CPU_PROF=<dir>` writes a CPU profile of every cloud child.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildApp, type CloudApp } from '../cloud/app.js';
import { type CloudConfig, ephemeralConfig } from '../cloud/config.js';
import { migrate } from '../cloud/db/migrate.js';
import { type CloudMetrics, createMetrics } from '../cloud/metrics.js';
import { bitmapMismatches, DATABASE_URL, lotBody, openTestDatabase } from '../cloud/test/helpers.js';
import { systemClock } from '../protocol/clock.js';
import { silentLogger } from '../protocol/logger.js';
import { seededRandom } from '../protocol/random.js';
import { type BenchContext, type BenchRow, skippedRow, toRow, summariseMs } from './harness.js';

const CLIENTS = 64;
const SPOTS = 1000;
/** Database connections in total, split evenly between the instances. */
const POOL = 16;
/** Cloud instances for the scaled-out reserve row (one per core of the 2-vCPU dev VM). */
const INSTANCES = 2;
const SLOT = 15 * 60_000;
/** The many-lots row: bookings spread over this many lots, by this many clients. */
const MANY_LOTS = Array.from({ length: 50 }, (_, i) => `bench-m${i}`);
/** A lot booked 95 % for the whole month (the pick's cost in a full lot), and an empty twin. */
const BUSY_LOT = 'bench-busy';
const IDLE_LOT = 'bench-idle';
const BUSY_SHARE = 0.95;
const MANY_CLIENTS = 256;
const SERVER_CHILD = fileURLToPath(new URL('./cloud-server.child.ts', import.meta.url));

/**
 * `BENCH_CPU_PROF=<dir>`: every cloud child writes a V8 CPU profile there when it exits (open it in
 * Chrome DevTools or speedscope). Off by default: profiling costs the server a few percent.
 */
function profileArgs(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

/** The machine's 1-minute load average, noted with each figure (others may share the CPU). */
function loadNote(): string {
  return `load ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`;
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
// One keep-alive agent per instance; client loop k keeps to instance k mod n, as behind a sticky balancer.
const targets = w.bases.map((base) => ({ url: new URL(base), agent: new http.Agent({ keepAlive: true, maxSockets: w.clients }) }));
function call(k, method, path, body) {
  const { url, agent } = targets[k % targets.length];
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
  async reserve(i, k) {
    const r = await call(k, 'POST', '/v1/reservations',
      { lotId: w.lotIds[i % w.lotIds.length], vehicleType: 'car', plate: w.platePrefix + i, ...windowFor() });
    if (r.status !== 201) {
      if (r.status !== 409) throw new Error('reserve ' + r.status + ': ' + JSON.stringify(r.body));
      return false;
    }
    const u = r.body.paymentUrl;
    const pay = await call(k, 'POST', '/v1/sandbox/pay', { checkout: u.slice(u.lastIndexOf('/') + 1) });
    const done = await call(k, 'POST', '/v1/reservations/' + r.body.id + '/complete', { paymentToken: pay.body.paymentToken });
    if (done.status !== 200) throw new Error('complete: ' + JSON.stringify(done.body));
    return true;
  },
  async capacity(i, k) {
    const x = windowFor();
    const r = await call(k, 'GET', '/v1/lots/' + w.lotIds[i % w.lotIds.length] + '/capacity?vehicleType=car&start=' +
      encodeURIComponent(x.start) + '&end=' + encodeURIComponent(x.end));
    if (r.status !== 200) throw new Error('capacity ' + r.status);
    return true;
  },
  async health(i, k) {
    const r = await call(k, 'GET', '/health');
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
  await Promise.all(Array.from({ length: w.clients }, async (_, k) => {
    for (;;) {
      const i = next++;
      if (i >= w.total) return;
      const s = performance.now();
      if (!(await op(i, k))) refused++;
      samples.push(performance.now() - s);
    }
  }));
  parentPort.postMessage({ samples, wallMs: performance.now() - t0, refused });
  for (const t of targets) t.agent.destroy();
})().catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));
`;

interface LoadSpec {
  /** One per instance. */
  bases: string[];
  token: string;
  /** Operation i goes to lot i mod n. */
  lotIds: string[];
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

/** Cloud instances serving the bench: child processes on PostgreSQL, this process's app on PGlite. */
export interface Instances {
  bases: string[];
  /** Exclusion-constraint refusals the instances counted (must stay 0). */
  constraintViolations(): Promise<number>;
  close(): Promise<void>;
}

function request<T>(child: ChildProcess, message: object, reply: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`cloud instance: no ${reply} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (m: { type: string; message?: string }) => {
      if (m.type === reply) done(null, m as T);
      else if (m.type === 'error') done(new Error(`cloud instance: ${m.message}`));
    };
    const onExit = (code: number | null) => done(new Error(`cloud instance exited (${code})`));
    function done(err: Error | null, value?: T) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

export async function startChildren(
  n: number,
  config: CloudConfig,
  db: { url: string; searchPath: string; poolSize: number },
): Promise<Instances> {
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
            c.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            c.send({ type: 'close' });
          }),
      ),
    );
  };
  try {
    const bases = await Promise.all(
      Array.from({ length: n }, async () => {
        const child = fork(SERVER_CHILD, [], {
          execArgv: ['--import', 'tsx', ...profileArgs()],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        children.push(child);
        const m = await request<{ url: string }>(
          child,
          { type: 'start', config, url: db.url, poolSize: db.poolSize, searchPath: db.searchPath },
          'listening',
          120_000,
        );
        return m.url;
      }),
    );
    return {
      bases,
      async constraintViolations() {
        const stats = await Promise.all(
          children.map((c) =>
            request<{ constraintViolations: number }>(c, { type: 'stats' }, 'stats', 10_000),
          ),
        );
        return stats.reduce((sum, x) => sum + x.constraintViolations, 0);
      },
      close: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function inProcess(app: CloudApp, metrics: CloudMetrics): Promise<Instances> {
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    bases: [base],
    async constraintViolations() {
      return (await metrics.constraintViolations.get()).values.reduce((n, v) => n + v.value, 0);
    },
    // The app is closed by whoever built it.
    close: async () => {},
  };
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const logger = silentLogger();
  const test = await openTestDatabase(logger, POOL);
  const kind = test.kind === 'postgres' ? 'PostgreSQL' : 'PGlite';
  ctx.log(`cloud: ${kind}${test.kind === 'pglite' ? ' (set DATABASE_URL for the real server)' : ''}`);
  const metrics = createMetrics({ defaultMetrics: false });
  // One configuration (secrets included) for every instance: a token, a checkout or a payment
  // token issued by one is honoured by all.
  const config = ephemeralConfig({
    rateLimits: { capacityPerUserPerMinute: 10_000_000, reservePerLotPerMinute: 10_000_000 },
  });
  try {
    await migrate(test.db, logger);
    // This process's app creates the user and the lots (and serves, on PGlite).
    const app = await buildApp({
      config,
      logger,
      clock: systemClock,
      random: seededRandom(7),
      db: test.db,
      metrics,
    });
    let running: Instances | null = null;
    try {
      const admin = await app.users.create({
        email: 'bench@example.com',
        password: 'bench password',
        role: 'admin',
      });
      if (!admin.ok) throw new Error(admin.error.message);
      const token = (await app.issueTokens(admin.value)).accessToken;
      for (const id of ['bench', 'bench2', BUSY_LOT, IDLE_LOT, ...MANY_LOTS]) {
        const lot = await app.inject({
          method: 'POST',
          url: '/v1/lots',
          headers: { authorization: `Bearer ${token}` },
          payload: lotBody({ id, policy: { ...lotBody().policy, holdMinutes: 120 } }, SPOTS),
        });
        if (lot.statusCode !== 201) throw new Error(`lot: ${lot.body}`);
      }
      const firstSlot = Math.ceil(Date.now() / SLOT) + 4;
      const start = async (n: number): Promise<Instances> => {
        if (test.kind !== 'postgres' || DATABASE_URL === undefined || test.schema === null) {
          return inProcess(app, metrics);
        }
        return startChildren(n, config, {
          url: DATABASE_URL,
          searchPath: `${test.schema},public`,
          poolSize: Math.max(1, Math.floor(POOL / n)),
        });
      };
      const load = (
        on: Instances,
        op: LoadSpec['op'],
        lotIds: string | string[],
        clients: number,
        total: number,
        platePrefix: string,
      ) =>
        httpLoad({
          bases: on.bases,
          token,
          lotIds: typeof lotIds === 'string' ? [lotIds] : lotIds,
          op,
          clients,
          total,
          firstSlot,
          seed: total + clients,
          platePrefix,
        });
      const doubleBookings = async (on: Instances) => {
        const overlaps = await test.db.rows(
          `select a.id from reservations a join reservations b
             on a.lot_id = b.lot_id and a.spot_id = b.spot_id and a.id < b.id and a.during && b.during
           where a.status in ('TENTATIVE','CONFIRMED','CHECKED_IN') and b.status in ('TENTATIVE','CONFIRMED','CHECKED_IN')`,
        );
        const violations = await on.constraintViolations();
        const drift = await bitmapMismatches(test.db);
        return {
          total: overlaps.length + violations + drift.length,
          text: `double bookings: ${overlaps.length + violations + drift.length} (overlaps ${overlaps.length}, constraint ${violations}, bitmap drift ${drift.length})`,
        };
      };
      const total = ctx.quick ? 1000 : 6000;
      const where = test.kind === 'postgres' ? 'server in a child process' : 'server in this process';
      const note = `${kind}; ${SPOTS} spots; load from a worker thread`;

      // ---- reserve + confirm on one instance, against a one-row insert transaction ----
      running = await start(1);
      ctx.log('cloud: warming up');
      await load(running, 'reserve', 'bench', CLIENTS, 300, 'WU');
      ctx.log(`cloud: reserve+confirm × ${total}, ${CLIENTS} clients, 1 instance`);
      const res = await load(running, 'reserve', 'bench', CLIENTS, total, 'BN');
      const reserve = summariseMs('cloud reserve+confirm (HTTP, 64 clients)', res.samples, res.wallMs);
      const checked1 = await doubleBookings(running);

      await test.db.rows(
        'create table if not exists bench_baseline (id bigserial primary key, note text not null)',
      );
      // Raw pg, three round trips (BEGIN, a prepared insert, COMMIT), independent of cloud/db.
      const base1 = await closedLoop(CLIENTS, total, async (i) => {
        const c = await test.db.pool.connect();
        try {
          await c.query('BEGIN');
          await c.query({
            name: 'bench_baseline_insert',
            text: 'insert into bench_baseline (note) values ($1)',
            values: [`n${i}`],
          });
          await c.query('COMMIT');
        } finally {
          c.release();
        }
      });
      const baseline = summariseMs(
        'baseline: one-row insert tx (same clients, pool)',
        base1.samples,
        base1.wallMs,
      );

      // ---- capacity under load, against /health, on the same instance ----
      const checks = ctx.quick ? 2000 : 10_000;
      const loadClients = 8;
      ctx.log(`cloud: capacity × ${checks}, ${loadClients} clients`);
      await load(running, 'capacity', 'bench', loadClients, 500, '');
      const cap = await load(running, 'capacity', 'bench', loadClients, checks, '');
      const health = await load(running, 'health', 'bench', loadClients, checks, '');
      const capacity = summariseMs(
        `cloud capacity check (HTTP, ${loadClients} clients)`,
        cap.samples,
        cap.wallMs,
      );
      const healthM = summariseMs(
        `baseline: /health (${loadClients} clients)`,
        health.samples,
        health.wallMs,
      );

      // ---- reserve + confirm spread over many lots, more clients, the same instance ----
      ctx.log(`cloud: reserve+confirm × ${total}, ${MANY_CLIENTS} clients, ${MANY_LOTS.length} lots`);
      const many = await load(running, 'reserve', MANY_LOTS, MANY_CLIENTS, total, 'ML');
      const checkedMany = await doubleBookings(running);

      // ---- one client: a lot 95 % booked for the month against an empty one (the spot pick) ----
      // Real confirmed bookings, each holding its spot for 40 days from the lot's first slot, and
      // the bitmaps to match (the drift check below compares them).
      await test.db.rows(
        `with l as (select base_slot from lots where id = $1),
              s as (select id, label from spots where lot_id = $1 order by id limit $2),
              b as (update spots sp set bits = repeat('1', 96 * 40)::varbit from s
                     where sp.lot_id = $1 and sp.id = s.id returning 1)
         insert into reservations (id, lot_id, spot_id, spot_label, user_id, kind, vehicle_type, plate,
                                   start_at, end_at, status, price_amount, currency, created_at, updated_at)
         select 'busy-' || s.id, $1, s.id, s.label, null, 'booking', 'car', upper('BUSY' || s.id),
                to_timestamp(l.base_slot * 900), to_timestamp((l.base_slot + 96 * 40) * 900),
                'CONFIRMED', 0, 'EUR', now(), now()
           from s, l where (select count(*) from b) > 0`,
        [BUSY_LOT, Math.round(SPOTS * BUSY_SHARE)],
      );
      const oneByOne = ctx.quick ? 100 : 400;
      ctx.log(`cloud: reserve+confirm × ${oneByOne}, 1 client, empty lot / lot 95 % booked`);
      await load(running, 'reserve', [IDLE_LOT, BUSY_LOT], 2, 40, 'W1');
      const idle = await load(running, 'reserve', IDLE_LOT, 1, oneByOne, 'I1');
      const busy = await load(running, 'reserve', BUSY_LOT, 1, oneByOne, 'B1');
      const checkedBusy = await doubleBookings(running);
      const idleM = summariseMs('baseline: reserve+confirm, empty lot (1 client)', idle.samples, idle.wallMs);
      const busyRow = toRow(
        summariseMs('cloud reserve+confirm, lot 95 % booked (1 client)', busy.samples, busy.wallMs),
        {
          baseline: idleM,
          budget: { label: 'p50 ≤ 1.5× empty lot, 0 double', ratioMax: 1.5 },
          notes: `${kind}; ${SPOTS} spots, ${Math.round(SPOTS * BUSY_SHARE)} booked for 40 days; ${busy.refused} refused; ${checkedBusy.text}`,
        },
      );
      await running.close();
      running = null;

      const reserveRow = toRow(reserve, {
        baseline,
        budget: { label: '≥ 1000 res/s, ≥ 0.3× baseline ops/s, 0 double', opsPerSecMin: 1000 },
        notes: `${note}; 1 instance (${where}), pool ${POOL}; ${res.refused} refused; ${checked1.text}; ${loadNote()}`,
      });
      const manyRow = toRow(
        summariseMs(
          `cloud reserve+confirm (HTTP, ${MANY_CLIENTS} clients, ${MANY_LOTS.length} lots)`,
          many.samples,
          many.wallMs,
        ),
        {
          baseline,
          budget: { label: '≥ 1000 res/s, 0 double', opsPerSecMin: 1000 },
          notes: `${kind}; ${MANY_LOTS.length} lots × ${SPOTS} spots; 1 instance (${where}), pool ${POOL}; ${many.refused} refused; ${checkedMany.text}; ${loadNote()}`,
        },
      );
      const rows: BenchRow[] = [
        {
          ...reserveRow,
          pass:
            reserveRow.pass === true && reserve.opsPerSec >= 0.3 * baseline.opsPerSec && checked1.total === 0,
        },
        { ...manyRow, pass: manyRow.pass === true && checkedMany.total === 0 },
        toRow(baseline, {
          notes: `${kind}; pool ${POOL}; raw pg (BEGIN, prepared insert, COMMIT) in this process, no HTTP`,
        }),
        { ...busyRow, pass: busyRow.pass === true && checkedBusy.total === 0 },
        toRow(idleM, { notes: `${kind}; ${SPOTS} spots, nothing booked` }),
      ];
      let checkedN = { total: 0, text: '' };
      if (test.kind === 'postgres') {
        // ---- the same on INSTANCES instances, one database, the same total pool, a fresh lot ----
        const each = Math.max(1, Math.floor(POOL / INSTANCES));
        running = await start(INSTANCES);
        ctx.log(`cloud: reserve+confirm × ${total}, ${CLIENTS} clients, ${INSTANCES} instances`);
        await load(running, 'reserve', 'bench2', CLIENTS, 300, 'WV');
        const resN = await load(running, 'reserve', 'bench2', CLIENTS, total, 'BM');
        checkedN = await doubleBookings(running);
        await running.close();
        running = null;
        rows.push(
          toRow(
            summariseMs(
              `cloud reserve+confirm (HTTP, 64 clients, ${INSTANCES} instances)`,
              resN.samples,
              resN.wallMs,
            ),
            {
              baseline,
              budget: { label: '> 1000 res/s, 0 double', opsPerSecMin: 1000 },
              notes: `${note}; ${INSTANCES} instances (child processes, clients split evenly), pool ${INSTANCES}×${each}; ${resN.refused} refused; ${checkedN.text}`,
            },
          ),
        );
      } else {
        rows.push(
          skippedRow(
            `cloud reserve+confirm (HTTP, 64 clients, ${INSTANCES} instances)`,
            'several instances need PostgreSQL (set DATABASE_URL)',
          ),
        );
      }
      const capacityRow = toRow(capacity, {
        baseline: healthM,
        budget: { label: 'p99 < 5 ms, ≤ 3× /health p99', p99MaxUs: 5_000 },
        notes: `${note}; 1 instance (${where}); after the 1-instance reserve run; answers from memory (≤ 1 s old); ${loadNote()}`,
      });
      rows.push(
        { ...capacityRow, pass: capacityRow.pass === true && capacity.p99Us <= 3 * healthM.p99Us },
        toRow(healthM, { notes: `${note}; 1 instance` }),
      );
      return rows.map((row) =>
        row.name.startsWith('cloud reserve') &&
        (row.name.includes('instances') ? checkedN.total : checked1.total) > 0
          ? { ...row, pass: false }
          : row,
      );
    } finally {
      await running?.close();
      await app.close();
    }
  } finally {
    await test.close();
  }
}
