import { createLogger } from '../protocol/logger.js';
import { createCloud } from './compose.js';
import { ConfigError, loadConfig } from './config.js';
import { LISTEN_BACKLOG } from './listen.js';

/** `npm run cloud`: configure, listen, and shut down gracefully on SIGINT/SIGTERM. */

let config: Awaited<ReturnType<typeof loadConfig>>;
try {
  config = await loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const logger = createLogger({ level: config.logLevel, name: 'cloud' });
const cloud = await createCloud(config, { logger });
const address = await cloud.app.listen({ host: config.host, port: config.port, backlog: LISTEN_BACKLOG });
logger.info(
  {
    address,
    database: config.database.kind,
    broker: cloud.sync
      ? `${cloud.sync.brokerUrl}${cloud.sync.embedded ? ' (embedded aedes)' : ''}`
      : 'sync off',
    docs: `${config.publicUrl}/docs`,
  },
  'parkedge cloud listening',
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, 15_000);
  force.unref();
  try {
    await cloud.close();
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
