import { ACTIVE_STATUSES, ELIGIBLE_SPOT_TYPES, type VehicleType } from '../../../protocol/domain.js';
import type { Logger } from '../../../protocol/logger.js';
import type { Money } from '../../../protocol/money.js';
import { bookingPrice } from '../../../protocol/pricing.js';
import type { ChangeReason } from '../../../protocol/mqtt.js';
import { type SlotWindow, toIso, windowOf } from '../../../protocol/slots.js';
import type { AdvisoryKey, Queryable, TxQueryable } from '../../db/database.js';
import type { CloudMetrics } from '../../metrics.js';
import type { LotRecord } from '../lots.js';
import {
  type BitRange,
  bitRange,
  holdSlice,
  releaseSlice,
  sliceIsFree,
  sliceSql,
  WRITE_SLICE_SQL,
  writeSlice,
  writeSliceParams,
} from '../spot-bitmaps.js';
import type { CapacityCache } from './capacity.js';
import { type ReservationRow, toReservation } from './rows.js';
import type { Quote } from './types.js';

/**
 * Spot allocation: which spot a window goes to, and the spot bitmaps kept equal to the union of
 * the active reservations — quote a window, lock a free spot, hold a window with the new row,
 * release a window.
 */

/** The distinct window slices ($3 from, 1-based; $4 length) of a lot's eligible spots, counted. */
const QUOTE_SQL = `select ${sliceSql('$3', '$4')} as w, count(*)::int as n from spots
  where lot_id = $1 and pool = 'bookable' and type = any($2::text[]) group by 1`;

/**
 * One statement: hold the window in the spot's bitmap, insert the reservation, append its change.
 * $1–$5 as writeSliceParams, then the row's columns, the reason and the change payload.
 */
const INSERT_HELD_SQL = `with sp as (${WRITE_SLICE_SQL} returning 1),
    r as (insert into reservations (id, lot_id, spot_id, spot_label, user_id, kind, vehicle_type, plate, start_at,
            end_at, status, price_amount, currency, hold_expires_at, created_at, updated_at)
          select $6, $1, $2, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18 from sp
          returning id),
    c as (insert into lot_changes (lot_id, at, reason, reservation) select $1, $18, $19, $20 from r returning id)
  select r.id from r, c`;

const ACTIVE = ACTIVE_STATUSES as readonly string[];
/** `('TENTATIVE', …)`: a literal list, so the planner matches the partial exclusion indexes. */
const ACTIVE_IN = `(${ACTIVE.map((status) => {
  if (!/^[A-Z_]+$/.test(status)) throw new Error(`unexpected status ${status}`);
  return `'${status}'`;
}).join(', ')})`;

/**
 * One statement (one snapshot, taken after the plate's advisory lock): does the plate already
 * hold an overlapping active reservation; if not, lock one eligible spot with no held bit in the
 * window (SKIP LOCKED: concurrent bookings take different spots instead of queueing; `wait`: the
 * same, but waiting for locked candidates, which PostgreSQL rechecks once their holder ends);
 * and, when $9, the window's slices counted, for demand pricing; when $10, whether the plate has
 * open debt (a booking: then no spot is locked). Candidates are spots whose
 * window slice has no '1' (every spelling of a free window: '', '0000', … as bitmaps grow); the
 * caller still judges the locked row. Active statuses are spelled out so the plate check matches
 * the partial exclusion index even in a generic plan (`= any($n)` made it a sequential scan).
 */
const pickSqlFor = (wait: boolean) =>
  `with owing as (
       select $10::boolean and exists (
         select 1 from debts where plate = $5::text and status = 'open') as owing),
     clash as (
       select exists (
         select 1 from reservations where plate = $5::text and status in ${ACTIVE_IN}
           and during && tstzrange($6::timestamptz, $7::timestamptz, '[)')) as clash),
     pick as (
       select id, label, ${sliceSql('$3', '$4')} as w from spots
       where lot_id = $1 and pool = 'bookable' and type = any($2::text[])
         and strpos(${sliceSql('$3', '$4')}, '1') = 0 and not (id = any($8::text[]))
         and not (select clash from clash) and not (select owing from owing)
       limit 1 for update${wait ? '' : ' skip locked'}),
     slices as (
       select ${sliceSql('$3', '$4')} as w, count(*)::int as n from spots
       where $9::boolean and lot_id = $1 and pool = 'bookable' and type = any($2::text[]) group by 1)
     select (select owing from owing) as owing, (select clash from clash) as clash, pick.id, pick.label, pick.w,
       (select coalesce(json_agg(json_build_array(slices.w, slices.n)), '[]'::json) from slices) as slices
     from (select 1) as one left join pick on true`;
