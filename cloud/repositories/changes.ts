import { z } from 'zod';
import type { Reservation } from '../../protocol/domain.js';
import type { Permit } from '../../protocol/permits.js';
import { type Change, type ChangeReason, ChangeSchema } from '../../protocol/mqtt.js';
import { toIso } from '../../protocol/slots.js';
import type { Logger } from '../../protocol/logger.js';
import { type BatchRunner, createBatchRunner } from '../db/batch-runner.js';
import type { Database, Queryable } from '../db/database.js';
import { definePlugin } from '../plugin.js';

/**
 * The per-lot change log (transactional outbox, docs/architecture.md#down-booking-changes). Every
 * reservation change appends one entry in the same transaction; after that commits, the change
 * sequencer (migration 005) gives it the lot's next gapless seq — in batches, so writers of one lot
 * never queue on each other's commit — and notifies `lot_changes`, so a relay wakes up at once (it
 * also polls: a lost NOTIFY only delays).
 */

export const LOT_CHANGES_CHANNEL = 'lot_changes';

/** SQL to append one change: $1 lot, $2 at, $3 reason, $4 reservation JSON. */
export const APPEND_CHANGE_SQL =
  'insert into lot_changes (lot_id, at, reason, reservation) values ($1, $2, $3, $4)';

/**
 * Append a change inside the caller's transaction; it gets its seq from the sequencer after that
 * commits (call `ChangeSequencer.kick()` then). Insert it after taking the row locks that order it
 * against other writers (the reservation's, the spot's): seqs follow insertion order.
 */
export async function appendChange(
  q: Queryable,
  lotId: string,
  reason: ChangeReason,
  reservation: Reservation,
  atMs: number,
): Promise<void> {
  await q.query(APPEND_CHANGE_SQL, [lotId, toIso(atMs), reason, JSON.stringify(reservation)]);
}

/** Append a permit's full new state inside the caller's transaction (docs/permits.md). */
export async function appendPermitChange(
  q: Queryable,
  lotId: string,
  reason: ChangeReason,
  permit: Permit,
  atMs: number,
): Promise<void> {
  await q.query('insert into lot_changes (lot_id, at, reason, permit) values ($1, $2, $3, $4)', [
    lotId,
    toIso(atMs),
    reason,
    JSON.stringify(permit),
  ]);
}

export interface ChangeLog {
  /** Changes with seq > fromSeq, in seq order, at most `limit`. */
  changesSince(lotId: string, fromSeq: number, limit: number): Promise<Change[]>;
  /** The newest seq of the lot (0 when nothing changed yet, or the lot is unknown). */
  headSeq(lotId: string): Promise<number>;
  /**
   * Deletes every lot's entries recorded before `cutoffMs` and raises the lot's `lot_log_floor` to
   * the highest seq deleted, so a resync from below it is answered with a snapshot. One runner at a
   * time across instances (advisory lock): returns the number of entries deleted, or null when
   * another instance is pruning.
   */
  prune(cutoffMs: number, nowMs: number): Promise<number | null>;
}

/**
 * By seq, not by time alone: the floor is the highest seq recorded before the cutoff and everything
 * up to it goes, so what is kept is always a contiguous tail of the lot's log ($1 cutoff, $2 now).
 */
const PRUNE_SQL = `with cut as (
    select lot_id, max(seq) as floor_seq from lot_changes
     where seq is not null and at < $1::timestamptz group by lot_id
  ), floors as (
    insert into lot_log_floor (lot_id, floor_seq, updated_at)
    select lot_id, floor_seq, $2::timestamptz from cut
    on conflict (lot_id) do update
      set floor_seq = greatest(lot_log_floor.floor_seq, excluded.floor_seq), updated_at = excluded.updated_at
    returning lot_id, floor_seq
  )
  delete from lot_changes c using floors f where c.lot_id = f.lot_id and c.seq <= f.floor_seq`;

const Row = z.object({
  seq: z.number(),
  at: z.date(),
  reason: z.string(),
  reservation: z.unknown(),
  permit: z.unknown().optional(),
});

export function createChangeLog(db: Database): ChangeLog {
  return {
    async changesSince(lotId, fromSeq, limit) {
      const rows = await db.rows(
        `select seq, at, reason, reservation, permit from lot_changes
         where lot_id = $1 and seq > $2 order by seq limit $3`,
        [lotId, Math.max(0, Math.trunc(fromSeq)), Math.min(Math.max(1, Math.trunc(limit)), 10_000)],
      );
      // Parsed against the MQTT contract, so nothing off-contract ever leaves the cloud.
      return rows.map((raw) => {
        const row = Row.parse(raw);
        const subject =
          row.permit !== null && row.permit !== undefined
            ? { permit: row.permit }
            : { reservation: row.reservation };
        return ChangeSchema.parse({ seq: row.seq, at: row.at.toISOString(), reason: row.reason, ...subject });
      });
    },
    async headSeq(lotId) {
      const rows = await db.rows<{ seq: number }>('select seq from lot_seq where lot_id = $1', [lotId]);
      return rows[0]?.seq ?? 0;
    },
    prune(cutoffMs, nowMs) {
      return db.session(async (client) => {
        const got = await client.query<{ ok: boolean }>(
          `select pg_try_advisory_lock(hashtext('parkedge.sweep.change_log:' || current_schema())) as ok`,
        );
        if (!got.rows[0]?.ok) return null;
        try {
          const r = await client.query(PRUNE_SQL, [toIso(cutoffMs), toIso(nowMs)]);
          return r.rowCount ?? 0;
        } finally {
          await client.query(
            `select pg_advisory_unlock(hashtext('parkedge.sweep.change_log:' || current_schema()))`,
          );
        }
      });
    },
  };
}

/** Gives committed changes their seqs (migration 005, `sequence_lot_changes()`). */
export type ChangeSequencer = BatchRunner;

export function createChangeSequencer(
  db: Pick<Database, 'pooled'>,
  logger: Logger,
  opts: { pollMs: number },
): ChangeSequencer {
  return createBatchRunner(db, logger.child({ component: 'change-sequencer' }), {
    sql: 'select sequence_lot_changes()',
    pollMs: opts.pollMs,
    what: 'sequencing changes',
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    changes: ChangeLog;
    changeSequencer: ChangeSequencer;
  }
}

/** How often an instance sequences changes nobody kicked it for (a crashed writer's). */
const SEQUENCER_POLL_MS = 1000;

export const changeLogRepository = definePlugin(
  async (app) => {
    app.decorate('changes', createChangeLog(app.db));
    const sequencer = createChangeSequencer(app.db, app.log, { pollMs: SEQUENCER_POLL_MS });
    app.decorate('changeSequencer', sequencer);
    app.addHook('onReady', async () => sequencer.start());
    app.addHook('onClose', async () => sequencer.stop());
  },
  { name: 'repo-changes', dependencies: ['db'] },
);
