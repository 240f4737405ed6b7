import type { Logger } from '../../protocol/logger.js';
import type { Database } from './database.js';

/**
 * Runs one statement that finishes, in a batch, what writers left for after their commit (the
 * change sequencer, `sequence_lot_changes()`; receipt numbering, `number_receipts()`), so writers
 * never take that statement's serial point inside their own transaction.
 */
export interface BatchRunner {
  /**
   * Run the statement over everything committed so far; resolves once a run that started after
   * this call has finished. Concurrent calls share runs (at most one running and one queued per
   * process), so a burst of writers costs one run, not one each. Never rejects: a failed run is
   * logged and the poll retries it.
   */
  kick(): Promise<void>;
  /** Start the fallback poll (work of a crashed writer, of writers that do not kick). */
  start(): void;
  stop(): Promise<void>;
}

export function createBatchRunner(
  db: Pick<Database, 'pooled'>,
  log: Logger,
  opts: { sql: string; pollMs: number; what: string },
): BatchRunner {
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;
  const runOnce = (): Promise<void> => {
    const run = db.pooled
      .query(opts.sql)
      .then(
        () => undefined,
        (err: unknown) => log.error({ err }, `${opts.what} failed; the poll retries`),
      )
      .finally(() => {
        if (running === run) running = null;
      });
    running = run;
    return run;
  };
  function kick(): Promise<void> {
    // A queued run has not started yet, so it will see everything committed before this call.
    if (queued !== null) return queued;
    if (running === null) return runOnce();
    const next = running.then(() => {
      queued = null;
      return runOnce();
    });
    queued = next;
    return next;
  }
  return {
    kick,
    start() {
      if (timer !== null) return;
      void kick();
      timer = setInterval(() => void kick(), opts.pollMs);
      timer.unref();
    },
    async stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      await (queued ?? running);
    },
  };
}
