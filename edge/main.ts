import { createServer } from 'node:net';
import { Command } from 'commander';
import { systemClock } from '../protocol/clock.js';
import { createLogger, type Logger } from '../protocol/logger.js';
import { cryptoRandom } from '../protocol/random.js';
import { createEdge, EDGE_VERSION, type Edge, type SimulatedLaneFactory } from './app.js';
import { ConfigError, type EdgeConfig, loadEdgeConfig, simulatedLaneIds } from './config.js';
import { simulatedLibraryDrivers } from './devices/factory.js';

/**
 * `npm run edge [-- --config lot.yaml] [--db path] [--host h] [--port n]`
 * Loads and validates the config, builds the edge, serves the attendant API, and on SIGINT/SIGTERM
 * puts the arms down (never onto a vehicle), closes the database and exits.
 *
 * The process's composition root, and the one module of edge/ allowed to import hardware-sim
 * (test/architecture.test.ts): lanes configured `devices: 'sim'` get the simulator, loaded only then.
 */
async function main(): Promise<void> {
  const { config, path } = loadConfigOrExit(commandLineEnv());
  const logger = createLogger({ level: config.logLevel, name: 'edge' });
  logger.info(
    { config: path, lotId: config.lotId, db: config.dbPath, lanes: config.lanes.length },
    'starting edge',
  );

  // Before any lane moves: a taken port is one line and exit 1, not a stack after the lanes started.
  await exitIfPortTaken(config.attendant.host, config.attendant.port);
  let edge: Edge | null = null;
  handleSignals(logger, () => edge);
  const simulated = simulatedLaneIds(config);
  if (simulated.length > 0) {
    process.stdout.write(
      `WARNING: lanes ${simulated.join(', ')} of lot ${config.lotId} are SIMULATED (devices: "sim"): ` +
        'no real barrier, loop, camera or scanner is driven.\n',
    );
  }
  edge = await createEdge(config, {
    clock: systemClock,
    random: cryptoRandom(),
    logger,
    processMetrics: true,
    ...(simulated.length > 0 ? { simulator: await simulator() } : {}),
  });
  try {
    await edge.start();
  } catch (e) {
    // Taken between the check and the listen: the same one line, after putting the lanes back down.
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    await edge.stop().catch(() => {});
    portTaken(config.attendant.host, config.attendant.port);
  }
  logger.info(
    { url: edge.url(), mqtt: config.mqtt.url ? 'configured' : 'none (offline-only)' },
    `edge ${config.lotId} running`,
  );
  if (simulated.length > 0 && edge.url()) {
    process.stdout.write(
      `Simulator control (loopback only): GET ${edge.url()}/sim, POST ${edge.url()}/sim/arrive ` +
        '{"laneId":"…","plate":"…"} — see edge/README.md, "Try a lot without hardware".\n',
    );
  }
}

function portTaken(host: string, port: number): never {
  process.stderr.write(
    `edge: ${host}:${port} is already in use (another edge or program listens there); ` +
      'choose another with --port or EDGE_PORT\n',
  );
  process.exit(1);
}

/** Exits with one line when nothing can listen on host:port (port 0 = any, always free). */
async function exitIfPortTaken(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const code = await new Promise<string | null>((resolve) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    probe.listen(port, host, () => probe.close(() => resolve(null)));
  });
  if (code === 'EADDRINUSE') portTaken(host, port);
}

/** hardware-sim running the real drivers; imported lazily so a real lot never loads it. */
async function simulator(): Promise<SimulatedLaneFactory<unknown>> {
  const { simLaneFactory } = await import('../hardware-sim/lot.js');
  return simLaneFactory({ drivers: simulatedLibraryDrivers });
}

/** The environment with the command-line options applied over it. */
function commandLineEnv(): { config?: string; env: Record<string, string | undefined> } {
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
  return { ...(opts.config ? { config: opts.config } : {}), env };
}

function loadConfigOrExit(args: { config?: string; env: Record<string, string | undefined> }): {
  config: EdgeConfig;
  path: string;
} {
  try {
    return loadEdgeConfig({ ...(args.config ? { path: args.config } : {}), env: args.env });
  } catch (e) {
    process.stderr.write(`${e instanceof ConfigError ? e.message : String(e)}\n`);
    process.exit(2);
  }
}

/** SIGINT/SIGTERM stop the edge (arms down, database closed) and exit; crashes are logged first. */
function handleSignals(logger: Logger, edge: () => Edge | null): void {
  let stopping = false;
  const shutdown = async (signal: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await edge()?.stop();
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
}

main().catch((e: unknown) => {
  process.stderr.write(`edge failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
