import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

/**
 * The dependency rule, checked on the import graph of every .ts file of the repository:
 *   - protocol/ imports nothing of ours outside protocol/ (it is the one contract);
 *   - edge/ and cloud/ never import each other;
 *   - hardware-sim/ imports only protocol/ and the device interfaces (edge/devices/types.ts);
 *   - nothing in edge/ imports hardware-sim/, except the process entry point edge/main.ts, which
 *     composes a simulated lot when the config asks for it;
 *   - bench/, demo/, test/ and the test/ folder of each area (edge/test/, hardware-sim/test/, …)
 *     may import anything.
 * Every kind of import counts: `import … from`, `import type`, `export … from`, `import('…')` and
 * `import('…').Type` in type positions.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SKIP_DIRS = new Set(['node_modules', 'dist', 'data', '.tap', '.git']);

/** The one edge/ module allowed to import hardware-sim/ (the process's composition root). */
export const EDGE_ENTRY_POINT = 'edge/main.ts';
/** The only files of edge/ that hardware-sim/ may import. */
export const DEVICE_INTERFACES = new Set(['edge/devices/types.ts']);

export interface ImportEdge {
  /** Repository-relative path of the importing file. */
  from: string;
  /** Repository-relative path of the imported file (.js specifiers mapped to .ts). */
  to: string;
  /** The specifier as written. */
  specifier: string;
}

/** Module specifiers of every import/export form in one file. */
export function specifiersOf(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteralLike(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteralLike(node.argument.literal)
    ) {
      found.push(node.argument.literal.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteralLike(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Our imports (relative specifiers) of one file, resolved to repository paths. Packages are not ours. */
export function importsOf(from: string, text: string): ImportEdge[] {
  return specifiersOf(from, text)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => ({
      from,
      to: posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts'),
      specifier,
    }));
}

const area = (path: string): string => path.split('/')[0]!;

/** bench/, demo/, test/ and any test/ folder inside an area may import anything. */
export function isExempt(path: string): boolean {
  return (
    ['bench', 'demo', 'sim', 'test'].includes(area(path)) || path.split('/').slice(1, -1).includes('test')
  );
}

/** Why `edge` breaks the rule, or null when it does not. */
export function violation(edge: ImportEdge): string | null {
  if (isExempt(edge.from)) return null;
  const from = area(edge.from);
  const to = area(edge.to);
  if (from === 'protocol' && to !== 'protocol') return 'protocol/ imports nothing of ours outside protocol/';
  if (from === 'edge' && to === 'cloud') return 'edge/ never imports cloud/';
  if (from === 'cloud' && to === 'edge') return 'cloud/ never imports edge/';
  if (from === 'cloud' && to === 'hardware-sim') return 'cloud/ never imports hardware-sim/';
  if (from === 'edge' && to === 'hardware-sim' && edge.from !== EDGE_ENTRY_POINT)
    return `edge/ never imports hardware-sim/ (only the entry point ${EDGE_ENTRY_POINT} composes it)`;
  if (
    from === 'hardware-sim' &&
    to !== 'hardware-sim' &&
    to !== 'protocol' &&
    !DEVICE_INTERFACES.has(edge.to)
  )
    return `hardware-sim/ imports only protocol/ and the device interfaces (${[...DEVICE_INTERFACES].join(', ')})`;
  return null;
}

/** One line per offending import: file, specifier and the rule it breaks. */
export function violations(graph: readonly ImportEdge[]): string[] {
  return graph.flatMap((edge) => {
    const why = violation(edge);
    return why ? [`${edge.from} imports '${edge.specifier}' (${edge.to}): ${why}`] : [];
  });
}

function sourceFiles(dir: string, extensions: readonly string[] = ['.ts']): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory())
      return SKIP_DIRS.has(entry.name) ? [] : sourceFiles(join(dir, entry.name), extensions);
    return extensions.some((ext) => entry.name.endsWith(ext)) ? [join(dir, entry.name)] : [];
  });
}

/**
 * Source files (TypeScript, and the consoles' JavaScript modules and stylesheets) stay small enough to
 * hold one concern. Tests and their fixtures are exempt. A file that must be longer goes in
 * this list with the reason, and the README says why.
 */
export const MAX_SOURCE_LINES = 600;
const isTestFile = (path: string): boolean =>
  area(path) === 'test' || path.split('/').slice(1, -1).includes('test') || path.endsWith('.test.ts');
export const LONG_FILE_EXCEPTIONS: ReadonlyMap<string, string> = new Map();

/** The import graph of every .ts file under the repository root. */
export function repositoryGraph(root = ROOT): ImportEdge[] {
  return sourceFiles(root).flatMap((file) =>
    importsOf(relative(root, file).split('\\').join('/'), readFileSync(file, 'utf8')),
  );
}

t.test('the repository keeps the dependency rule', async (t) => {
  const graph = repositoryGraph();
  t.ok(graph.length > 100, `read the import graph (${graph.length} imports)`);
  t.ok(
    graph.some((e) => e.from === EDGE_ENTRY_POINT && area(e.to) === 'hardware-sim'),
    'sanity: the entry point composes hardware-sim (a parser that misses dynamic imports would not see it)',
  );
  const found = violations(graph);
  t.same(found, [], found.length ? `offending imports:\n  ${found.join('\n  ')}` : 'no offending import');
});

