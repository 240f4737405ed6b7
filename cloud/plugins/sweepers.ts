import { definePlugin } from '../plugin.js';

/**
 * Background sweepers: hold expiry every minute (also settles leftover payments and prunes old
 * idempotency keys), no-show every 15 minutes. Each run takes a PostgreSQL advisory lock, so one
 * instance sweeps at a time; a run is idempotent. Time comes from the injected clock.
 */
export interface Sweepers {
  runHoldExpiry(nowMs?: number): Promise<number | null>;
  runNoShow(nowMs?: number): Promise<number | null>;
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
    const { clock, reservations, config } = app;
    const log = app.log.child({ component: 'sweepers' });
    const timers: NodeJS.Timeout[] = [];
    const running = new Set<Promise<unknown>>();

    const sweepers: Sweepers = {
      async runHoldExpiry(nowMs = clock.now()) {
        const n = await reservations.expireHolds(nowMs);
        if (n !== null) {
          await reservations.settlePendingPayments(nowMs);
          await reservations.pruneIdempotencyKeys(nowMs);
        }
        return n;
      },
      runNoShow(nowMs = clock.now()) {
        return reservations.markNoShows(nowMs);
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
  { name: 'sweepers', dependencies: ['core', 'repo-reservations'] },
);
