import type { Logger } from '../../../protocol/logger.js';
import {
  type AdvisoryKey,
  isRetryable,
  pgCode,
  type Queryable,
  type TxQueryable,
} from '../../db/database.js';
import type { ReservationDeps } from './types.js';

/** What every part of the reservation repository is handed: its deps, a logger, and `tx`. */
export interface ReservationContext extends Omit<ReservationDeps, 'logger' | 'signing' | 'capacityMaxAgeMs'> {
  log: Logger;
  /** Run a transaction, again on deadlock or serialization failure. */
  tx<T>(fn: (q: TxQueryable) => Promise<T>, advisoryLock?: AdvisoryKey): Promise<T>;
  /**
   * Run fn's statements each as its own transaction (no BEGIN: one round trip for a one-statement
   * write), again on deadlock or serialization failure; then sequence the changes they appended.
   */
  autocommit<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
}

const MAX_ATTEMPTS = 4;

export function reservationContext(deps: ReservationDeps): ReservationContext {
  const { db } = deps;
  const log = deps.logger.child({ component: 'reservations' });
  async function retrying<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await run();
        // The changes it appended get their seqs before anyone is told it happened.
        await deps.sequencer.kick();
        return result;
      } catch (e) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(e)) throw e;
        log.warn({ code: pgCode(e), attempt }, 'transaction retried');
      }
    }
  }
  const tx = <T>(fn: (q: TxQueryable) => Promise<T>, advisoryLock?: AdvisoryKey) =>
    retrying(() => db.tx(fn, { advisoryLock }));
  const autocommit = <T>(fn: (q: Queryable) => Promise<T>) => retrying(() => fn(db.pooled));
  return {
    db,
    clock: deps.clock,
    random: deps.random,
    metrics: deps.metrics,
    payments: deps.payments,
    lots: deps.lots,
    sequencer: deps.sequencer,
    log,
    tx,
    autocommit,
  };
}
