import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Files the edge reads at run time, located from this module — the only edge module that may
 * resolve files from `import.meta.url` (edge/build.ts refuses a bundle in which another one does).
 *
 * Under tsx this module is `edge/paths.ts`, so EDGE_ROOT is `edge/` and the files are the sources'
 * own. In the production bundle it is inlined into `dist/edge.mjs`, EDGE_ROOT is `dist/`, and the
 * build copies every entry of EDGE_ASSETS there with the same relative layout. A new run-time file
 * is added here and to EDGE_ASSETS, and nowhere else.
 */
export const EDGE_ROOT = dirname(fileURLToPath(import.meta.url));

/** Run-time files and folders, relative to EDGE_ROOT; copied next to the bundle by the build. */
export const EDGE_ASSETS = ['store/migrations', 'ui/public', 'lot.example.json'] as const;

/** Numbered SQL migrations of the edge store. */
export const MIGRATIONS_DIR = join(EDGE_ROOT, 'store', 'migrations');
/** The attendant UI's static files. */
export const UI_ROOT = join(EDGE_ROOT, 'ui', 'public');
/** The example lot, used when no configuration file is given. */
export const DEFAULT_CONFIG_PATH = join(EDGE_ROOT, 'lot.example.json');
