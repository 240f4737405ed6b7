import type { SigningKey } from '../../protocol/credential.js';
import { signCredential, signingKeyFromPem } from '../../protocol/credential.js';
import {
  ACTIVE_STATUSES,
  ELIGIBLE_SPOT_TYPES,
  type Reservation,
  type ReservationStatus,
  type VehicleType,
} from '../../protocol/domain.js';
import type { CreateReservationBody, ReservationView } from '../../protocol/http.js';
import type { Logger } from '../../protocol/logger.js';
import { type Money, overstayCharge, priceWindow } from '../../protocol/money.js';
import type { ChangeReason } from '../../protocol/mqtt.js';
import { normalizePlate } from '../../protocol/plates.js';
import type { Random } from '../../protocol/random.js';
import { ok, type Result } from '../../protocol/result.js';
import {
  SLOT_MS,
  type SlotWindow,
  slotOf,
  slotStartMs,
  toIso,
  validateWindow,
  windowOf,
} from '../../protocol/slots.js';
import type { Clock } from '../../protocol/clock.js';
import {
  type AdvisoryKey,
  advisoryKey,
  type Database,
  inTransaction,
  isRetryable,
  pgCode,
  pgConstraint,
  type Queryable,
  type TxQueryable,
} from '../db/database.js';
import { type Refusal, refuse } from '../errors.js';
import { newId } from '../ids.js';
import type { CloudMetrics } from '../metrics.js';
import type { PaymentProvider } from '../payments/provider.js';
import { definePlugin } from '../plugin.js';
import type { LotRecord, LotRepository } from './lots.js';
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
} from './spot-bitmaps.js';

/**
 * Reservations: the authoritative booking logic. Every status change, its bitmap update and its
 * change-log entry commit together in one transaction; payment provider calls happen only outside
 * transactions, recorded as pending payments first so a crash never charges twice.
 *
 * Seams for sync (design/sync.md): `checkIn` and `depart` take a `factKey` so gate events from an
 * edge apply exactly once, and `enforceWindow: false` for facts the edge already acted on.
 */

export interface ReservationRow {
  id: string;
  lot_id: string;
  spot_id: string;
  spot_label: string;
  user_id: string | null;
  kind: 'booking' | 'driveup';
  vehicle_type: VehicleType;
  plate: string;
  start_at: Date;
  end_at: Date;
  status: ReservationStatus;
  price_amount: number;
  currency: string;
  hold_expires_at: Date | null;
  payment_ref: string | null;
  stored_method_ref: string | null;
  credential: string | null;
  checked_in_at: Date | null;
  checked_out_at: Date | null;
  overstay_amount: number | null;
  refund_amount: number | null;
  created_at: Date;
}

const COLS = `id, lot_id, spot_id, spot_label, user_id, kind, vehicle_type, plate, start_at, end_at, status,
  price_amount, currency, hold_expires_at, payment_ref, stored_method_ref, credential, checked_in_at,
  checked_out_at, overstay_amount, refund_amount, created_at`;

// Statement texts built once: the driver names prepared statements by their text.
const GET_SQL = `select ${COLS} from reservations where id = $1`;
const LOCK_ROW_SQL = `select ${COLS} from reservations where id = $1 for update`;
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

/** A window slice as stored and how many spots have it. */
type SliceCount = [slice: string, spots: number];

interface PickRow {
  clash: boolean;
  id: string | null;
  label: string | null;
  w: string | null;
  slices: SliceCount[];
}