// Built once: the driver names prepared statements by their text.
const PICK_SKIP_LOCKED_SQL = pickSqlFor(false);
const PICK_WAITING_SQL = pickSqlFor(true);

/** A window slice as stored and how many spots have it. */
type SliceCount = [slice: string, spots: number];

interface PickRow {
  owing: boolean;
  clash: boolean;
  id: string | null;
  label: string | null;
  w: string | null;
  slices: SliceCount[];
}

/** How many candidates proposed as free but refused by the bitmap before giving up. */
const MAX_PICKS = 64;

/**
 * Count and price a window from the distinct window slices of the eligible spots (as stored,
 * with how many spots share each), each judged free or not by the protocol bitmap operations.
 * Demand pricing sees how full the window is; the quote and the booking use this same rule.
 */
export function judge(
  lot: LotRecord,
  vehicleType: VehicleType,
  w: SlotWindow,
  len: number,
  slices: readonly SliceCount[],
): Quote {
  let total = 0;
  let available = 0;
  for (const [slice, n] of slices) {
    total += n;
    if (sliceIsFree(slice, len)) available += n;
  }
  const occupancyPct = total === 0 ? 100 : Math.floor(((total - available) * 100) / total);
  return { available, total, price: bookingPrice(lot, vehicleType, w, occupancyPct).total };
}

export interface LockFreeSpotInput {
  lot: LotRecord;
  vehicleType: VehicleType;
  window: SlotWindow;
  plate: string;
  /** A booking (not a drive-up): a plate with open debt gets no spot (`owing`). */
  refuseOwing?: boolean;
}

export interface FreeSpotOutcome {
  /** The plate has open debt (only asked with `refuseOwing`). */
  owing?: boolean;
  /** The plate already holds an overlapping active reservation. */
  clash: boolean;
  price: Money;
  /** The locked spot, with the window's slice as stored; null when none is free. */
  spot: { id: string; label: string; slice: string } | null;
}

export interface InsertHeldInput {
  /** The locked spot and its window slice, checked free. */
  spot: { id: string; slice: string };
  bits: BitRange;
  row: ReservationRow;
  reason: ChangeReason;
  /** Send the statement together with COMMIT (the transaction's last statement). */
  commit?: boolean;
}

/**
 * Reserve in one call (migrations 006 and 018, `reserve_hold`): plate lock and check, a free spot
 * locked (the capacity snapshot's candidates first), the window held, the row and its change
 * inserted — its own transaction, locks held only inside PostgreSQL. $1–$2 the plate's advisory
 * key, then the window, the row's columns, the change and the candidate spot ids.
 */
const RESERVE_HOLD_SQL = `select outcome, spot_id, spot_label, slice from reserve_hold(
  $1::int, $2::int, $3, $4::text[], $5::int, $6::int, $7, $8::timestamptz, $9::timestamptz, $10, $11, $12,
  $13, $14, $15::bigint, $16, $17::timestamptz, $18::timestamptz, $19, $20::jsonb, $21::text[])`;

export interface ReserveHoldInput {
  /** The lot as configured now (the capacity snapshot's candidates must be of its version). */
  lot: LotRecord;
  lockKey: AdvisoryKey;
  bits: BitRange;
  /** The row to insert; its spot is chosen by the function (spot fields are ignored). */
  row: ReservationRow;
  reason: ChangeReason;
}

export type ReserveHoldOutcome =
  | { outcome: 'owing' }
  | { outcome: 'clash' }
  | { outcome: 'full' }
  | { outcome: 'held'; row: ReservationRow; slice: string };

export interface SpotAllocation {
  /** The whole hold in one statement, for a price known beforehand (no demand pricing). */
  reserveHold(q: Queryable, input: ReserveHoldInput): Promise<ReserveHoldOutcome>;
  quote(q: Queryable, lot: LotRecord, vehicleType: VehicleType, w: SlotWindow): Promise<Quote>;
  lockFreeSpot(q: Queryable, input: LockFreeSpotInput): Promise<FreeSpotOutcome>;
  insertHeld(q: TxQueryable, input: InsertHeldInput): Promise<ReservationRow>;
  releaseSlots(q: Queryable, row: ReservationRow): Promise<void>;
}

