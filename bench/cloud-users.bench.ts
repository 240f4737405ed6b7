/**
 * 10,000 concurrent users against one cloud instance (budget in the README, "Benchmarks"): each user
 * holds its own keep-alive connection from a separate load process (bench/cloud-users-load.child.mjs,
 * fd limit raised with `ulimit -n` in its shell), and loops: search lots → check a lot's capacity →
 * think 10–30 s; about 5 % of the loops also reserve, pay and confirm. Reports throughput, p50/p99 of
 * every request, errors and timeouts; same-run baseline: /health from the same load process.
 * Needs the real PostgreSQL (DATABASE_URL); the server runs in a child process as in cloud.bench.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../cloud/app.js';
import { ephemeralConfig } from '../cloud/config.js';
import { migrate } from '../cloud/db/migrate.js';
import { createMetrics } from '../cloud/metrics.js';
import { DATABASE_URL, lotBody, openTestDatabase } from '../cloud/test/helpers.js';
import { systemClock } from '../protocol/clock.js';
import { silentLogger } from '../protocol/logger.js';
import { seededRandom } from '../protocol/random.js';
import { type Instances, startChildren } from './cloud.bench.js';
import { type BenchContext, type BenchRow, skippedRow, toRow } from './harness.js';

const USERS = 10_000;
const LOTS = Array.from({ length: 20 }, (_, i) => `users-${i}`);
const SPOTS = 500;
const POOL = 16;
/** Think time between a user's loops: uniform in [THINK_MS / 2, 1.5 × THINK_MS). */
const THINK_MS = 20_000;
/** Users start over this long, so all connections are open early in the run. */
const RAMP_MS = 10_000;
const TIMEOUT_MS = 10_000;
const LOAD_CHILD = fileURLToPath(new URL('./cloud-users-load.child.mjs', import.meta.url));

interface LoadResult {
  samples: number[];
  wallMs: number;
  errors: Record<string, number>;
  timeouts: number;
  booked: number;
  refused: number;
  peakSockets: number;
}

function summarise(name: string, r: LoadResult) {
  const sorted = [...r.samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! * 1000;
  return {
    name,
    iterations: sorted.length,
    p50Us: at(0.5),
    p99Us: at(0.99),
    meanUs: (sorted.reduce((a, b) => a + b, 0) / sorted.length) * 1000,
    minUs: sorted[0]! * 1000,
    maxUs: sorted[sorted.length - 1]! * 1000,
    opsPerSec: (sorted.length / r.wallMs) * 1000,
  };
}

/** `BENCH_CPU_PROF=<dir>`: the load process writes a V8 CPU profile there too (as the cloud children do). */
function profileFlags(): string {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? `--cpu-prof --cpu-prof-dir="${dir}"` : '';
}

/** The load process, in a shell that raises its fd limit first. */
function runLoad(spec: object): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      '/bin/sh',
      [
        '-c',
        `ulimit -n ${USERS + 1024} 2>/dev/null; exec "${process.execPath}" ${profileFlags()} "${LOAD_CHILD}"`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    child.once('message', (m: { type: string; result?: LoadResult; message?: string }) => {
      child.disconnect();
      if (m.type === 'done' && m.result) resolve(m.result);
      else reject(new Error(`load process: ${m.message}`));
    });
    child.once('exit', (code) => reject(new Error(`load process exited (${code})`)));
    child.send({ type: 'run', spec });
  });
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const name = `cloud ${USERS.toLocaleString('en')} users (keep-alive, think time)`;
  if (DATABASE_URL === undefined) return [skippedRow(name, 'needs the real PostgreSQL (set DATABASE_URL)')];
  const logger = silentLogger();
  const test = await openTestDatabase(logger, POOL);
  const config = ephemeralConfig({
    rateLimits: { capacityPerUserPerMinute: 10_000_000, reservePerLotPerMinute: 10_000_000 },
  });
  let running: Instances | null = null;
  try {
    await migrate(test.db, logger);
    const metrics = createMetrics({ defaultMetrics: false });
    const app = await buildApp({
      config,
      logger,
      clock: systemClock,
      random: seededRandom(11),
      db: test.db,
      metrics,
    });
    try {
      const admin = await app.users.create({
        email: 'users@example.com',
        password: 'bench password',
        role: 'admin',
      });
      if (!admin.ok) throw new Error(admin.error.message);
      const token = (await app.issueTokens(admin.value)).accessToken;
      for (const id of LOTS) {
        const lot = await app.inject({
          method: 'POST',
          url: '/v1/lots',
          headers: { authorization: `Bearer ${token}` },
          payload: lotBody({ id, policy: { ...lotBody().policy, holdMinutes: 120 } }, SPOTS),
        });
        if (lot.statusCode !== 201) throw new Error(`lot: ${lot.body}`);
      }
      running = await startChildren(1, config, {
        url: DATABASE_URL,
        searchPath: `${test.schema},public`,
        poolSize: POOL,
      });
      const durationMs = ctx.quick ? 30_000 : 60_000;
      ctx.log(`cloud-users: ${USERS} users for ${durationMs / 1000} s`);
      const r = await runLoad({
        base: running.bases[0],
        token,
        lotIds: LOTS,
        users: USERS,
        durationMs,
        thinkMs: THINK_MS,
        rampMs: RAMP_MS,
        timeoutMs: TIMEOUT_MS,
        bookPerMille: 50,
        firstSlot: Math.ceil(Date.now() / 900_000) + 4,
        seed: 10_000,
      });
      const m = summarise(name, r);
      const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
      const row = toRow(m, {
        budget: { label: 'p99 < 1 s, 0 errors, 0 timeouts', p99MaxUs: 1_000_000 },
        notes:
          `PostgreSQL; 1 instance (child process), pool ${POOL}; ${LOTS.length} lots × ${SPOTS} spots; ` +
          `peak ${r.peakSockets} open connections; ${r.booked} booked+paid, ${r.refused} refused; ` +
          `errors ${errors} ${JSON.stringify(r.errors)}, timeouts ${r.timeouts}; ` +
          `load ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`,
      });
      return [{ ...row, pass: row.pass === true && errors === 0 && r.timeouts === 0 }];
    } finally {
      await running?.close();
      await app.close();
    }
  } finally {
    await test.close();
  }
}
