import { Command } from 'commander';
import { systemClock } from '../protocol/clock.js';
import { createLogger } from '../protocol/logger.js';
import { cryptoRandom } from '../protocol/random.js';
import { createEdge, EDGE_VERSION, type Edge } from './app.js';
import { ConfigError, loadEdgeConfig } from './config.js';

/**
 * `npm run edge [-- --config lot.yaml] [--db path] [--host h] [--port n]`
 * Loads and validates the config, builds the edge, serves the attendant API, and on SIGINT/SIGTERM
 * puts the arms down (never onto a vehicle), closes the database and exits.
 */
async function main(): Promise<void> {
  const program = new Command()
    .name('edge')
    .description('parkedge lot controller')
    .version(EDGE_VERSION)
    .option(
      '-c, --config <path>',
      'lot config file, JSON or YAML (env EDGE_CONFIG; default edge/lot.example.json)',
    )
    .option('--db <path>', 'SQLite file (env EDGE_DB_PATH)')
    .option('--host <host>', 'attendant API host (env EDGE_HOST)')
    .option('--port <port>', 'attendant API port (env EDGE_PORT)')
    .parse();
  const opts = program.opts<{ config?: string; db?: string; host?: string; port?: string }>();
  const env: Record<string, string | undefined> = {
    ...process.env,
    ...(opts.db ? { EDGE_DB_PATH: opts.db } : {}),
    ...(opts.host ? { EDGE_HOST: opts.host } : {}),
    ...(opts.port ? { EDGE_PORT: opts.port } : {}),
  };

  let loaded: ReturnType<typeof loadEdgeConfig>;
  try {
    loaded = loadEdgeConfig({ ...(opts.config ? { path: opts.config } : {}), env });
  } catch (e) {
    process.stderr.write(`${e instanceof ConfigError ? e.message : String(e)}\n`);
    process.exit(2);
  }
  const { config, path } = loaded;
  const logger = createLogger({ level: config.logLevel, name: 'edge' });
  logger.info(
    { config: path, lotId: config.lotId, db: config.dbPath, lanes: config.lanes.length },
    'starting edge',
  );

  let edge: Edge | null = null;
  let stopping = false;
  const shutdown = async (signal: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await edge?.stop();
    } catch (e) {
      logger.error({ err: e }, 'shutdown failed');
      code = 1;
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('uncaughtException', (err) => {
    logger.error({ err }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });
  process.on('unhandledRejection', (err) => {
    logger.error({ err }, 'unhandled rejection');
  });

  edge = await createEdge(config, {
    clock: systemClock,
    random: cryptoRandom(),
    logger,
    processMetrics: true,
  });
  await edge.start();
  logger.info(
    { url: edge.url(), mqtt: config.mqtt.url ? 'configured' : 'none (offline-only)' },
    `edge ${config.lotId} running`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`edge failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
