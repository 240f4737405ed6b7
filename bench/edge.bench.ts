/**
 * Edge benchmarks (budgets in the README, "Benchmarks"):
 *  - gate decision: credential read → barrier decision on a lot of 2,000 spots, 50,000 reservations
 *    and 200,000 past events, against an indexed better-sqlite3 point read measured in the same run.
 *    Also a permit holder (2,000 permits with weekday access hours; docs/permits.md) by plate and
 *    by signed permit QR. Budget p99 < 1 ms.
 *  - edge footprint: resident memory of a child process running the edge with that lot, both as
 *    `npm run edge` runs it (tsx) and compiled (esbuild bundle on plain node). Budget < 150 MB.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKey, signCredential } from '../protocol/credential.js';
import { seededRandom } from '../protocol/random.js';
import { buildEdge } from '../edge/build.js';
import { type DecisionContext, decide, driveupPlan, type GateCredential } from '../edge/lane/decision.js';
import { timeFormatter } from '../edge/lane/messages.js';
import { DEFAULT_LANE_TIMING, LaneStateMachine } from '../edge/lane/state-machine.js';
import { type BenchContext, type BenchRow, measure, toRow, valueRow } from './harness.js';
import {
  BENCH_LOT_ID,
  benchReservation,
  NOW,
  openBenchStore,
  openNowIndices,
  PAST_EVENTS,
  permitPlateOf,
  plateOf,
  populate,
  populatePermits,
  RESERVATIONS,
  SPOTS,
} from './edge-lot.js';

const FOOTPRINT_CHILD = fileURLToPath(new URL('./edge-footprint.child.ts', import.meta.url));
/** Inside the repo so the bundle's external packages resolve from node_modules. */
const BUILD_ROOT = fileURLToPath(new URL('../node_modules/.cache/parkedge-bench/', import.meta.url));

/**
 * The footprint child bundled by the production build (edge/build.ts: same esbuild options, same
 * run-time files beside the bundle), run on plain node as the container image runs dist/edge.mjs.
 */
