import type { Logger } from '../../../protocol/logger.js';
import { type AdvisoryKey, isRetryable, pgCode, type TxQueryable } from '../../db/database.js';
import type { ReservationDeps } from './types.js';

/** What every part of the reservation repository is handed: its deps, a logger, and `tx`. */
export interface ReservationContext extends Omit<ReservationDeps, 'logger' | 'signing'> {
  log: Logger;
  /** Run a transaction, again on deadlock or serialization failure. */
  tx<T>(fn: (q: TxQueryable) => Promise<T>, advisoryLock?: AdvisoryKey): Promise<T>;
}

const MAX_ATTEMPTS = 4;

export function reservationContext(deps: ReservationDeps): ReservationContext {
  const { db } = deps;
  const log = deps.logger.child({ component: 'reservations' });
  async function tx<T>(fn: (q: TxQueryable) => Promise<T>, advisoryLock?: AdvisoryKey): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.tx(fn, { advisoryLock });
      } catch (e) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(e)) throw e;
        log.warn({ code: pgCode(e), attempt }, 'transaction retried');
      }
    }
  }
  return {
    db,
    clock: deps.clock,
    random: deps.random,
    metrics: deps.metrics,
    payments: deps.payments,
    lots: deps.lots,
    log,
    tx,
  };
}
