import type { ReservationStatus } from '../../../protocol/domain.js';
import type { ChangeReason } from '../../../protocol/mqtt.js';
import { toIso } from '../../../protocol/slots.js';
import { inTransaction } from '../../db/database.js';
import type { SpotAllocation } from './allocation.js';
import type { ReservationContext } from './context.js';
import { COLS, type ReservationRow } from './rows.js';
import type { StatusWriter } from './transitions.js';

/**
 * Sweeps: time-driven transitions (hold expiry, no-show) in batches, one runner at a time across
 * instances (a session advisory lock per sweep), and the pruning of old idempotency keys.
 */

const SWEEP_BATCH = 200;
const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Due holds ($1 now, $2 batch), in spot order. */
const DUE_HOLDS_SQL = `select ${COLS} from reservations where status = 'TENTATIVE' and hold_expires_at <= $1::timestamptz
         order by lot_id, spot_id limit $2 for update skip locked`;

/** Due no-shows ($1 now, $2 batch): past start + the lot's grace, or past the end. */
const DUE_NO_SHOWS_SQL = `select ${COLS.split(',')
  .map((c) => `r.${c.trim()}`)
  .join(', ')}
         from reservations r join lots l on l.id = r.lot_id
         where r.status = 'CONFIRMED'
           and ($1::timestamptz >= r.end_at
             or $1::timestamptz >= r.start_at + make_interval(mins => (l.policy->>'noShowGraceMinutes')::int))
         order by r.lot_id, r.spot_id limit $2 for update of r skip locked`;

interface Sweep {
  name: 'hold_expiry' | 'no_show';
  nowMs: number;
  /** The due rows, locked ($1 now, $2 batch size). */
  selectDue: string;
  status: ReservationStatus;
  reason: ChangeReason;
}

export interface Sweeps {
  expireHolds(nowMs: number): Promise<number | null>;
  markNoShows(nowMs: number): Promise<number | null>;
  pruneIdempotencyKeys(nowMs: number): Promise<number>;
}

export function createSweeps(
  ctx: Pick<ReservationContext, 'db' | 'log' | 'metrics' | 'sequencer'>,
  parts: { allocation: SpotAllocation; status: StatusWriter },
): Sweeps {
  const { db, log, metrics, sequencer } = ctx;
  const { allocation, status } = parts;

  /** Batches of due rows, each in its own transaction, under the sweep's advisory lock. */
  async function sweep(s: Sweep): Promise<number | null> {
    const total = await sweepBatches(s);
    // Outside the session: on PGlite the pool has one connection, which the session holds.
    if (total !== null && total > 0) await sequencer.kick();
    return total;
  }

  async function sweepBatches(s: Sweep): Promise<number | null> {
    const lockKey = `parkedge.sweep.${s.name}:`;
    return db.session(async (client) => {
      const got = await client.query<{ ok: boolean }>(
        `select pg_try_advisory_lock(hashtext($1 || current_schema())) as ok`,
        [lockKey],
      );
      if (!got.rows[0]?.ok) {
        metrics.sweeps.inc({ sweeper: s.name, outcome: 'skipped' });
        return null;
      }
      let total = 0;
      try {
        for (;;) {
          const n = await inTransaction(client, async (q) => {
            const due = (await q.query<ReservationRow>(s.selectDue, [toIso(s.nowMs), SWEEP_BATCH])).rows;
            // Spot locks in (lot, spot) order; the changes get their seqs after commit (sequencer).
            for (const row of due) await allocation.releaseSlots(q, row);
            for (const row of due)
              await status.setStatus(q, { row, status: s.status, reason: s.reason, nowMs: s.nowMs });
            return due.length;
          });
          total += n;
          if (n < SWEEP_BATCH) break;
        }
      } catch (e) {
        metrics.sweeps.inc({ sweeper: s.name, outcome: 'failed' });
        throw e;
      } finally {
        await client.query(`select pg_advisory_unlock(hashtext($1 || current_schema()))`, [lockKey]);
      }
      metrics.sweeps.inc({ sweeper: s.name, outcome: 'ran' });
      if (total > 0) log.info({ sweeper: s.name, count: total }, 'reservations swept');
      return total;
    });
  }

  return {
    expireHolds: (nowMs) =>
      sweep({ name: 'hold_expiry', nowMs, selectDue: DUE_HOLDS_SQL, status: 'EXPIRED', reason: 'expired' }),
    markNoShows: (nowMs) =>
      sweep({ name: 'no_show', nowMs, selectDue: DUE_NO_SHOWS_SQL, status: 'NO_SHOW', reason: 'no_show' }),
    async pruneIdempotencyKeys(nowMs) {
      const r = await db.rows('delete from idempotency_keys where created_at < $1 returning 1', [
        toIso(nowMs - IDEMPOTENCY_RETENTION_MS),
      ]);
      return r.length;
    },
  };
}
