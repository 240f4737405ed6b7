import type { Clock } from '../../protocol/clock.js';
import { ACTIVE_STATUSES, ELIGIBLE_SPOT_TYPES, type Spot, type VehicleType } from '../../protocol/domain.js';
import type { ChangeSpotBody, MovedBooking } from '../../protocol/lot-layout.js';
import { ok, type Result } from '../../protocol/result.js';
import { toIso, windowOf } from '../../protocol/slots.js';
import { type Database, pgCode, type Queryable } from '../db/database.js';
import { type Refusal, refuse } from '../errors.js';
import { definePlugin } from '../plugin.js';
import { appendChange, type ChangeSequencer } from './changes.js';
import { COLS, type ReservationRow, toReservation } from './reservations/rows.js';
import { bitRange, holdSlice, releaseSlice, sliceIsFree, sliceSql, writeSlice } from './spot-bitmaps.js';

/**
 * Changing a lot's spots while it runs (docs/permits.md#changing-a-lot). A spot that is removed,
 * moved out of the bookable pool or retyped so its bookings no longer fit takes its future bookings
 * along: each moves to another free eligible bookable spot — bits, row and an `updated` change for the
 * edges — in the same transaction as the spot change, or the whole change is refused with the list
 * of bookings that found no spot. Every change bumps the lot's config version, which the config
 * publisher ships to the lot's edges.
 */

export interface LotLayout {
  addSpots(lotId: string, spots: Spot[]): Promise<Result<{ added: number }, Refusal>>;
  changeSpot(
    lotId: string,
    spotId: string,
    body: ChangeSpotBody,
  ): Promise<Result<{ moved: MovedBooking[] }, Refusal>>;
  removeSpot(lotId: string, spotId: string): Promise<Result<{ moved: MovedBooking[] }, Refusal>>;
}

interface Env {
  db: Database;
  clock: Clock;
  sequencer: Pick<ChangeSequencer, 'kick'>;
  /** Drop what the lot repository caches of a lot (its view, its search entry) after a change. */
  forget: (lotId: string) => void;
}

interface SpotRow extends Spot {
  pool: Spot['pool'];
}

/** Thrown inside a transaction to roll it back and answer the refusal. */
class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

const LOCK_SQL = `select pg_advisory_xact_lock(hashtext('parkedge.layout:' || $1))`;
const ACTIVE = [...ACTIVE_STATUSES];

