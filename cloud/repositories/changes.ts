import { z } from 'zod';
import type { Reservation } from '../../protocol/domain.js';
import { type Change, type ChangeReason, ChangeSchema } from '../../protocol/mqtt.js';
import { toIso } from '../../protocol/slots.js';
import type { Database, Queryable } from '../db/database.js';
import { definePlugin } from '../plugin.js';

/**
 * The per-lot change log (transactional outbox, docs/architecture.md#down-booking-changes). Every
 * reservation change appends one entry in the same transaction; at commit a deferred trigger
 * (migration 002) gives it the lot's next gapless seq and notifies `lot_changes`, so a relay wakes
 * up at once (it also polls: a lost NOTIFY only delays).
 */

export const LOT_CHANGES_CHANNEL = 'lot_changes';

/** SQL to append one change: $1 lot, $2 at, $3 reason, $4 reservation JSON. */
export const APPEND_CHANGE_SQL =
  'insert into lot_changes (lot_id, at, reason, reservation) values ($1, $2, $3, $4)';

/** Append a change inside the caller's transaction; its seq is assigned when that commits. */
export async function appendChange(
  q: Queryable,
  lotId: string,
  reason: ChangeReason,
  reservation: Reservation,
  atMs: number,
): Promise<void> {
  await q.query(APPEND_CHANGE_SQL, [lotId, toIso(atMs), reason, JSON.stringify(reservation)]);
}

export interface ChangeLog {
  /** Changes with seq > fromSeq, in seq order, at most `limit`. */
  changesSince(lotId: string, fromSeq: number, limit: number): Promise<Change[]>;
  /** The newest seq of the lot (0 when nothing changed yet, or the lot is unknown). */
  headSeq(lotId: string): Promise<number>;
}

const Row = z.object({ seq: z.number(), at: z.date(), reason: z.string(), reservation: z.unknown() });

export function createChangeLog(db: Database): ChangeLog {
  return {
    async changesSince(lotId, fromSeq, limit) {
      const rows = await db.rows(
        `select seq, at, reason, reservation from lot_changes
         where lot_id = $1 and seq > $2 order by seq limit $3`,
        [lotId, Math.max(0, Math.trunc(fromSeq)), Math.min(Math.max(1, Math.trunc(limit)), 10_000)],
      );
      // Parsed against the MQTT contract, so nothing off-contract ever leaves the cloud.
      return rows.map((raw) => {
        const row = Row.parse(raw);
        return ChangeSchema.parse({
          seq: row.seq,
          at: row.at.toISOString(),
          reason: row.reason,
          reservation: row.reservation,
        });
      });
    },
    async headSeq(lotId) {
      const rows = await db.rows<{ seq: number }>('select seq from lot_seq where lot_id = $1', [lotId]);
      return rows[0]?.seq ?? 0;
    },
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    changes: ChangeLog;
  }
}

export const changeLogRepository = definePlugin(
  async (app) => {
    app.decorate('changes', createChangeLog(app.db));
  },
  { name: 'repo-changes', dependencies: ['db'] },
);
