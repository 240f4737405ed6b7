import { SWEEP_LOOKBACK_MS } from '../payments/plugin.js';
import { definePlugin } from '../plugin.js';

/**
 * Background sweepers: hold expiry every minute (also settles leftover payments, recovers captures
 * the provider holds but we never applied (`payments/recovery.ts`), and prunes old
 * idempotency keys), no-show every 15 minutes, change-log retention every hour (entries older than
 * CHANGE_LOG_RETENTION_DAYS are deleted; an edge further behind resyncs by snapshot). Each run takes a PostgreSQL advisory lock, so one
 * instance sweeps at a time; a run is idempotent. Time comes from the injected clock.
 */
export interface Sweepers {
  runHoldExpiry(nowMs?: number): Promise<number | null>;
  runNoShow(nowMs?: number): Promise<number | null>;
  /** Prunes `lot_changes` past the retention; null when another instance is at it. */
  runChangeLogPrune(nowMs?: number): Promise<number | null>;
  start(): void;
  stop(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    sweepers: Sweepers;
  }
}

export const sweepersPlugin = definePlugin(
  async (app) => {
    const { clock, reservations, config, changes, metrics } = app;
    const retentionMs = config.sweepers.changeLogRetentionDays * 24 * 60 * 60_000;
    const log = app.log.child({ component: 'sweepers' });
    const timers: NodeJS.Timeout[] = [];
    const running = new Set<Promise<unknown>>();

    const sweepers: Sweepers = {
      async runHoldExpiry(nowMs = clock.now()) {
        const n = await reservations.expireHolds(nowMs);
        if (n !== null) {
          await reservations.settlePendingPayments(nowMs);
          await app.paymentRecovery.run(nowMs, SWEEP_LOOKBACK_MS);
          await app.paymentWebhooks.prune(nowMs);
          await reservations.pruneIdempotencyKeys(nowMs);
        }
        return n;
      },
      runNoShow(nowMs = clock.now()) {
        return reservations.markNoShows(nowMs);
      },
      async runChangeLogPrune(nowMs = clock.now()) {
        const n = await changes.prune(nowMs - retentionMs, nowMs);
        metrics.sweeps.inc({ sweeper: 'change_log', outcome: n === null ? 'skipped' : 'ran' });
        if (n)
          log.info({ pruned: n, retentionDays: config.sweepers.changeLogRetentionDays }, 'change log pruned');
        return n;
      },
      start() {
        const every = (ms: number, name: string, run: () => Promise<unknown>) => {
          let busy = false;
          const timer = setInterval(() => {
            if (busy) return;
            busy = true;
            const p = run()
              .catch((err: unknown) => log.error({ err, sweeper: name }, 'sweep failed'))
              .finally(() => {
                busy = false;
                running.delete(p);
              });
            running.add(p);
          }, ms);
          timer.unref();
          timers.push(timer);
        };
        every(config.sweepers.holdExpiryEveryMs, 'hold_expiry', () => sweepers.runHoldExpiry());
        every(config.sweepers.noShowEveryMs, 'no_show', () => sweepers.runNoShow());
        every(config.sweepers.changeLogEveryMs, 'change_log', () => sweepers.runChangeLogPrune());
      },
      async stop() {
        for (const t of timers.splice(0)) clearInterval(t);
        await Promise.allSettled([...running]);
      },
    };
    app.decorate('sweepers', sweepers);
    if (config.sweepers.enabled) app.addHook('onReady', async () => sweepers.start());
    app.addHook('onClose', async () => sweepers.stop());
  },
  { name: 'sweepers', dependencies: ['core', 'repo-reservations', 'repo-changes', 'payment-webhooks'] },
);
