/**
 * An edge process for the kill tests: the real SQLite store and the real sync client, writing gate
 * events continuously until it has written `total`. Configured by the PARKEDGE_CHILD env (JSON).
 * Prints `written <n>` lines; exits on SIGTERM after a graceful stop. SIGKILL is the point.
 */
import { Connectivity } from '../../../edge/connectivity.js';
import { EdgeStore } from '../../../edge/store/store.js';
import { createSyncPort } from '../../../edge/store/sync-port.js';
import { startEdgeSync } from '../../../edge/sync/client.js';
import { systemClock } from '../../../protocol/clock.js';
import type { LotConfig } from '../../../protocol/domain.js';
import { silentLogger } from '../../../protocol/logger.js';

interface ChildConfig {
  url: string;
  username: string;
  password: string;
  lot: LotConfig;
  dbPath: string;
  total: number;
}

if (!process.env.PARKEDGE_CHILD) {
  // Not a test: started by kill.test.ts only.
  process.exit(0);
}
const cfg = JSON.parse(process.env.PARKEDGE_CHILD) as ChildConfig;
const logger = silentLogger();
const store = EdgeStore.open({
  path: cfg.dbPath,
  lotId: cfg.lot.id,
  clock: systemClock,
  logger,
  fileConfig: { lot: cfg.lot, publicKeys: [] },
});
const connectivity = new Connectivity('offline', Date.now());
const port = createSyncPort({
  store,
  connectivity,
  lanes: () => [{ id: 'in-1', state: 'idle', devices: { barrier: 'ok' } }],
});
const sync = await startEdgeSync({
  lotId: cfg.lot.id,
  edgeVersion: 'kill-test',
  mqtt: {
    url: cfg.url,
    username: cfg.username,
    password: cfg.password,
    reconnectPeriodMs: 100,
    keepaliveSec: 2,
  },
  store: port,
  onCommand: async () => ({ ok: true, detail: 'ok' }),
  clock: systemClock,
  logger,
  tuning: {
    heartbeatMs: 500,
    cloudTimeoutMs: 1500,
    probeIntervalMs: 1000,
    retransmitAfterMs: 1500,
    outboxPollMs: 20,
    eventBatchSize: 50,
    maxInFlightBatches: 2,
  },
});

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  void sync.stop().finally(() => {
    store.close();
    process.exit(0);
  });
});

const write = (): void => {
  if (stopping) return;
  const last = store.ledger.lastEventId();
  if (last < cfg.total) {
    const n = Math.min(10, cfg.total - last);
    const now = Date.now();
    store.db.transaction(() => {
      for (let i = 0; i < n; i++)
        store.ledger.recordEvent(
          {
            kind: 'denied',
            at: new Date(now).toISOString(),
            laneId: 'in-1',
            correlationId: null,
            plate: `K${last + i}`,
            reservationId: null,
            reason: 'unknown',
          },
          now,
        );
    })();
    sync.notifyEventsWritten();
  }
  process.stdout.write(
    `written ${store.ledger.lastEventId()} cursor ${store.mirror.getCursor()} depth ${store.ledger.outboxDepth()}\n`,
  );
  setTimeout(write, 2);
};
write();
