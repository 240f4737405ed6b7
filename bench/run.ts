/**
 * `npm run bench [-- --only <name>[,<name>…]] [--quick] [--strict] [--out <file.json>]`
 *
 * Runs every `bench/*.bench.ts` module found next to this file (so new benches plug in without
 * editing this file). `--only protocol` runs protocol.bench.ts; names match the file name without
 * `.bench.ts`. A module that throws becomes a failed row and the exit code is 1; budget misses
 * only fail the exit code with --strict, since shared machines drift.
 */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BenchContext, type BenchRow, blankRow, DEFAULT_RESULTS_PATH, report } from './harness.js';

interface Args {
  only: string[] | null;
  quick: boolean;
  strict: boolean;
  out: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { only: null, quick: false, strict: false, out: DEFAULT_RESULTS_PATH };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined || v === '') throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--only' || a.startsWith('--only='))
      args.only = value()
        .split(',')
        .map((s) => s.trim());
    else if (a === '--quick') args.quick = true;
    else if (a === '--strict') args.strict = true;
    else if (a === '--out' || a.startsWith('--out=')) args.out = value();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--only name[,name]] [--quick] [--strict] [--out file.json]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

type BenchModule = { run?: (ctx: BenchContext) => Promise<BenchRow[]> };

function failedRow(name: string, message: string): BenchRow {
  return { ...blankRow(name), pass: false, skipped: `error: ${message}` };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = fileURLToPath(new URL('.', import.meta.url));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort();
  const names = files.map((f) => basename(f, '.bench.ts'));
  const selected = files.filter((_, i) => args.only === null || args.only.includes(names[i]!));
  if (selected.length === 0) {
    throw new Error(`no bench matches --only ${args.only?.join(',')}; available: ${names.join(', ')}`);
  }
  const ctx: BenchContext = {
    only: args.only?.join(',') ?? null,
    quick: args.quick,
    log: (message) => process.stderr.write(`${message}\n`),
  };
  const rows: BenchRow[] = [];
  let crashed = false;
  for (const file of selected) {
    const name = basename(file, '.bench.ts');
    ctx.log(`bench: ${name}`);
    try {
      const mod = (await import(pathToFileURL(join(dir, file)).href)) as BenchModule;
      if (typeof mod.run !== 'function') throw new Error(`${file} does not export run(ctx)`);
      rows.push(...(await mod.run(ctx)));
    } catch (e) {
      crashed = true;
      rows.push(failedRow(name, e instanceof Error ? e.message : String(e)));
    }
  }
  report(rows, args.out);
  if (crashed || (args.strict && rows.some((r) => r.pass === false))) process.exitCode = 1;
  // A bench that leaks a socket or timer must not hang the run; unref'd, so a clean run exits at once.
  setTimeout(() => {
    process.stderr.write('bench: handles still open after all benches finished; exiting anyway\n');
    process.exit();
  }, 5000).unref();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
