/**
 * Tiny benchmark harness. Every bench module (`bench/*.bench.ts`) exports
 * `async function run(ctx: BenchContext): Promise<BenchRow[]>`; `bench/run.ts` finds and runs them.
 *
 * Each benchmark should measure a raw baseline in the same run and report the ratio
 * (see the README, "Benchmarks"), because absolute times on shared machines drift.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchContext {
  /** Value of `--only`, if given (modules are already filtered by file name; finer filtering is optional). */
  only: string | null;
  /** `--quick`: fewer iterations, for smoke runs. */
  quick: boolean;
  /** Progress output (stderr), so stdout stays the table. */
  log(message: string): void;
}

export interface MeasureOptions {
  iterations: number;
  warmup?: number;
  /** Calls per timed sample, for operations far below the timer's resolution; times are per call. */
  batch?: number;
}

export interface Measurement {
  name: string;
  iterations: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  minUs: number;
  maxUs: number;
  opsPerSec: number;
}

export interface BenchRow {
  name: string;
  p50Us: number | null;
  p99Us: number | null;
  meanUs: number | null;
  opsPerSec: number | null;
  iterations: number | null;
  /** The raw reference measured in the same run. */
  baseline: { name: string; p50Us: number } | null;
  /** p50 / baseline p50 (below 1 = faster than the baseline). */
  ratio: number | null;
  /** Human-readable budget, e.g. "p99 < 1000 µs". */
  budget: string | null;
  /** null when there is no budget or the bench was skipped. */
  pass: boolean | null;
  /** Set when the bench did not run, e.g. 'skipped: no PostgreSQL at $DATABASE_URL'. */
  skipped: string | null;
  /** A headline figure for benches that are not per-operation latencies (catch-up time, RSS). */
  value?: { value: number; unit: string } | null;
  notes?: string;
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

function summarise(name: string, samplesNs: Float64Array, batch: number): Measurement {
  const sorted = Float64Array.from(samplesNs).sort();
  const n = sorted.length;
  const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]! / batch / 1000;
  let sum = 0;
  for (const s of sorted) sum += s;
  const meanUs = sum / n / batch / 1000;
  return {
    name,
    iterations: n * batch,
    p50Us: at(0.5),
    p99Us: at(0.99),
    meanUs,
    minUs: sorted[0]! / batch / 1000,
    maxUs: sorted[n - 1]! / batch / 1000,
    opsPerSec: meanUs > 0 ? 1e6 / meanUs : Number.POSITIVE_INFINITY,
  };
}

function checkOptions(o: MeasureOptions): { iterations: number; warmup: number; batch: number } {
  const iterations = Math.max(1, Math.floor(o.iterations));
  const warmup = Math.max(0, Math.floor(o.warmup ?? Math.min(1000, iterations / 10)));
  const batch = Math.max(1, Math.floor(o.batch ?? 1));
  return { iterations, warmup, batch };
}

/** Time a synchronous function. The return value is kept alive so the work cannot be optimised away. */
export function measure(name: string, fn: () => unknown, options: MeasureOptions): Measurement {
  const { iterations, warmup, batch } = checkOptions(options);
  let sink: unknown;
  for (let i = 0; i < warmup; i++) sink = fn();
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = nowNs();
    for (let b = 0; b < batch; b++) sink = fn();
    samples[i] = Number(nowNs() - t0);
  }
  keep(sink);
  return summarise(name, samples, batch);
}

/** Time an async function, one call at a time. */
export async function measureAsync(
  name: string,
  fn: () => Promise<unknown>,
  options: MeasureOptions,
): Promise<Measurement> {
  const { iterations, warmup, batch } = checkOptions(options);
  let sink: unknown;
  for (let i = 0; i < warmup; i++) sink = await fn();
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = nowNs();
    for (let b = 0; b < batch; b++) sink = await fn();
    samples[i] = Number(nowNs() - t0);
  }
  keep(sink);
  return summarise(name, samples, batch);
}

function keep(value: unknown): void {
  // An observable use of the sink; practically never true.
  if (value === keep) process.stderr.write('');
}

export interface BudgetSpec {
  /** Shown in the table, e.g. "p99 < 1 ms". */
  label: string;
  p50MaxUs?: number;
  p99MaxUs?: number;
  opsPerSecMin?: number;
  ratioMax?: number;
}