async function bundleFootprintChild(tag: string): Promise<string> {
  const built = await buildEdge({
    entry: FOOTPRINT_CHILD,
    outDir: join(BUILD_ROOT, basename(tag)),
    bundleName: 'edge-footprint.mjs',
  });
  return built.file;
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'parkedge-bench-edge-'));
  try {
    const key = generateSigningKey('bench');
    const { store, path } = openBenchStore(dir, [key.publicEntry]);
    ctx.log(
      `edge: building the lot (${SPOTS} spots, ${RESERVATIONS} reservations, ${PAST_EVENTS} past events)…`,
    );
    const t0 = Date.now();
    populate(store);
    const permitIds = populatePermits(store);
    ctx.log(`edge: lot built in ${Date.now() - t0} ms`);

    const lot = store.mirror.config().lot;
    const decisionContext = (direction: 'entry' | 'exit'): DecisionContext => ({
      lot,
      publicKeys: [key.publicEntry],
      laneId: direction === 'entry' ? 'in-1' : 'out-1',
      direction,
      overflowAvailable: false,
      driveupCapacity: store.mirror.lotIndex().driveupCount,
      permitCapacity: store.mirror.lotIndex().permitCount,
      spotsById: new Map(lot.spots.map((s) => [s.id, s])),
      times: timeFormatter(lot.timeZone),
    });
    const entry = decisionContext('entry');
    const exit = decisionContext('exit');
    const random = seededRandom(2024);
    const open = openNowIndices();
    const pickOpen = () => open[random.int(open.length)]!;

    // 1,000 vehicles inside, for exit decisions.
    const inside: string[] = [];
    for (let k = 0; k < 1000; k++) {
      const plate = `IN${String(k).padStart(5, '0')}`;
      inside.push(plate);
      store.ledger.recordEntry({
        sessionId: `bench-inside-${k}`,
        atMs: NOW - 90 * 60_000,
        laneId: 'in-1',
        correlationId: null,
        ...driveupPlan({ plate }),
      });
    }
    const qrTexts = Array.from({ length: 256 }, () => {
      const r = benchReservation(pickOpen());
      return signCredential(
        { rid: r.id, lot: BENCH_LOT_ID, plate: r.plate, start: Date.parse(r.start), end: Date.parse(r.end) },
        key.signing,
      );
    });

    const iterations = ctx.quick ? 2_000 : 20_000;
    const opts = { iterations, warmup: Math.min(2_000, iterations) };
    const budget = { label: 'p99 < 1 ms', p99MaxUs: 1000 };

    const pointRead = store.db.prepare('SELECT * FROM reservations WHERE id = ?');
    const baseline = measure(
      'edge: indexed point read (better-sqlite3)',
      () => pointRead.get(`res-${random.int(RESERVATIONS)}`),
      opts,
    );

    const plateExact = measure(
      'edge: gate decision, plate (exact)',
      () =>
        decide(entry, store.gateView, { kind: 'plate', plate: plateOf(pickOpen()), confidence: 0.93 }, NOW),
      opts,
    );
    const plateFuzzy = measure(
      'edge: gate decision, plate (confusable misread)',
      // P0… read as "PO…": every confusable position is probed by index.
      () =>
        decide(
          entry,
          store.gateView,
          { kind: 'plate', plate: plateOf(pickOpen()).replace('0', 'O'), confidence: 0.93 },
          NOW,
        ),
      opts,
    );
    const qr = measure(
      'edge: gate decision, signed QR (Ed25519)',
      () => decide(entry, store.gateView, { kind: 'qr', text: qrTexts[random.int(qrTexts.length)]! }, NOW),
      opts,
    );
    const exitFee = measure(
      'edge: gate decision, exit (plate + fee)',
      () =>
        decide(
          exit,
          store.gateView,
          { kind: 'plate', plate: inside[random.int(inside.length)]!, confidence: 0.93 },
          NOW,
        ),
      opts,
    );
    const permitPlate = measure(
      'edge: gate decision, permit holder (plate, access hours)',
      () => {
        const d = decide(
          entry,
          store.gateView,
          { kind: 'plate', plate: permitPlateOf(random.int(permitIds.length)), confidence: 0.93 },
          NOW,
        );
        if (d.kind !== 'admit') throw new Error(`expected a permit admit, got ${d.kind}`);
        return d;
      },
      opts,
    );
    const permitQrTexts = Array.from({ length: 256 }, (_, i) =>
      signCredential(
        {
          kind: 'permit',
          rid: permitIds[i]!,
          lot: BENCH_LOT_ID,
          plate: permitPlateOf(i),
          start: NOW - 86_400_000,
          end: NOW + 30 * 86_400_000,
        },
        key.signing,
      ),
    );
    const permitQr = measure(
      'edge: gate decision, permit holder (signed permit QR)',
      () => decide(entry, store.gateView, { kind: 'qr', text: permitQrTexts[random.int(256)]! }, NOW),
      opts,
    );
    let n = 0;
    const lanePath = measure(
      'edge: credential read → barrier command',
      () => {
        const sm = new LaneStateMachine<unknown>({
          direction: 'entry',
          timing: DEFAULT_LANE_TIMING,
          hasLimitSwitches: true,
          newId: () => `b${++n}`,
        });
        sm.init({ arming: true, safety: false, limits: { open: false, closed: true } }, NOW);
        const credential: GateCredential = { kind: 'plate', plate: plateOf(pickOpen()), confidence: 0.93 };
        const asked = sm
          .step({ type: 'credential', credential }, NOW)
          .commands.find((c) => c.type === 'decide');
        if (asked?.type !== 'decide') throw new Error('no decision asked');
        const d = decide(entry, store.gateView, credential, NOW);
        if (d.kind !== 'admit') throw new Error(`expected admit, got ${d.kind}`);
        const r = sm.step(
          {
            type: 'verdict',
            decisionId: asked.decisionId,
            verdict: { kind: 'admit', display: d.display, passage: d.plan },
          },
          NOW,
        );
        if (!r.commands.some((c) => c.type === 'raise')) throw new Error('no raise command');
        return r;
      },
      opts,
    );
    store.close();

    const rows: BenchRow[] = [
      toRow(baseline),
      ...[plateExact, plateFuzzy, qr, exitFee, permitPlate, permitQr].map((m) =>
        toRow(m, { baseline, budget }),
      ),
      toRow(lanePath, {
        baseline,
        budget,
        notes: 'pure LaneStateMachine steps + decide() against the SQLite store; device I/O excluded',
      }),
    ];

    ctx.log('edge: measuring the footprint in child processes…');
    const footprint = (args: string[]) =>
      JSON.parse(
        execFileSync(process.execPath, ['--expose-gc', ...args], { encoding: 'utf8', timeout: 120_000 })
          .trim()
          .split('\n')
          .at(-1)!,
      ) as { rssMb: number; spots?: number };
    const nodeBare = footprint([
      '-e',
      'gc(); gc(); console.log(JSON.stringify({ rssMb: Math.round(process.memoryUsage().rss / 104857.6) / 10 }))',
    ]);
    const tsxBare = footprint(['--import', 'tsx', FOOTPRINT_CHILD, path, 'bare']);
    const underTsx = footprint(['--import', 'tsx', FOOTPRINT_CHILD, path]);
    const compiledChild = await bundleFootprintChild(dir);
    const compiled = footprint(['--enable-source-maps', compiledChild, path]);
    const notes = `${underTsx.spots} spots, 50k reservations, 200k past events, 2 simulated lanes, attendant server listening`;
    rows.push(
      valueRow('edge: footprint, compiled (esbuild bundle on node)', compiled.rssMb, 'MB', {
        budget: '< 150 MB',
        pass: compiled.rssMb < 150,
        notes: `${notes}; edge/build.ts bundle, as the container image runs dist/edge.mjs`,
      }),
      valueRow('edge: footprint, under tsx (npm run edge)', underTsx.rssMb, 'MB', {
        budget: '< 150 MB',
        pass: underTsx.rssMb < 150,
        notes: `${notes}; tsx's loader thread alone costs ${Math.round(tsxBare.rssMb - nodeBare.rssMb)} MB`,
      }),
      valueRow('edge: runtime baseline, node idle', nodeBare.rssMb, 'MB'),
      valueRow('edge: runtime baseline, node + tsx idle', tsxBare.rssMb, 'MB'),
    );
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(BUILD_ROOT, basename(dir)), { recursive: true, force: true });
  }
}