interface AllocationEnv {
  log: Logger;
  metrics: CloudMetrics;
  /** Told of every hold and release this instance writes. */
  capacity?: Pick<CapacityCache, 'patch' | 'candidates'>;
  /** Base slots never change after lot creation, so they can be cached forever. */
  baseSlots: Map<string, number>;
}

export function createSpotAllocation(deps: {
  log: Logger;
  metrics: CloudMetrics;
  capacity?: Pick<CapacityCache, 'patch' | 'candidates'>;
}): SpotAllocation {
  const env: AllocationEnv = {
    log: deps.log,
    metrics: deps.metrics,
    capacity: deps.capacity,
    baseSlots: new Map(),
  };
  return {
    quote,
    reserveHold: (q, input) => reserveHold(env, q, input),
    lockFreeSpot: (q, input) => lockFreeSpot(env, q, input),
    insertHeld: (q, input) => insertHeld(env, q, input),
    releaseSlots: (q, row) => releaseSlots(env, q, row),
  };
}

async function baseSlotOf(env: AllocationEnv, q: Queryable, lotId: string): Promise<number> {
  const cached = env.baseSlots.get(lotId);
  if (cached !== undefined) return cached;
  const r = await q.query<{ base_slot: number }>('select base_slot from lots where id = $1', [lotId]);
  const base = r.rows[0]?.base_slot;
  if (base === undefined) throw new Error(`lot ${lotId} not found`);
  env.baseSlots.set(lotId, base);
  return base;
}

async function quote(q: Queryable, lot: LotRecord, vehicleType: VehicleType, w: SlotWindow) {
  const r = bitRange(lot.baseSlot, w);
  const rows = await q.query<{ w: string; n: number }>(QUOTE_SQL, [
    lot.id,
    ELIGIBLE_SPOT_TYPES[vehicleType],
    r.from + 1,
    r.len,
  ]);
  return judge(
    lot,
    vehicleType,
    w,
    r.len,
    rows.rows.map((x): SliceCount => [x.w, x.n]),
  );
}

/**
 * The plate check, the price, and one locked eligible spot whose window is free. SQL only
 * proposes candidates; the protocol bitmap operations decide on the row as locked (a candidate
 * they refuse is skipped). Only when every free candidate is locked by someone else does it wait
 * (they may roll back), so "full" is never answered while a spot is free.
 */
async function lockFreeSpot(
  env: AllocationEnv,
  q: Queryable,
  input: LockFreeSpotInput,
): Promise<FreeSpotOutcome> {
  const { lot, vehicleType, window: w, plate } = input;
  const r = bitRange(lot.baseSlot, w);
  const rejected: string[] = [];
  const demandPriced = (lot.rates.dynamicPricing?.length ?? 0) > 0;
  const pick = async (wait: boolean, first: boolean): Promise<PickRow> => {
    const res = await q.query<PickRow>(wait ? PICK_WAITING_SQL : PICK_SKIP_LOCKED_SQL, [
      lot.id,
      ELIGIBLE_SPOT_TYPES[vehicleType],
      r.from + 1,
      r.len,
      first ? plate : null,
      toIso(w.startMs),
      toIso(w.endMs),
      rejected,
      first && demandPriced,
      first && input.refuseOwing === true,
    ]);
    return res.rows[0]!;
  };
  let row = await pick(false, true);
  // Without demand steps the multiplier is 100 at any occupancy: nothing to count.
  const price = demandPriced
    ? judge(lot, vehicleType, w, r.len, row.slices).price
    : bookingPrice(lot, vehicleType, w).total;
  if (row.owing) return { owing: true, clash: false, price, spot: null };
  if (row.clash) return { clash: true, price, spot: null };
  for (let attempt = 0; attempt < MAX_PICKS; attempt++) {
    if (attempt > 0) row = await pick(false, false);
    if (row.id === null) row = await pick(true, false);
    if (row.id === null || row.label === null || row.w === null) return { clash: false, price, spot: null };
    if (sliceIsFree(row.w, r.len))
      return { clash: false, price, spot: { id: row.id, label: row.label, slice: row.w } };
    env.log.error({ lotId: lot.id, spotId: row.id }, 'a spot proposed as free holds bits in the window');
    rejected.push(row.id);
  }
  env.log.warn({ lotId: lot.id }, 'gave up finding a free spot');
  return { clash: false, price, spot: null };
}

