/**
 * One cloud instance for bench/cloud.bench.ts, in its own process (forked with `--import tsx`), on
 * the schema the bench prepared. Several of them share one PostgreSQL, as several cloud instances
 * behind a load balancer would. IPC, one JSON message each way:
 *   ← { type: 'start', config, poolSize, searchPath }  → { type: 'listening', url }
 *   ← { type: 'stats' }                                 → { type: 'stats', constraintViolations }
 *   ← { type: 'close' }                                 → exits 0 once closed
 */
import { buildApp } from '../cloud/app.js';
import type { CloudConfig } from '../cloud/config.js';
import { openDatabase } from '../cloud/db/database.js';
import { LISTEN_BACKLOG } from '../cloud/listen.js';
import { createMetrics } from '../cloud/metrics.js';
import { systemClock } from '../protocol/clock.js';
import { silentLogger } from '../protocol/logger.js';
import { cryptoRandom } from '../protocol/random.js';

type Message =
  | { type: 'start'; config: CloudConfig; url: string; poolSize: number; searchPath: string }
  | { type: 'stats' }
  | { type: 'close' };

const send = (m: object) => process.send?.(m);
let close: (() => Promise<void>) | null = null;
let metrics: ReturnType<typeof createMetrics> | null = null;

process.on('message', (m: Message) => {
  void (async () => {
    if (m.type === 'start') {
      const logger = silentLogger();
      const db = await openDatabase(
        { kind: 'postgres', url: m.url, poolSize: m.poolSize, searchPath: m.searchPath },
        logger,
      );
      metrics = createMetrics({ defaultMetrics: false });
      const app = await buildApp({
        config: m.config,
        logger,
        clock: systemClock,
        random: cryptoRandom(),
        db,
        metrics,
      });
      const url = await app.listen({ host: '127.0.0.1', port: 0, backlog: LISTEN_BACKLOG });
      close = async () => {
        await app.close();
        await db.close();
      };
      send({ type: 'listening', url });
    } else if (m.type === 'stats') {
      const v = metrics ? (await metrics.constraintViolations.get()).values : [];
      send({ type: 'stats', constraintViolations: v.reduce((n, x) => n + x.value, 0) });
    } else if (m.type === 'close') {
      await close?.();
      process.exit(0);
    }
  })().catch((e: unknown) => {
    send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    process.exit(1);
  });
});
// The bench going away takes its instances with it.
process.on('disconnect', () => process.exit(0));