export function createLotLayout(env: Env): LotLayout {
  const run = async <T>(
    lotId: string,
    fn: (q: Queryable, now: number) => Promise<T>,
  ): Promise<Result<T, Refusal>> => {
    try {
      const out = await env.db.tx(async (q) => {
        const lot = await q.query('select 1 from lots where id = $1', [lotId]);
        if (lot.rows.length === 0)
          throw new Refused({
            status: 404,
            error: 'lot_not_found',
            message: `lot ${lotId} not found`,
            field: 'params.lotId',
          });
        await q.query(LOCK_SQL, [lotId]);
        const value = await fn(q, env.clock.now());
        await q.query('update lots set version = version + 1, updated_at = $2 where id = $1', [
          lotId,
          toIso(env.clock.now()),
        ]);
        return value;
      });
      env.forget(lotId);
      await env.sequencer.kick();
      return ok(out);
    } catch (e) {
      if (e instanceof Refused) return { ok: false, error: e.refusal };
      if (pgCode(e) === '23505')
        return refuse(409, 'spot_exists', 'a spot with this id or label exists in the lot', {
          field: 'body.spots',
        });
      throw e;
    }
  };
  return {
    addSpots: (lotId, spots) =>
      run(lotId, async (q) => {
        await q.query(
          `insert into spots (lot_id, id, label, level, type, pool)
             select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
          [
            lotId,
            spots.map((s) => s.id),
            spots.map((s) => s.label),
            spots.map((s) => s.level),
            spots.map((s) => s.type),
            spots.map((s) => s.pool),
          ],
        );
        return { added: spots.length };
      }),
    changeSpot: (lotId, spotId, body) =>
      run(lotId, async (q, now) => {
        const before = await lockedSpot(q, lotId, spotId);
        const after: SpotRow = { ...before, ...body };
        await q.query(
          'update spots set label = $3, level = $4, type = $5, pool = $6 where lot_id = $1 and id = $2',
          [lotId, spotId, after.label, after.level, after.type, after.pool],
        );
        const stays = (vt: VehicleType) =>
          after.pool === 'bookable' && ELIGIBLE_SPOT_TYPES[vt].includes(after.type);
        return { moved: await rehomeAll(q, lotId, spotId, stays, now) };
      }),
    removeSpot: (lotId, spotId) =>
      run(lotId, async (q, now) => {
        const before = await lockedSpot(q, lotId, spotId);
        // Out of every pool first, so no booking is moved onto it.
        await q.query(`update spots set pool = 'removed' where lot_id = $1 and id = $2`, [lotId, spotId]);
        const moved = await rehomeAll(q, lotId, spotId, () => false, now);
        const named = await q.query('select 1 from reservations where lot_id = $1 and spot_id = $2 limit 1', [
          lotId,
          spotId,
        ]);
        if (named.rows.length === 0)
          await q.query('delete from spots where lot_id = $1 and id = $2', [lotId, spotId]);
        // Kept for the past reservations that name it; its label is free for a new spot.
        else
          await q.query(`update spots set label = $3 where lot_id = $1 and id = $2`, [
            lotId,
            spotId,
            `${before.label}~removed~${spotId}`,
          ]);
        return { moved };
      }),
  };
}

async function lockedSpot(q: Queryable, lotId: string, spotId: string): Promise<SpotRow> {
  const { rows } = await q.query<SpotRow>(
    `select id, label, level, type, pool from spots where lot_id = $1 and id = $2 and pool <> 'removed' for update`,
    [lotId, spotId],
  );
  if (rows[0] === undefined)
    throw new Refused({
      status: 404,
      error: 'spot_not_found',
      message: `spot ${spotId} not found in lot ${lotId}`,
      field: 'params.spotId',
    });
  return rows[0];
}

/** Move every future booking of the spot that may not stay; refuse with the list when some cannot. */
async function rehomeAll(
  q: Queryable,
  lotId: string,
  spotId: string,
  stays: (vt: VehicleType) => boolean,
  now: number,
): Promise<MovedBooking[]> {
  const { rows } = await q.query<ReservationRow>(
    `select ${COLS} from reservations where lot_id = $1 and spot_id = $2 and status = any($3::text[]) and end_at > $4
      order by start_at for update`,
    [lotId, spotId, ACTIVE, toIso(now)],
  );
  const base = Number(
    (await q.query<{ b: number }>('select base_slot as b from lots where id = $1', [lotId])).rows[0]!.b,
  );
  const moved: MovedBooking[] = [];
  const blocked: ReservationRow[] = [];
  for (const row of rows) {
    if (stays(row.vehicle_type)) continue;
    const to = await rehome(q, base, row, spotId, now);
    if (to === null) blocked.push(row);
    else moved.push({ reservationId: row.id, fromSpot: row.spot_label, toSpot: to });
  }
  if (blocked.length > 0) throw new Refused(blockedRefusal(spotId, blocked));
  return moved;
}

function blockedRefusal(spotId: string, blocked: ReservationRow[]): Refusal {
  return {
    status: 409,
    error: 'bookings_cannot_move',
    message:
      `spot ${spotId} holds ${blocked.length} future booking(s) with no other free eligible spot: ` +
      blocked.map((r) => r.id).join(', '),
    field: 'params.spotId',
    rule: 'bookings_cannot_move',
    issues: blocked.map((r) => ({
      field: `reservations.${r.id}`,
      rule: 'no_free_spot',
      message: `${r.plate} (${r.vehicle_type}) ${r.start_at.toISOString()} – ${r.end_at.toISOString()}`,
    })),
  };
}

/** One booking to the first free eligible bookable spot: bits, row and change. Null when none is free. */
async function rehome(
  q: Queryable,
  base: number,
  row: ReservationRow,
  fromSpot: string,
  now: number,
): Promise<string | null> {
  const r = bitRange(base, windowOf(row.start_at.getTime(), row.end_at.getTime()));
  const { rows } = await q.query<{ id: string; label: string; w: string }>(
    `select id, label, ${sliceSql('$4', '$5')} as w from spots
      where lot_id = $1 and pool = 'bookable' and type = any($2::text[]) and id <> $3 order by id for update`,
    [row.lot_id, ELIGIBLE_SPOT_TYPES[row.vehicle_type], fromSpot, r.from + 1, r.len],
  );
  const target = rows.find((s) => sliceIsFree(s.w, r.len));
  if (target === undefined) return null;
  if (r.len > 0) {
    const old = await q.query<{ w: string }>(
      `select ${sliceSql('$3', '$4')} as w from spots where lot_id = $1 and id = $2`,
      [row.lot_id, fromSpot, r.from + 1, r.len],
    );
    await writeSlice(q, row.lot_id, fromSpot, r, releaseSlice(old.rows[0]?.w ?? '', r.len).slice);
    await writeSlice(q, row.lot_id, target.id, r, holdSlice(target.w, r.len));
  }
  const updated = await q.query<ReservationRow>(
    `update reservations set spot_id = $2, spot_label = $3, updated_at = $4 where id = $1 returning ${COLS}`,
    [row.id, target.id, target.label, toIso(now)],
  );
  await appendChange(q, row.lot_id, 'updated', toReservation(updated.rows[0]!), now);
  return target.label;
}

declare module 'fastify' {
  interface FastifyInstance {
    lotLayout: LotLayout;
  }
}

export const lotLayoutRepository = definePlugin(
  async (app) => {
    app.decorate(
      'lotLayout',
      createLotLayout({
        db: app.db,
        clock: app.clock,
        sequencer: app.changeSequencer,
        forget: (lotId) => app.lots.forget(lotId),
      }),
    );
  },
  { name: 'repo-lot-layout', dependencies: ['core', 'db', 'repo-changes', 'repo-lots'] },
);