/** Turn a measurement (and optionally its same-run baseline and a budget) into a report row. */
export function toRow(
  m: Measurement,
  opts: { baseline?: Measurement; budget?: BudgetSpec; notes?: string } = {},
): BenchRow {
  const ratio = opts.baseline && opts.baseline.p50Us > 0 ? m.p50Us / opts.baseline.p50Us : null;
  let pass: boolean | null = null;
  const b = opts.budget;
  if (b) {
    pass =
      (b.p50MaxUs === undefined || m.p50Us < b.p50MaxUs) &&
      (b.p99MaxUs === undefined || m.p99Us < b.p99MaxUs) &&
      (b.opsPerSecMin === undefined || m.opsPerSec > b.opsPerSecMin) &&
      (b.ratioMax === undefined || (ratio !== null && ratio < b.ratioMax));
  }
  return {
    name: m.name,
    p50Us: m.p50Us,
    p99Us: m.p99Us,
    meanUs: m.meanUs,
    opsPerSec: m.opsPerSec,
    iterations: m.iterations,
    baseline: opts.baseline ? { name: opts.baseline.name, p50Us: opts.baseline.p50Us } : null,
    ratio,
    budget: b?.label ?? null,
    pass,
    skipped: null,
    ...(opts.notes === undefined ? {} : { notes: opts.notes }),
  };
}

/** A row with no figures yet; the row builders below fill in what they have. */
export function blankRow(name: string): BenchRow {
  return {
    name,
    p50Us: null,
    p99Us: null,
    meanUs: null,
    opsPerSec: null,
    iterations: null,
    baseline: null,
    ratio: null,
    budget: null,
    pass: null,
    skipped: null,
  };
}

/** A row for a single headline figure (e.g. catch-up seconds, RSS MB) rather than a latency distribution. */
export function valueRow(
  name: string,
  value: number,
  unit: string,
  opts: { budget?: string; pass?: boolean | null; notes?: string } = {},
): BenchRow {
  return {
    ...blankRow(name),
    budget: opts.budget ?? null,
    pass: opts.pass ?? null,
    value: { value, unit },
    ...(opts.notes === undefined ? {} : { notes: opts.notes }),
  };
}

/** A row for a bench that could not run here (missing service etc.). */
export function skippedRow(name: string, reason: string): BenchRow {
  return { ...blankRow(name), skipped: `skipped: ${reason}` };
}

function fmtUs(us: number | null): string {
  if (us === null) return '-';
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  if (us >= 10) return `${us.toFixed(1)} µs`;
  return `${us.toFixed(3)} µs`;
}

function fmtOps(ops: number | null): string {
  if (ops === null || !Number.isFinite(ops)) return '-';
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)} M`;
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)} k`;
  return ops.toFixed(0);
}

/** Table lines for people (no I/O). */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['name', 'p50', 'p99', 'ops/s', 'baseline p50', 'ratio', 'budget', 'pass'];
  const body = rows.map((r) => {
    if (r.skipped !== null) return [r.name, r.skipped, '', '', '', '', '', '-'];
    const first = r.value ? `${r.value.value} ${r.value.unit}` : fmtUs(r.p50Us);
    return [
      r.name,
      first,
      fmtUs(r.p99Us),
      fmtOps(r.opsPerSec),
      r.baseline ? fmtUs(r.baseline.p50Us) : '-',
      r.ratio === null ? '-' : `${r.ratio.toFixed(3)}x`,
      r.budget ?? '-',
      r.pass === null ? '-' : r.pass ? 'PASS' : 'FAIL',
    ];
  });
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export const DEFAULT_RESULTS_PATH = fileURLToPath(new URL('./results/latest.json', import.meta.url));

/** Print the table to stdout and write the rows as JSON (bench/results/latest.json by default). */
export function report(rows: readonly BenchRow[], jsonPath: string = DEFAULT_RESULTS_PATH): void {
  process.stdout.write(`${formatTable(rows)}\n`);
  mkdirSync(dirname(jsonPath), { recursive: true });
  const doc = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    platform: `${platform()}-${arch()}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpuCount: cpus().length,
    rows,
  };
  writeFileSync(jsonPath, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`\nwrote ${jsonPath}\n`);
}

/**
 * p50/p99/mean of latencies in milliseconds. With `wallMs` (a concurrent run's wall time) ops/s is
 * the run's throughput; without it, 1 / mean latency.
 */
export function summariseMs(name: string, samplesMs: readonly number[], wallMs?: number): Measurement {
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
    opsPerSec: wallMs !== undefined ? (sorted.length / wallMs) * 1000 : mean > 0 ? 1e6 / mean : 0,
  };
}
