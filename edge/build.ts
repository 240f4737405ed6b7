import { cpSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { EDGE_ASSETS, EDGE_ROOT } from './paths.js';

/**
 * The production build of the lot controller: `npm run build:edge` (`tsx edge/build.ts [--out dir]`).
 *
 * esbuild (the transpiler tsx runs on, so the same TypeScript semantics as the tests) bundles
 * `edge/main.ts` with everything of ours it imports — protocol, hardware-sim — into `dist/edge.mjs`
 * (plus `dist/chunk-*.mjs`: what the sources import dynamically stays lazy), which plain `node` runs:
 * no tsx loader thread at run time (~40 MB less resident memory, see bench/edge.bench.ts). Packages
 * stay external imports resolved from `node_modules` at run time: native modules (better-sqlite3,
 * serialport, node-hid, onoff), pino's worker transports and @fastify/static need their own files.
 * So `dist/` must sit beside a `node_modules` (the repository's, or /app/node_modules in the image).
 *
 * The files the edge reads at run time (migrations, UI assets, the example lot: EDGE_ASSETS in
 * edge/paths.ts) are copied into the output folder with the layout they have under `edge/`, which is
 * where edge/paths.ts looks for them once inlined into the bundle. The build fails if any other
 * bundled module resolves files from `import.meta.url`: in the bundle that would silently point into
 * `dist/`.
 */

const REPO_ROOT = resolve(EDGE_ROOT, '..');
export const DEFAULT_ENTRY = join(EDGE_ROOT, 'main.ts');
export const DEFAULT_OUT_DIR = join(REPO_ROOT, 'dist');
export const DEFAULT_BUNDLE_NAME = 'edge.mjs';

export interface BuildEdgeOptions {
  /** Output folder (default `dist/` at the repository root). Only the files the build writes are replaced. */
  outDir?: string;
  /** Entry module (default edge/main.ts; the footprint benchmark bundles its child the same way). */
  entry?: string;
  /** File name of the bundle in outDir (default edge.mjs). */
  bundleName?: string;
  /** esbuild log level (default 'warning'). */
  logLevel?: 'silent' | 'error' | 'warning' | 'info';
}

export interface BuiltEdge {
  /** Absolute path of the bundle. */
  file: string;
  /** Its source map (run with `node --enable-source-maps` for TypeScript positions in stack traces). */
  sourceMap: string;
  outDir: string;
  /** Chunks the bundle imports (shared and lazily loaded code), relative to outDir. */
  chunks: string[];
  /** Copied run-time files, relative to outDir. */
  assets: string[];
  /** Size of the bundle and its chunks in bytes. */
  bytes: number;
}

/** Only edge/paths.ts may locate files from the module's own URL (see there). */
const OWN_URL_RE = /\bimport\.meta\.(?:url|dirname|filename)\b|\b__dirname\b|\b__filename\b/;
const PATHS_MODULE = relative(REPO_ROOT, join(EDGE_ROOT, 'paths.ts')).split('\\').join('/');

/** Shared code and lazily imported modules; named by content hash, so a rebuild removes the old ones. */
const CHUNK_RE = /^chunk-[A-Z0-9]{8}\.mjs(?:\.map)?$/;

export async function buildEdge(options: BuildEdgeOptions = {}): Promise<BuiltEdge> {
  const outDir = resolve(options.outDir ?? DEFAULT_OUT_DIR);
  const bundleName = options.bundleName ?? DEFAULT_BUNDLE_NAME;
  if (!/^[\w.-]+\.mjs$/.test(bundleName))
    throw new Error(`bundle name ${bundleName}: a file name ending in .mjs`);
  const file = join(outDir, bundleName);
  const result = await build({
    entryPoints: { [bundleName.slice(0, -'.mjs'.length)]: resolve(options.entry ?? DEFAULT_ENTRY) },
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    packages: 'external',
    // What the sources import dynamically stays lazy (hardware-sim only for simulated lanes, the MQTT
    // client only when configured, the UI plugin only when served): chunks beside the entry.
    splitting: true,
    outdir: outDir,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    sourcemap: true,
    // Positions only: the sources are in git; a map with their text costs memory when node loads it.
    sourcesContent: false,
    metafile: true,
    logLevel: options.logLevel ?? 'warning',
  });
  const written = Object.keys(result.metafile.outputs).map((output) => resolve(REPO_ROOT, output));

  const offenders = Object.keys(result.metafile.inputs).filter(
    (input) =>
      !input.includes('node_modules/') &&
      input !== PATHS_MODULE &&
      OWN_URL_RE.test(readFileSync(resolve(REPO_ROOT, input), 'utf8')),
  );
  if (offenders.length > 0) {
    for (const output of written) rmSync(output, { force: true });
    throw new Error(
      `${offenders.join(', ')}: locates files from its own module URL, which in the bundle is ${outDir}. ` +
        'Resolve run-time files through edge/paths.ts and list them in EDGE_ASSETS.',
    );
  }
  const current = new Set(written);
  for (const name of readdirSync(outDir)) {
    if (CHUNK_RE.test(name) && !current.has(join(outDir, name))) rmSync(join(outDir, name), { force: true });
  }

  for (const asset of EDGE_ASSETS) {
    const target = join(outDir, asset);
    rmSync(target, { recursive: true, force: true });
    cpSync(join(EDGE_ROOT, asset), target, { recursive: true });
  }
  return {
    file,
    sourceMap: `${file}.map`,
    outDir,
    chunks: written.filter((w) => w.endsWith('.mjs') && w !== file).map((w) => relative(outDir, w)),
    assets: [...EDGE_ASSETS],
    bytes: written.filter((w) => w.endsWith('.mjs')).reduce((sum, w) => sum + statSync(w).size, 0),
  };
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;

if (invokedDirectly) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const built = await buildEdge(values.out ? { outDir: values.out } : {});
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  process.stdout.write(
    `edge bundle: ${rel(built.file)} + ${built.chunks.length} chunks (${Math.round(built.bytes / 1024)} KB) + ${built.assets
      .map((a) => join(rel(dirname(built.file)), a))
      .join(', ')}\nrun: node --enable-source-maps ${rel(built.file)}\n`,
  );
}