export function toReservation(row: ReservationRow): Reservation {
  return {
    id: row.id,
    lotId: row.lot_id,
    spotId: row.spot_id,
    spotLabel: row.spot_label,
    vehicleType: row.vehicle_type,
    plate: row.plate,
    start: row.start_at.toISOString(),
    end: row.end_at.toISOString(),
    status: row.status,
    kind: row.kind,
    price: { amount: row.price_amount, currency: row.currency },
  };
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function toView(row: ReservationRow): ReservationView {
  return {
    ...toReservation(row),
    kind: row.kind,
    holdExpiresAt: iso(row.hold_expires_at),
    credential: row.credential,
    checkedInAt: iso(row.checked_in_at),
    checkedOutAt: iso(row.checked_out_at),
    overstayCharge:
      row.overstay_amount === null ? null : { amount: row.overstay_amount, currency: row.currency },
    refund: row.refund_amount === null ? null : { amount: row.refund_amount, currency: row.currency },
    createdAt: row.created_at.toISOString(),
  };
}

export interface Quote {
  /** Eligible bookable spots free for the whole window. */
  available: number;
  /** Eligible bookable spots in total. */
  total: number;
  price: Money;
}

export interface ReserveOutcome {
  id: string;
  status: 'TENTATIVE';
  spot: string;
  price: Money;
  paymentUrl: string;
  holdExpiresAt: string;
}

/** A gate fact (arrival or departure) about one reservation of a lot. */
export interface GateFactInput {
  lotId: string;
  /** Which reservation: by id, or by the vehicle's plate. */
  reservationId?: string;
  plate?: string;
  /** When it happened, epoch ms. */
  atMs: number;
  /**
   * Exactly-once key of the fact's source (e.g. `edge:<eventId>`): a second call with the same key
   * returns the first outcome and changes nothing.
   */
  factKey?: string;
  /**
   * true (HTTP): refuse outside [start − early allowance, end). false: the edge already admitted the
   * vehicle; record what happened.
   */
  enforceWindow?: boolean;
}

export interface DriveUpInput {
  lotId: string;
  plate: string;
  vehicleType: VehicleType;
  /** Widened to whole slots. */
  startMs: number;
  endMs: number;
  /** Exactly-once key, e.g. `overflow:<correlationId>`. */
  requestKey: string;
}

export interface DepartureOutcome {
  reservation: ReservationView;
  overstayMinutes: number;
  charge: Money | null;
  refund: Money | null;
}

export interface ListFilter {
  /** Only reservations made by this user. */
  userId?: string;
  /** Only these lots ('all' = no restriction). */
  lotIds: string[] | 'all';
  lotId?: string;
  status?: ReservationStatus;
  limit: number;
  cursor?: string;
}

export interface ReservationRepository {
  quote(lot: LotRecord, vehicleType: VehicleType, window: SlotWindow): Promise<Quote>;
  reserve(actor: { id: string }, body: CreateReservationBody): Promise<Result<ReserveOutcome, Refusal>>;
  /** `known`: the row as the caller just read it (saves a read); it is locked and rechecked anyway. */
  complete(
    id: string,
    paymentToken: string,
    known?: ReservationRow,
  ): Promise<Result<ReservationView, Refusal>>;
  cancel(id: string): Promise<Result<{ reservation: ReservationView; refund: Money }, Refusal>>;
  get(id: string): Promise<ReservationRow | null>;
  list(filter: ListFilter): Promise<{ reservations: ReservationView[]; nextCursor: string | null }>;
  /**
   * Online drive-up overflow (domain.md "Capacity model"): book a free bookable spot for a vehicle
   * at the gate, CONFIRMED, kind 'driveup'. Exactly once per requestKey.
   */
  reserveDriveUp(input: DriveUpInput): Promise<Result<Reservation, Refusal>>;
  checkIn(input: GateFactInput): Promise<Result<ReservationView, Refusal>>;
  depart(input: GateFactInput): Promise<Result<DepartureOutcome, Refusal>>;
  /** TENTATIVE holds past their expiry → EXPIRED. Returns null when another runner holds the lock. */
  expireHolds(nowMs: number): Promise<number | null>;
  /** CONFIRMED without check-in by start + no-show grace (or by end) → NO_SHOW. */
  markNoShows(nowMs: number): Promise<number | null>;
  /** Retry provider calls for payments left pending (e.g. by a crash). */
  settlePendingPayments(nowMs: number): Promise<number>;
  /** Drop idempotency records older than the retention. */
  pruneIdempotencyKeys(nowMs: number): Promise<number>;
}

export interface ReservationDeps {
  db: Database;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: CloudMetrics;
  payments: PaymentProvider;
  lots: LotRepository;
  signing: { keyId: string; privatePem: string };
}

const SWEEP_BATCH = 200;
/** Advisory lock class for "one car, one reservation": bookings of one plate queue on it. */
const PLATE_LOCK_CLASS = 7_001;
const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

export function createReservationRepository(deps: ReservationDeps): ReservationRepository {
  const { db, clock, metrics, payments, lots } = deps;
  const { pooled } = db;
  const log = deps.logger.child({ component: 'reservations' });
  const signingKey: SigningKey = signingKeyFromPem(deps.signing.keyId, deps.signing.privatePem);
  /** Base slots never change after lot creation, so they can be cached forever. */
  const baseSlots = new Map<string, number>();

  async function baseSlotOf(q: Queryable, lotId: string): Promise<number> {
    const cached = baseSlots.get(lotId);
    if (cached !== undefined) return cached;
    const r = await q.query<{ base_slot: number }>('select base_slot from lots where id = $1', [lotId]);
    const base = r.rows[0]?.base_slot;
    if (base === undefined) throw new Error(`lot ${lotId} not found`);
    baseSlots.set(lotId, base);
    return base;
  }

  /** Run a transaction, again on deadlock or serialization failure. */
  async function tx<T>(fn: (q: TxQueryable) => Promise<T>, advisoryLock?: AdvisoryKey): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.tx(fn, { advisoryLock });
      } catch (e) {
        if (attempt >= 4 || !isRetryable(e)) throw e;
        log.warn({ code: pgCode(e), attempt }, 'transaction retried');
      }
    }
  }

  /**
   * Count and price a window from the distinct window slices of the eligible spots (as stored,
   * with how many spots share each), each judged free or not by the protocol bitmap operations.
   * Demand pricing sees how full the window is; the quote and the booking use this same rule.
   */
  function judge(lot: LotRecord, w: SlotWindow, len: number, slices: readonly SliceCount[]): Quote {
    let total = 0;
    let available = 0;
    for (const [slice, n] of slices) {
      total += n;
      if (sliceIsFree(slice, len)) available += n;
    }
    const occupancyPct = total === 0 ? 100 : Math.floor(((total - available) * 100) / total);
    return { available, total, price: priceWindow(lot.rates, w, lot.timeZone, occupancyPct) };
  }

  async function quoteWith(q: Queryable, lot: LotRecord, vehicleType: VehicleType, w: SlotWindow) {
    const r = bitRange(lot.baseSlot, w);
    const rows = await q.query<{ w: string; n: number }>(QUOTE_SQL, [
      lot.id,
      ELIGIBLE_SPOT_TYPES[vehicleType],
      r.from + 1,
      r.len,
    ]);
    return judge(
      lot,
      w,
      r.len,
      rows.rows.map((x): SliceCount => [x.w, x.n]),
    );
  }

  /**
   * One statement (one snapshot, taken after the plate's advisory lock): does the plate already
   * hold an overlapping active reservation; if not, lock one eligible spot with no held bit in the
   * window (SKIP LOCKED: concurrent bookings take different spots instead of queueing; `wait`: the
   * same, but waiting for locked candidates, which PostgreSQL rechecks once their holder ends);
   * and, when $9, the window's slices counted, for demand pricing. Candidates are spots whose
   * window slice has no '1' (every spelling of a free window: '', '0000', … as bitmaps grow); the
   * caller still judges the locked row. Active statuses are spelled out so the plate check matches
   * the partial exclusion index even in a generic plan (`= any($n)` made it a sequential scan).
   */
  const pickSqlFor = (wait: boolean) =>
    `with clash as (
       select exists (
         select 1 from reservations where plate = $5::text and status in ${ACTIVE_IN}
           and during && tstzrange($6::timestamptz, $7::timestamptz, '[)')) as clash),
     pick as (
       select id, label, ${sliceSql('$3', '$4')} as w from spots
       where lot_id = $1 and pool = 'bookable' and type = any($2::text[])
         and strpos(${sliceSql('$3', '$4')}, '1') = 0 and not (id = any($8::text[]))
         and not (select clash from clash)
       limit 1 for update${wait ? '' : ' skip locked'}),
     slices as (
       select ${sliceSql('$3', '$4')} as w, count(*)::int as n from spots
       where $9::boolean and lot_id = $1 and pool = 'bookable' and type = any($2::text[]) group by 1)
     select (select clash from clash) as clash, pick.id, pick.label, pick.w,
       (select coalesce(json_agg(json_build_array(slices.w, slices.n)), '[]'::json) from slices) as slices
     from (select 1) as one left join pick on true`;
  // Built once: the driver names prepared statements by their text.
  const PICK_SKIP_LOCKED_SQL = pickSqlFor(false);
  const PICK_WAITING_SQL = pickSqlFor(true);

  /**
   * The plate check, the price, and one locked eligible spot whose window is free. SQL only
   * proposes candidates; the protocol bitmap operations decide on the row as locked (a candidate
   * they refuse is skipped). Only when every free candidate is locked by someone else does it wait
   * (they may roll back), so "full" is never answered while a spot is free.
   */
  async function lockFreeSpot(
    q: Queryable,
    lot: LotRecord,
    vehicleType: VehicleType,
    w: SlotWindow,
    plate: string,
  ): Promise<{ clash: boolean; price: Money; spot: { id: string; label: string; slice: string } | null }> {
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
      ]);
      return res.rows[0]!;
    };
    let row = await pick(false, true);
    // Without demand steps the multiplier is 100 at any occupancy: nothing to count.
    const price = demandPriced
      ? judge(lot, w, r.len, row.slices).price
      : priceWindow(lot.rates, w, lot.timeZone, 0);
    if (row.clash) return { clash: true, price, spot: null };
    for (let attempt = 0; attempt < 64; attempt++) {
      if (attempt > 0) row = await pick(false, false);
      if (row.id === null) row = await pick(true, false);
      if (row.id === null || row.label === null || row.w === null) return { clash: false, price, spot: null };
      if (sliceIsFree(row.w, r.len))
        return { clash: false, price, spot: { id: row.id, label: row.label, slice: row.w } };
      log.error({ lotId: lot.id, spotId: row.id }, 'a spot proposed as free holds bits in the window');
      rejected.push(row.id);
    }
    log.warn({ lotId: lot.id }, 'gave up finding a free spot');
    return { clash: false, price, spot: null };
  }

  /** Clear a reservation's window from its spot's bitmap (spot row locked here). */
  async function releaseSlots(q: Queryable, row: ReservationRow): Promise<void> {
    const base = await baseSlotOf(q, row.lot_id);
    const r = bitRange(base, windowOf(row.start_at.getTime(), row.end_at.getTime()));
    if (r.len === 0) return;
    const found = await q.query<{ w: string }>(
      `select ${sliceSql('$3', '$4')} as w from spots where lot_id = $1 and id = $2 for update`,
      [row.lot_id, row.spot_id, r.from + 1, r.len],
    );
    const { slice, held } = releaseSlice(found.rows[0]?.w ?? '', r.len);
    if (held !== r.len) {
      metrics.bitmapDrift.inc();
      log.error(
        { reservationId: row.id, held, expected: r.len },
        'bitmap did not hold the whole released window',
      );
    }
    await writeSlice(q, row.lot_id, row.spot_id, r, slice);
  }

  /** A payment row written with a status change (same statement, same transaction). */
  interface PaymentRecord {
    id: string;
    kind: 'capture' | 'overstay' | 'refund';
    amount: number;
    status: 'pending' | 'succeeded';
    providerRef?: string;
  }

  type Sets = Partial<
    Pick<
      ReservationRow,
      | 'payment_ref'
      | 'stored_method_ref'
      | 'credential'
      | 'checked_in_at'
      | 'checked_out_at'
      | 'overstay_amount'
      | 'refund_amount'
    >
  >;

  /** setStatus statements by shape, built once each (the driver names prepared statements by text). */
  const statusSql = new Map<string, string>();
  function setStatusSql(cols: readonly (keyof Sets)[], guard: string | null, withPayment: boolean): string {
    const key = `${cols.join(',')}|${withPayment}|${guard ?? ''}`;
    let sql = statusSql.get(key);
    if (sql !== undefined) return sql;
    const assignments = cols.map((c, i) => `, ${c} = $${i + 7}`).join('');
    let paymentCte = '';
    if (withPayment) {
      const n = 6 + cols.length;
      // Data-modifying CTEs run to completion whether or not the main query reads them.
      paymentCte = `, p as (insert into payments (id, reservation_id, kind, amount, currency, status, provider_ref,
                       created_at, updated_at)
                     select $${n + 1}, u.id, $${n + 2}, $${n + 3}, u.currency, $${n + 4}, $${n + 5}, $3, $3 from u)`;
    }
    sql = `with u as (update reservations set status = $2, updated_at = $3${assignments}
                  where id = $1${guard === null ? '' : ` and (${guard})`} returning ${COLS}),
            c as (insert into lot_changes (lot_id, at, reason, reservation) select $4, $3, $5, $6 from u returning id)
            ${paymentCte}
       select u.* from u, c`;
    statusSql.set(key, sql);
    return sql;
  }

  /**
   * Update status (+ columns) and append the change, in one statement (its seq is assigned at
   * commit). The caller has locked the row and released slots if needed.
   */
  async function setStatus(
    q: Queryable,
    row: ReservationRow,
    status: ReservationStatus,
    reason: ChangeReason,
    nowMs: number,
    sets: Sets = {},
    payment?: PaymentRecord,
  ): Promise<ReservationRow> {
    const updated = await setStatusWhere(q, null, row, status, reason, nowMs, sets, payment);
    if (updated === null) throw new Error(`reservation ${row.id} vanished`);
    return updated;
  }

  /**
   * setStatus, applied only while `guard` (fixed SQL over the row; $3 is nowMs) holds: null when
   * it does not, and then nothing was written. As one statement on its own it is its own
   * transaction, the row lock being the update's. The change payload is built from `row`, whose
   * change fields other than status never change after creation.
   */
  async function setStatusWhere(
    q: Queryable,
    guard: string | null,
    row: ReservationRow,
    status: ReservationStatus,
    reason: ChangeReason,
    nowMs: number,
    sets: Sets = {},
    payment?: PaymentRecord,
  ): Promise<ReservationRow | null> {
    const next: ReservationRow = { ...row, ...sets, status };
    const cols = Object.keys(sets) as (keyof Sets)[];
    const values: unknown[] = [
      row.id,
      status,
      toIso(nowMs),
      row.lot_id,
      reason,
      JSON.stringify(toReservation(next)),
      ...cols.map((c) => {
        const v = sets[c];
        return v instanceof Date ? v.toISOString() : v;
      }),
    ];
    if (payment !== undefined) {
      values.push(payment.id, payment.kind, payment.amount, payment.status, payment.providerRef ?? null);
    }
    const r = await q.query<ReservationRow>(setStatusSql(cols, guard, payment !== undefined), values);
    const updated = r.rows[0];
    if (updated === undefined) return null;
    metrics.transitions.inc({ reason });
    return updated;
  }

  /**
   * One statement: hold the window in the spot's bitmap, insert the reservation, append its
   * change. The spot row is locked by the caller; the slice was checked free.
   */
  async function insertHeld(
    q: TxQueryable,
    spot: { id: string; slice: string },
    r: BitRange,
    row: ReservationRow,
    reason: ChangeReason,
    commit = false,
  ): Promise<ReservationRow> {
    const res = await (commit ? q.commitWith.bind(q) : q.query.bind(q))<{ id: string }>(INSERT_HELD_SQL, [
      ...writeSliceParams(row.lot_id, spot.id, r, holdSlice(spot.slice, r.len)),
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
    metrics.transitions.inc({ reason });
    // Stored exactly as given: every column is a parameter or a default newRow spells out.
    return row;
  }

  /** A new row as it will be stored (no payment, no gate facts yet). */
  function newRow(
    fields: Pick<
      ReservationRow,
      | 'id'
      | 'lot_id'
      | 'spot_id'
      | 'spot_label'
      | 'user_id'
      | 'kind'
      | 'vehicle_type'
      | 'plate'
      | 'start_at'
      | 'end_at'
      | 'status'
      | 'price_amount'
      | 'currency'
      | 'hold_expires_at'
      | 'created_at'
    >,
  ): ReservationRow {
    return {
      ...fields,
      payment_ref: null,
      stored_method_ref: null,
      credential: null,
      checked_in_at: null,
      checked_out_at: null,
      overstay_amount: null,
      refund_amount: null,
    };
  }

  async function lockRow(q: Queryable, id: string): Promise<ReservationRow | null> {
    const r = await q.query<ReservationRow>(LOCK_ROW_SQL, [id]);
    return r.rows[0] ?? null;
  }

  async function get(id: string): Promise<ReservationRow | null> {
    const rows = await db.rows<ReservationRow>(GET_SQL, [id]);
    return rows[0] ?? null;
  }

  /** Expire one hold whose time has passed (complete() found it before the sweeper did). */
  async function expireNow(id: string, nowMs: number): Promise<void> {
    await tx(async (q) => {
      const row = await lockRow(q, id);
      if (row === null || row.status !== 'TENTATIVE') return;
      await releaseSlots(q, row);
      await setStatus(q, row, 'EXPIRED', 'expired', nowMs);
    });
  }

  // ---- payments: recorded pending in the state transaction, then settled with the provider ----

  async function settlePayment(paymentId: string): Promise<'succeeded' | 'failed' | 'skipped'> {
    const rows = await db.rows<{
      id: string;
      kind: 'capture' | 'overstay' | 'refund';
      amount: number;
      currency: string;
      status: string;
      reservation_id: string;
      payment_ref: string | null;
      stored_method_ref: string | null;
    }>(
      `select p.id, p.kind, p.amount, p.currency, p.status, p.reservation_id, r.payment_ref, r.stored_method_ref
       from payments p join reservations r on r.id = p.reservation_id where p.id = $1`,
      [paymentId],
    );
    const p = rows[0];
    if (p === undefined || p.status !== 'pending') return 'skipped';
    const amount = { amount: p.amount, currency: p.currency };
    let result: Result<{ ref: string }, { message: string }>;
    try {
      if (p.kind === 'overstay') {
        const r = p.stored_method_ref
          ? await payments.chargeStoredMethod({
              storedMethodRef: p.stored_method_ref,
              amount,
              idempotencyKey: p.id,
              description: `overstay ${p.reservation_id}`,
            })
          : null;
        result =
          r === null
            ? { ok: false, error: { message: 'no stored payment method' } }
            : r.ok
              ? ok({ ref: r.value.chargeRef })
              : r;
      } else if (p.kind === 'refund') {
        const r = p.payment_ref
          ? await payments.refund({ paymentRef: p.payment_ref, amount, idempotencyKey: p.id })
          : null;
        result =
          r === null
            ? { ok: false, error: { message: 'nothing was captured' } }
            : r.ok
              ? ok({ ref: r.value.refundRef })
              : r;
      } else {
        return 'skipped';
      }
    } catch (e) {
      // Provider unreachable: stays pending, the sweeper retries with the same idempotency key.
      metrics.payments.inc({ kind: p.kind, outcome: 'error' });
      log.warn({ err: e, paymentId }, 'payment provider call failed; will retry');
      return 'skipped';
    }
    const status = result.ok ? 'succeeded' : 'failed';
    await db.rows(
      `update payments set status = $2, provider_ref = $3, detail = $4, updated_at = $5 where id = $1`,
      [
        p.id,
        status,
        result.ok ? result.value.ref : null,
        result.ok ? null : result.error.message,
        toIso(clock.now()),
      ],
    );
    metrics.payments.inc({ kind: p.kind, outcome: status });
    return status;
  }

  // ---- gate facts ----

  async function replayFact<T>(q: Queryable, input: GateFactInput): Promise<Result<T, Refusal> | null> {
    if (input.factKey === undefined) return null;
    const r = await q.query<{ outcome: Result<T, Refusal> }>(
      'select outcome from gate_facts where lot_id = $1 and fact_key = $2',
      [input.lotId, input.factKey],
    );
    return r.rows[0]?.outcome ?? null;
  }

  async function recordFact<T>(
    q: Queryable,
    input: GateFactInput,
    kind: 'arrival' | 'departure' | 'driveup',
    reservationId: string | null,
    outcome: Result<T, Refusal>,
  ): Promise<Result<T, Refusal>> {
    if (input.factKey !== undefined) {
      await q.query(
        `insert into gate_facts (lot_id, fact_key, kind, reservation_id, outcome, at) values ($1, $2, $3, $4, $5, $6)`,
        [input.lotId, input.factKey, kind, reservationId, JSON.stringify(outcome), toIso(input.atMs)],
      );
    }
    return outcome;
  }

  async function findForFact(
    q: Queryable,
    input: GateFactInput,
    statuses: ReservationStatus[],
    earlyMinutes: number,
  ): Promise<ReservationRow | null> {
    if (input.reservationId !== undefined) {
      const row = await lockRow(q, input.reservationId);
      return row !== null && row.lot_id === input.lotId ? row : null;
    }
    const plate = normalizePlate(input.plate ?? '');
    if (plate === null) return null;
    // The reservation whose admission window contains the time, else the nearest one.
    const r = await q.query<ReservationRow>(
      `select ${COLS} from reservations
       where lot_id = $1 and plate = $2 and status = any($3::text[])
       order by case when $4::timestamptz >= start_at - make_interval(mins => $5::int) and $4::timestamptz < end_at
                     then 0 else 1 end,
                abs(extract(epoch from start_at - $4::timestamptz)), id
       limit 1 for update`,
      [input.lotId, plate, statuses, toIso(input.atMs), earlyMinutes],
    );
    return r.rows[0] ?? null;
  }

  // ---- sweepers ----

  async function sweep(
    name: 'hold_expiry' | 'no_show',
    nowMs: number,
    selectDue: string,
    status: ReservationStatus,
    reason: ChangeReason,
  ): Promise<number | null> {
    const lockKey = `parkedge.sweep.${name}:`;
    return db.session(async (client) => {
      const got = await client.query<{ ok: boolean }>(
        `select pg_try_advisory_lock(hashtext($1 || current_schema())) as ok`,
        [lockKey],
      );
      if (!got.rows[0]?.ok) {
        metrics.sweeps.inc({ sweeper: name, outcome: 'skipped' });
        return null;
      }
      let total = 0;
      try {
        for (;;) {
          const n = await inTransaction(client, async (q) => {
            const due = (await q.query<ReservationRow>(selectDue, [toIso(nowMs), SWEEP_BATCH])).rows;
            // Spot locks in (lot, spot) order; lot_seq rows are taken only at commit, in lot order.
            for (const row of due) await releaseSlots(q, row);
            for (const row of due) await setStatus(q, row, status, reason, nowMs);
            return due.length;
          });
          total += n;
          if (n < SWEEP_BATCH) break;
        }
      } catch (e) {
        metrics.sweeps.inc({ sweeper: name, outcome: 'failed' });
        throw e;
      } finally {
        await client.query(`select pg_advisory_unlock(hashtext($1 || current_schema()))`, [lockKey]);
      }
      metrics.sweeps.inc({ sweeper: name, outcome: 'ran' });
      if (total > 0) log.info({ sweeper: name, count: total }, 'reservations swept');
      return total;
    });
  }

  const repo: ReservationRepository = {
    quote: (lot, vehicleType, w) => quoteWith(pooled, lot, vehicleType, w),

    async reserve(actor, body) {
      const now = clock.now();
      const plate = normalizePlate(body.plate);
      if (plate === null) {
        return refuse(400, 'validation_failed', 'plate must have letters or digits', {
          field: 'body.plate',
          rule: 'invalid_plate',
        });
      }
      const lot = await lots.get(body.lotId);
      if (lot === null)
        return refuse(404, 'lot_not_found', `lot ${body.lotId} not found`, { field: 'body.lotId' });
      const wr = validateWindow(body, lot.policy, now);
      if (!wr.ok) {
        return refuse(400, 'invalid_window', wr.error.message, {
          field: `body.${wr.error.field}`,
          rule: wr.error.reason,
        });
      }
      const w = wr.value;
      const bits = bitRange(lot.baseSlot, w);
      const id = newId(deps.random);
      const holdExpiresMs = now + lot.policy.holdMinutes * 60_000;

      let created: { row: ReservationRow; price: Money };
      try {
        const r = await tx(
          async (q): Promise<Result<{ row: ReservationRow; price: Money }, Refusal>> => {
            // One car, one reservation: the plate's advisory lock came with BEGIN, so this check sees
            // every committed booking of the plate; concurrent bookings of one car queue, and the
            // plate constraint stays a backstop that never fires. On PostgreSQL, BEGIN + lock and
            // this statement leave in one write, and so do the insert and COMMIT below.
            const { clash, price, spot } = await lockFreeSpot(q, lot, body.vehicleType, w, plate);
            if (clash) {
              return refuse(
                409,
                'plate_overlap',
                `plate ${plate} already holds a reservation overlapping this window`,
              );
            }
            if (spot === null)
              return refuse(409, 'no_spot_free', 'no spot is free for this vehicle type and window');
            const row = await insertHeld(
              q,
              spot,
              bits,
              newRow({
                id,
                lot_id: lot.id,
                spot_id: spot.id,
                spot_label: spot.label,
                user_id: actor.id,
                kind: 'booking',
                vehicle_type: body.vehicleType,
                plate,
                start_at: new Date(w.startMs),
                end_at: new Date(w.endMs),
                status: 'TENTATIVE',
                price_amount: price.amount,
                currency: price.currency,
                hold_expires_at: new Date(holdExpiresMs),
                created_at: new Date(now),
              }),
              'created',
              true,
            );
            return ok({ row, price });
          },
          advisoryKey(PLATE_LOCK_CLASS, plate),
        );
        if (!r.ok) {
          metrics.reservations.inc({ outcome: r.error.error });
          return r;
        }
        created = r.value;
      } catch (e) {
        if (pgCode(e) === '23P01') {
          // The bitmap should have refused first; count it, it must stay zero.
          const constraint = pgConstraint(e) ?? 'unknown';
          metrics.constraintViolations.inc({ constraint });
          log.error(
            { constraint, lotId: lot.id },
            'exclusion constraint refused a booking the bitmap allowed',
          );
          metrics.reservations.inc({ outcome: 'constraint' });
          return constraint.includes('plate')
            ? refuse(
                409,
                'plate_overlap',
                `plate ${plate} already holds a reservation overlapping this window`,
              )
            : refuse(409, 'no_spot_free', 'no spot is free for this vehicle type and window');
        }
        throw e;
      }
      metrics.reservations.inc({ outcome: 'created' });

      // Only after commit: talk to the payment provider (never with a lock held).
      let paymentUrl: string;
      try {
        ({ paymentUrl } = await payments.createCheckout({
          reservationId: id,
          amount: created.price,
          description: `Parking at ${lot.name}, spot ${created.row.spot_label}`,
        }));
      } catch (e) {
        log.error(
          { err: e, reservationId: id },
          'payment provider failed to create a checkout; hold released',
        );
        await tx(async (q) => {
          const row = await lockRow(q, id);
          if (row === null || row.status !== 'TENTATIVE') return;
          await releaseSlots(q, row);
          await setStatus(q, row, 'CANCELLED', 'cancelled', clock.now());
        });
        return refuse(
          502,
          'payment_unavailable',
          'the payment provider is not reachable; nothing was booked',
        );
      }
      return ok({
        id,
        status: 'TENTATIVE',
        spot: created.row.spot_label,
        price: created.price,
        paymentUrl,
        holdExpiresAt: toIso(holdExpiresMs),
      });
    },

    async complete(id, paymentToken, known) {
      const now = clock.now();
      const row = known?.id === id ? known : await get(id);
      if (row === null) return refuse(404, 'reservation_not_found', `reservation ${id} not found`);
      if (row.status === 'CONFIRMED' || row.status === 'CHECKED_IN' || row.status === 'COMPLETED') {
        return ok(toView(row));
      }
      if (row.status === 'EXPIRED' || (row.status === 'TENTATIVE' && row.hold_expires_at!.getTime() <= now)) {
        if (row.status === 'TENTATIVE') await expireNow(id, now);
        return refuse(
          410,
          'hold_expired',
          `the hold expired at ${iso(row.hold_expires_at)}; nothing was charged`,
        );
      }
      if (row.status !== 'TENTATIVE') {
        return refuse(409, 'not_payable', `reservation is ${row.status}`);
      }
      const amount = { amount: row.price_amount, currency: row.currency };
      const verified = await payments.verifyToken({ token: paymentToken, reservationId: id, amount });
      if (!verified.ok) {
        metrics.payments.inc({ kind: 'capture', outcome: 'refused' });
        return refuse(
          402,
          'payment_invalid',
          `${verified.error.message}; the reservation stays on hold until it expires`,
          {
            field: 'body.paymentToken',
            rule: verified.error.reason,
          },
        );
      }
      metrics.payments.inc({ kind: 'capture', outcome: 'succeeded' });
      const { paymentRef, storedMethodRef } = verified.value;
      const at = clock.now();
      const credentialFor = (r: ReservationRow) =>
        signCredential(
          {
            rid: r.id,
            lot: r.lot_id,
            plate: r.plate,
            start: r.start_at.getTime(),
            end: r.end_at.getTime(),
          },
          signingKey,
        );
      const capture = (r: ReservationRow): PaymentRecord => ({
        id: newId(deps.random),
        kind: 'capture',
        amount: r.price_amount,
        status: 'succeeded',
        providerRef: paymentRef,
      });
      if (row.hold_expires_at!.getTime() > at) {
        // The usual case, in one statement (one round trip, its own transaction): confirm only if
        // the row is still a live hold. The credential covers fields fixed at creation.
        const confirmed = await setStatusWhere(
          pooled,
          `status = 'TENTATIVE' and hold_expires_at > $3::timestamptz`,
          row,
          'CONFIRMED',
          'confirmed',
          at,
          { payment_ref: paymentRef, stored_method_ref: storedMethodRef, credential: credentialFor(row) },
          capture(row),
        );
        if (confirmed !== null) return ok(toView(confirmed));
      }
      // Otherwise look at the row under its lock: expired meanwhile, or someone else moved it.
      const outcome = await tx(async (q) => {
        const locked = await lockRow(q, id);
        if (locked === null) throw new Error(`reservation ${id} vanished`);
        if (locked.status === 'TENTATIVE' && locked.hold_expires_at!.getTime() > at) {
          const updated = await setStatus(
            q,
            locked,
            'CONFIRMED',
            'confirmed',
            at,
            {
              payment_ref: paymentRef,
              stored_method_ref: storedMethodRef,
              credential: credentialFor(locked),
            },
            capture(locked),
          );
          return { kind: 'confirmed' as const, row: updated };
        }
        if (locked.status === 'TENTATIVE') {
          // The hold ran out while the provider was answering.
          await releaseSlots(q, locked);
          await setStatus(q, locked, 'EXPIRED', 'expired', at);
          return { kind: 'expired' as const, row: locked };
        }
        return { kind: 'raced' as const, row: locked };
      });
      if (outcome.kind === 'confirmed') return ok(toView(outcome.row));
      // This capture did not confirm anything: give the money back.
      const refunded = await payments
        .refund({ paymentRef, amount, idempotencyKey: `void:${paymentRef}` })
        .catch((e: unknown) => ({ ok: false as const, error: { message: String(e) } }));
      if (!refunded.ok)
        log.error({ reservationId: id, paymentRef }, 'could not void a capture that confirmed nothing');
      if (outcome.kind === 'expired') {
        return refuse(
          410,
          'hold_expired',
          `the hold expired at ${iso(row.hold_expires_at)}; nothing was charged`,
        );
      }
      if (outcome.row.status === 'CONFIRMED' || outcome.row.status === 'CHECKED_IN')
        return ok(toView(outcome.row));
      return refuse(409, 'not_payable', `reservation is ${outcome.row.status}`);
    },

    async cancel(id) {
      const now = clock.now();
      const found = await get(id);
      if (found === null) return refuse(404, 'reservation_not_found', `reservation ${id} not found`);
      // Read outside the transaction: never hold a connection while asking the pool for another.
      const lot = await lots.get(found.lot_id);
      const outcome = await tx(
        async (q): Promise<Result<{ row: ReservationRow; refundId: string | null }, Refusal>> => {
          const row = await lockRow(q, id);
          if (row === null) return refuse(404, 'reservation_not_found', `reservation ${id} not found`);
          if (row.status === 'CANCELLED') return ok({ row, refundId: null });
          if (row.status !== 'TENTATIVE' && row.status !== 'CONFIRMED') {
            return refuse(409, 'not_cancellable', `a ${row.status} reservation cannot be cancelled`);
          }
          const refundable =
            row.status === 'CONFIRMED' &&
            row.payment_ref !== null &&
            lot?.policy.refund === 'full_before_start' &&
            now < row.start_at.getTime();
          const refund = refundable ? row.price_amount : 0;
          await releaseSlots(q, row);
          const refundId = refund > 0 ? newId(deps.random) : null;
          const updated = await setStatus(
            q,
            row,
            'CANCELLED',
            'cancelled',
            now,
            { refund_amount: refund },
            refundId === null
              ? undefined
              : { id: refundId, kind: 'refund', amount: refund, status: 'pending' },
          );
          return ok({ row: updated, refundId });
        },
      );
      if (!outcome.ok) return outcome;
      if (outcome.value.refundId !== null) await settlePayment(outcome.value.refundId);
      const row = outcome.value.row;
      return ok({
        reservation: toView(row),
        refund: { amount: row.refund_amount ?? 0, currency: row.currency },
      });
    },

    get,

    async list(filter) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, v: unknown) => {
        params.push(v);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (filter.userId !== undefined) add('user_id = ?', filter.userId);
      if (filter.lotIds !== 'all') add('lot_id = any(?::text[])', filter.lotIds);
      if (filter.lotId !== undefined) add('lot_id = ?', filter.lotId);
      if (filter.status !== undefined) add('status = ?', filter.status);
      const cursor = decodeCursor(filter.cursor);
      if (cursor !== null) {
        params.push(cursor.at, cursor.id);
        where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length})`);
      }
      params.push(filter.limit + 1);
      const rows = await db.rows<ReservationRow>(
        `select ${COLS} from reservations ${where.length ? `where ${where.join(' and ')}` : ''}
         order by created_at desc, id desc limit $${params.length}`,
        params,
      );
      const page = rows.slice(0, filter.limit);
      const last = page[page.length - 1];
      return {
        reservations: page.map(toView),
        nextCursor:
          rows.length > filter.limit && last ? encodeCursor(last.created_at.toISOString(), last.id) : null,
      };
    },

    async reserveDriveUp(input) {
      const now = clock.now();
      const plate = normalizePlate(input.plate);
      if (plate === null)
        return refuse(400, 'validation_failed', 'plate is not valid', {
          field: 'plate',
          rule: 'invalid_plate',
        });
      const lot = await lots.get(input.lotId);
      if (lot === null) return refuse(404, 'lot_not_found', `lot ${input.lotId} not found`);
      const startMs = Math.max(slotStartMs(slotOf(input.startMs)), slotStartMs(slotOf(now)));
      const endMs = Math.ceil(input.endMs / SLOT_MS) * SLOT_MS;
      if (
        !Number.isFinite(startMs) ||
        !Number.isFinite(endMs) ||
        endMs <= startMs ||
        endMs - startMs > 86_400_000
      ) {
        return refuse(400, 'invalid_window', 'a drive-up window must end after it starts, within a day');
      }
      const w = windowOf(startMs, endMs);
      const fact: GateFactInput = { lotId: lot.id, atMs: now, factKey: `driveup:${input.requestKey}` };
      try {
        return await tx(
          async (q) => {
            const replay = await replayFact<Reservation>(q, fact);
            if (replay !== null) return replay;
            const done = (o: Result<Reservation, Refusal>, id: string | null = null) =>
              recordFact(q, fact, 'driveup', id, o);
            const { clash, price, spot } = await lockFreeSpot(q, lot, input.vehicleType, w, plate);
            if (clash) {
              return done(refuse(409, 'plate_overlap', `plate ${plate} already holds a reservation now`));
            }
            if (spot === null)
              return done(refuse(409, 'no_spot_free', 'no bookable spot is free for the overflow window'));
            const id = newId(deps.random);
            const row = await insertHeld(
              q,
              spot,
              bitRange(lot.baseSlot, w),
              newRow({
                id,
                lot_id: lot.id,
                spot_id: spot.id,
                spot_label: spot.label,
                user_id: null,
                kind: 'driveup',
                vehicle_type: input.vehicleType,
                plate,
                start_at: new Date(startMs),
                end_at: new Date(endMs),
                status: 'CONFIRMED',
                price_amount: price.amount,
                currency: price.currency,
                hold_expires_at: null,
                created_at: new Date(now),
              }),
              'driveup_granted',
            );
            return done(ok(toReservation(row)), id);
          },
          advisoryKey(PLATE_LOCK_CLASS, plate),
        );
      } catch (e) {
        if (pgCode(e) === '23P01') {
          metrics.constraintViolations.inc({ constraint: pgConstraint(e) ?? 'unknown' });
          return refuse(409, 'no_spot_free', 'no bookable spot is free for the overflow window');
        }
        throw e;
      }
    },

    async checkIn(input) {
      const lot = await lots.get(input.lotId);
      if (lot === null) return refuse(404, 'lot_not_found', `lot ${input.lotId} not found`);
      return tx(async (q) => {
        const replay = await replayFact<ReservationView>(q, input);
        if (replay !== null) return replay;
        const row = await findForFact(
          q,
          input,
          ['CONFIRMED', 'CHECKED_IN', 'TENTATIVE'],
          lot.policy.earlyArrivalMinutes,
        );
        const done = (o: Result<ReservationView, Refusal>) =>
          recordFact(q, input, 'arrival', row?.id ?? null, o);
        if (row === null)
          return done(refuse(404, 'reservation_not_found', 'no matching reservation at this lot'));
        if (row.status === 'CHECKED_IN') {
          if (lot.policy.antiPassback === 'soft') {
            log.warn({ reservationId: row.id }, 'anti-passback (soft): admitted again before exit');
            return done(ok(toView(row)));
          }
          return done(
            refuse(
              409,
              'already_checked_in',
              'this reservation is inside and has not exited (anti-passback)',
            ),
          );
        }
        if (row.status !== 'CONFIRMED')
          return done(refuse(409, 'not_confirmed', `reservation is ${row.status}`));
        if (input.enforceWindow ?? true) {
          const opensMs = row.start_at.getTime() - lot.policy.earlyArrivalMinutes * 60_000;
          if (input.atMs < opensMs)
            return done(refuse(409, 'too_early', `admission opens at ${toIso(opensMs)}`));
          if (input.atMs >= row.end_at.getTime())
            return done(refuse(409, 'reservation_ended', `reservation ended at ${iso(row.end_at)}`));
        }
        const updated = await setStatus(q, row, 'CHECKED_IN', 'checked_in', input.atMs, {
          checked_in_at: new Date(input.atMs),
        });
        return done(ok(toView(updated)));
      });
    },

    async depart(input) {
      const lot = await lots.get(input.lotId);
      if (lot === null) return refuse(404, 'lot_not_found', `lot ${input.lotId} not found`);
      const outcome = await tx(async (q) => {
        const replay = await replayFact<DepartureOutcome>(q, input);
        if (replay !== null) return { result: replay, paymentId: null };
        const row = await findForFact(q, input, ['CHECKED_IN'], lot.policy.earlyArrivalMinutes);
        const done = async (o: Result<DepartureOutcome, Refusal>, paymentId: string | null = null) => ({
          result: await recordFact(q, input, 'departure', row?.id ?? null, o),
          paymentId,
        });
        if (row === null)
          return done(refuse(404, 'reservation_not_found', 'no checked-in reservation matches at this lot'));
        if (row.status !== 'CHECKED_IN')
          return done(refuse(409, 'not_checked_in', `reservation is ${row.status}`));
        if (row.checked_in_at !== null && input.atMs < row.checked_in_at.getTime()) {
          return done(refuse(409, 'before_check_in', 'departure is earlier than the check-in'));
        }
        const overstayMs = input.atMs - row.end_at.getTime();
        const charge = overstayCharge(lot.rates, overstayMs, lot.policy.exitGraceMinutes);
        const chargeAmount = charge.currency === row.currency ? charge.amount : 0;
        // Leaving frees the rest of the window for resale; the whole window is cleared so the
        // bitmap stays exactly the union of the active reservations.
        await releaseSlots(q, row);
        const paymentId = chargeAmount > 0 ? newId(deps.random) : null;
        const updated = await setStatus(
          q,
          row,
          'COMPLETED',
          'completed',
          input.atMs,
          { checked_out_at: new Date(input.atMs), overstay_amount: chargeAmount > 0 ? chargeAmount : null },
          paymentId === null
            ? undefined
            : { id: paymentId, kind: 'overstay', amount: chargeAmount, status: 'pending' },
        );
        return done(
          ok({
            reservation: toView(updated),
            overstayMinutes: Math.max(0, Math.ceil(overstayMs / 60_000)),
            charge: chargeAmount > 0 ? { amount: chargeAmount, currency: row.currency } : null,
            // Early departure: the default policy refunds nothing once the stay has started.
            refund: null,
          }),
          paymentId,
        );
      });
      if (outcome.paymentId !== null) await settlePayment(outcome.paymentId);
      return outcome.result;
    },

    expireHolds(nowMs) {
      return sweep(
        'hold_expiry',
        nowMs,
        `select ${COLS} from reservations where status = 'TENTATIVE' and hold_expires_at <= $1::timestamptz
         order by lot_id, spot_id limit $2 for update skip locked`,
        'EXPIRED',
        'expired',
      );
    },

    markNoShows(nowMs) {
      return sweep(
        'no_show',
        nowMs,
        `select ${COLS.split(',')
          .map((c) => `r.${c.trim()}`)
          .join(', ')}
         from reservations r join lots l on l.id = r.lot_id
         where r.status = 'CONFIRMED'
           and ($1::timestamptz >= r.end_at
             or $1::timestamptz >= r.start_at + make_interval(mins => (l.policy->>'noShowGraceMinutes')::int))
         order by r.lot_id, r.spot_id limit $2 for update of r skip locked`,
        'NO_SHOW',
        'no_show',
      );
    },

    async settlePendingPayments(nowMs) {
      const rows = await db.rows<{ id: string }>(
        `select id from payments where status = 'pending' and created_at <= $1 order by created_at limit 100`,
        [toIso(nowMs - 60_000)],
      );
      let settled = 0;
      for (const { id } of rows) if ((await settlePayment(id)) !== 'skipped') settled++;
      return settled;
    },

    async pruneIdempotencyKeys(nowMs) {
      const r = await db.rows('delete from idempotency_keys where created_at < $1 returning 1', [
        toIso(nowMs - IDEMPOTENCY_RETENTION_MS),
      ]);
      return r.length;
    },
  };
  return repo;
}

function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): { at: string; id: string } | null {
  if (cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = text.indexOf('|');
  if (bar < 0) return null;
  const at = text.slice(0, bar);
  const id = text.slice(bar + 1);
  return Number.isFinite(Date.parse(at)) && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? { at, id } : null;
}

declare module 'fastify' {
  interface FastifyInstance {
    reservations: ReservationRepository;
  }
}

export const reservationsRepository = definePlugin(
  async (app) => {
    app.decorate(
      'reservations',
      createReservationRepository({
        db: app.db,
        clock: app.clock,
        random: app.random,
        logger: app.log,
        metrics: app.metrics,
        payments: app.payments,
        lots: app.lots,
        signing: app.config.signing,
      }),
    );
  },
  {
    name: 'repo-reservations',
    dependencies: ['core', 'db', 'metrics', 'payments', 'repo-lots', 'repo-changes'],
  },
);