async function reserveHold(
  env: AllocationEnv,
  q: Queryable,
  input: ReserveHoldInput,
): Promise<ReserveHoldOutcome> {
  const { lockKey, bits, row, reason } = input;
  const { spotId: _spot, spotLabel: _label, ...change } = toReservation(row);
  // Spots memory calls free, tried first by primary key: the pick does not scan the lot.
  const candidates = env.capacity?.candidates(input.lot, row.vehicle_type, bits, row.id) ?? [];
  const res = await q.query<{ outcome: string; spot_id: string; spot_label: string; slice: string }>(
    RESERVE_HOLD_SQL,
    [
      lockKey.classId | 0,
      lockKey.objectId | 0,
      row.lot_id,
      ELIGIBLE_SPOT_TYPES[row.vehicle_type],
      bits.from + 1,
      bits.len,
      row.plate,
      row.start_at.toISOString(),
      row.end_at.toISOString(),
      row.id,
      row.user_id,
      row.kind,
      row.vehicle_type,
      row.status,
      row.price_amount,
      row.currency,
      row.hold_expires_at?.toISOString() ?? null,
      row.created_at.toISOString(),
      reason,
      JSON.stringify(change),
      candidates,
    ],
  );
  const out = res.rows[0];
  if (out === undefined) throw new Error('reserve_hold answered nothing');
  if (out.outcome === 'owing') return { outcome: 'owing' };
  if (out.outcome === 'clash') return { outcome: 'clash' };
  if (out.outcome === 'full') return { outcome: 'full' };
  // The same rule, judged by the protocol's bitmap operations on the slice the function saw.
  if (!sliceIsFree(out.slice, bits.len)) {
    env.metrics.bitmapDrift.inc();
    env.log.error(
      { lotId: row.lot_id, spotId: out.spot_id },
      'reserve_hold took a spot the bitmap calls held',
    );
  }
  env.metrics.transitions.inc({ reason });
  env.capacity?.patch(row.lot_id, out.spot_id, bits, true);
  return {
    outcome: 'held',
    row: { ...row, spot_id: out.spot_id, spot_label: out.spot_label },
    slice: out.slice,
  };
}

/**
 * One statement: hold the window in the spot's bitmap, insert the reservation, append its
 * change. The spot row is locked by the caller; the slice was checked free.
 */
async function insertHeld(
  env: AllocationEnv,
  q: TxQueryable,
  input: InsertHeldInput,
): Promise<ReservationRow> {
  const { spot, bits, row, reason } = input;
  const send = input.commit ? q.commitWith.bind(q) : q.query.bind(q);
  const res = await send<{ id: string }>(INSERT_HELD_SQL, [
    ...writeSliceParams(row.lot_id, spot.id, bits, holdSlice(spot.slice, bits.len)),
    row.id,
    row.spot_label,
    row.user_id,
    row.kind,
    row.vehicle_type,
    row.plate,
    row.start_at.toISOString(),
    row.end_at.toISOString(),
    row.status,
    row.price_amount,
    row.currency,
    row.hold_expires_at?.toISOString() ?? null,
    row.created_at.toISOString(),
    reason,
    JSON.stringify(toReservation(row)),
  ]);
  if (res.rows[0] === undefined) throw new Error(`spot ${spot.id} vanished`);
  env.metrics.transitions.inc({ reason });
  env.capacity?.patch(row.lot_id, spot.id, bits, true);
  // Stored exactly as given: every column is a parameter or a default newRow spells out.
  return row;
}

/** Clear a reservation's window from its spot's bitmap (spot row locked here). */
async function releaseSlots(env: AllocationEnv, q: Queryable, row: ReservationRow): Promise<void> {
  const base = await baseSlotOf(env, q, row.lot_id);
  const r = bitRange(base, windowOf(row.start_at.getTime(), row.end_at.getTime()));
  if (r.len === 0) return;
  const found = await q.query<{ w: string }>(
    `select ${sliceSql('$3', '$4')} as w from spots where lot_id = $1 and id = $2 for update`,
    [row.lot_id, row.spot_id, r.from + 1, r.len],
  );
  const { slice, held } = releaseSlice(found.rows[0]?.w ?? '', r.len);
  if (held !== r.len) {
    env.metrics.bitmapDrift.inc();
    env.log.error(
      { reservationId: row.id, held, expected: r.len },
      'bitmap did not hold the whole released window',
    );
  }
  await writeSlice(q, row.lot_id, row.spot_id, r, slice);
  env.capacity?.patch(row.lot_id, row.spot_id, r, false);
}