t.test(`no source file outside tests is over ${MAX_SOURCE_LINES} lines`, async (t) => {
  const tooLong = sourceFiles(ROOT, ['.ts', '.js', '.mjs', '.css'])
    .map((file) => relative(ROOT, file).split('\\').join('/'))
    .filter((path) => !isTestFile(path) && !LONG_FILE_EXCEPTIONS.has(path))
    .map((path) => ({ path, lines: readFileSync(join(ROOT, path), 'utf8').split('\n').length }))
    .filter((f) => f.lines > MAX_SOURCE_LINES)
    .map((f) => `${f.path}: ${f.lines} lines`);
  t.same(tooLong, [], tooLong.length ? `split these:\n  ${tooLong.join('\n  ')}` : 'all small');
});

t.test('every import form is read', async (t) => {
  const text = [
    "import a from './a.js';",
    "import type { B } from '../b.js';",
    "import * as c from 'node:fs';",
    "export { d } from './d.js';",
    "export * from './e.js';",
    "export type { F } from './f.js';",
    "const g = await import('./g.js');",
    "let h: import('./h.js').H;",
    "import i = require('./i.js');",
    "import './j.js';",
  ].join('\n');
  t.same(specifiersOf('x.ts', text), [
    './a.js',
    '../b.js',
    'node:fs',
    './d.js',
    './e.js',
    './f.js',
    './g.js',
    './h.js',
    './i.js',
    './j.js',
  ]);
  t.same(
    importsOf('edge/lane/x.ts', text).map((e) => e.to),
    [
      'edge/lane/a.ts',
      'edge/b.ts',
      'edge/lane/d.ts',
      'edge/lane/e.ts',
      'edge/lane/f.ts',
      'edge/lane/g.ts',
      'edge/lane/h.ts',
      'edge/lane/i.ts',
      'edge/lane/j.ts',
    ],
    'packages are not ours; relative specifiers resolve against the file',
  );
});

t.test('a violation is caught, naming the file and the import', async (t) => {
  const file = (from: string, text: string) => importsOf(from, text);
  const bad = [
    ...file('protocol/mqtt.ts', "import type { EdgeConfig } from '../edge/config.js';"),
    ...file('edge/sync/client.ts', "import { x } from '../../cloud/sync/engine.js';"),
    ...file('cloud/compose.ts', "const m = await import('../edge/app.js');"),
    ...file('edge/app.ts', "import type { SimLaneControl } from '../hardware-sim/lane.js';"),
    ...file('hardware-sim/lane.ts', "import { createLaneDevices } from '../edge/devices/factory.js';"),
    ...file('hardware-sim/clock.ts', "export { systemTimers } from '../edge/devices/timers.js';"),
    ...file('cloud/compose.ts', "import { createSimLane } from '../hardware-sim/lane.js';"),
  ];
  const found = violations(bad);
  t.equal(found.length, bad.length, 'every one of them');
  t.match(found, [
    /^protocol\/mqtt\.ts imports '\.\.\/edge\/config\.js' \(edge\/config\.ts\): protocol\//,
    /^edge\/sync\/client\.ts imports '\.\.\/\.\.\/cloud\/sync\/engine\.js'.*edge\/ never imports cloud/,
    /^cloud\/compose\.ts imports '\.\.\/edge\/app\.js'.*cloud\/ never imports edge/,
    /^edge\/app\.ts imports '\.\.\/hardware-sim\/lane\.js'.*edge\/ never imports hardware-sim/,
    /^hardware-sim\/lane\.ts imports '\.\.\/edge\/devices\/factory\.js'.*device interfaces/,
    /^hardware-sim\/clock\.ts imports '\.\.\/edge\/devices\/timers\.js'/,
    /^cloud\/compose\.ts imports '\.\.\/hardware-sim\/lane\.js'.*cloud\/ never imports hardware-sim/,
  ]);

  const fine = [
    ...file('edge/main.ts', "const { simLaneFactory } = await import('../hardware-sim/lot.js');"),
    ...file('hardware-sim/camera.ts', "import type { SerialBinding } from '../edge/devices/types.js';"),
    ...file('hardware-sim/clock.ts', "import { systemTimers } from '../protocol/timers.js';"),
    ...file('edge/test/support.ts', "import { hostClock } from '../../hardware-sim/index.js';"),
    ...file('edge/devices/test/qr.test.ts', "import { SimQrScanner } from '../../../hardware-sim/qr.js';"),
    ...file('demo/system.ts', "import { createCloud } from '../cloud/compose.js';"),
    ...file('bench/x.ts', "import { createEdge } from '../edge/app.js';"),
    ...file('test/sync/x.test.ts', "import { createEdge } from '../../edge/app.js';"),
    ...file('edge/app.ts', "import { Fastify } from 'fastify';"),
  ];
  t.same(violations(fine), [], 'the exceptions hold: entry point, device interfaces, tests, bench, demo');
});
