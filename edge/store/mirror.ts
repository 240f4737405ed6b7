import { LotBitmap } from '../../protocol/bitmap.js';
import type { Clock } from '../../protocol/clock.js';
import type { PublicKeyEntry } from '../../protocol/credential.js';
import {
  ACTIVE_STATUSES,
  type LotConfig,
  type Reservation,
  type VehicleType,
} from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Change } from '../../protocol/mqtt.js';
import { SLOT_MS, slotOf } from '../../protocol/slots.js';
import type { Permit } from '../../protocol/permits.js';
import type { Journal } from './journal.js';
import { type MirrorPermit, PermitMirror } from './permits.js';
import { LotIndex } from './lot-index.js';
import { type ReservationRow, storedPlate, toReservation } from './rows.js';
import type { ApplyResult } from '../sync/ports.js';
import type { MirrorReservation, StoredConfig } from './types.js';

const SLOTS_PER_DAY = 96;
const ACTIVE = new Set<string>(ACTIVE_STATUSES);

export interface LotFileConfig {
  lot: LotConfig;
  publicKeys: PublicKeyEntry[];
}

export interface MirrorStoreOptions {
  journal: Journal;
  lotId: string;
  clock: Clock;
  logger: Logger;
  /** The lot config from the local file (version 0); used until the cloud delivers a newer one. */
  fileConfig: LotFileConfig;
}

function prepareStatements(db: Journal['db']) {
  return {
    latestConfig: db.prepare<[], { version: number; source: string; body: string }>(
      'SELECT version, source, body FROM lot_config ORDER BY version DESC LIMIT 1',
    ),
    insertConfig: db.prepare(
      'INSERT OR REPLACE INTO lot_config (version, source, body, applied_at) VALUES (?, ?, ?, ?)',
    ),
    clearSpots: db.prepare('DELETE FROM spots'),
    insertSpot: db.prepare('INSERT INTO spots (id, idx, label, level, type, pool) VALUES (?, ?, ?, ?, ?, ?)'),
    reservationById: db.prepare<[string], ReservationRow>('SELECT * FROM reservations WHERE id = ?'),
    reservationsForPlate: db.prepare<[string, number, number], ReservationRow>(
      `SELECT * FROM reservations WHERE plate = ? AND end_ms > ? AND start_ms < ?
       AND status IN ('CONFIRMED', 'CHECKED_IN') ORDER BY start_ms LIMIT 16`,
    ),
    // Narrow and raw: the rebuild touches every active row, so it allocates as little as possible.
    activeWindows: db
      .prepare<[number], [string, string, number, number]>(
        `SELECT id, spot_id, start_ms, end_ms FROM reservations
        WHERE end_ms > ? AND status IN ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN')`,
      )
      .raw(),
    upsertReservation: db.prepare(
      `INSERT INTO reservations (id, spot_id, spot_label, vehicle_type, plate, start_ms, end_ms, status, kind,
       price_amount, price_currency, seq, updated_at)
     VALUES (@id, @spot_id, @spot_label, @vehicle_type, @plate, @start_ms, @end_ms, @status, @kind,
       @price_amount, @price_currency, @seq, @updated_at)
     ON CONFLICT (id) DO UPDATE SET spot_id = excluded.spot_id, spot_label = excluded.spot_label,
       vehicle_type = excluded.vehicle_type, plate = excluded.plate, start_ms = excluded.start_ms,
       end_ms = excluded.end_ms, status = excluded.status, kind = excluded.kind,
       price_amount = excluded.price_amount, price_currency = excluded.price_currency,
       seq = max(reservations.seq, excluded.seq), updated_at = excluded.updated_at`,
    ),
    deactivateMissing: db.prepare(
      `UPDATE reservations SET status = 'CANCELLED', updated_at = ?
      WHERE status IN ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN')
        AND id NOT IN (SELECT value FROM json_each(?))`,
    ),
  };
}

/**
 * The cloud's bookings as this lot sees them: the lot config, its spot index, the reservation
 * mirror with its change cursor, and the in-memory occupancy bitmap derived from it.
 */
export class MirrorStore {
  readonly lotId: string;
  readonly #journal: Journal;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #q: ReturnType<typeof prepareStatements>;
  #config!: StoredConfig;
  #index!: LotIndex;
  #bitmap!: LotBitmap;
  readonly #permits: PermitMirror;

  constructor(opts: MirrorStoreOptions) {
    this.lotId = opts.lotId;
    this.#journal = opts.journal;
    this.#clock = opts.clock;
    this.#log = opts.logger;
    this.#q = prepareStatements(opts.journal.db);
    this.#permits = new PermitMirror(opts.journal);
    this.#loadConfig(opts.fileConfig);
  }

  // -------------------------------------------------------------------------------------------
  // Config and spots

  #loadConfig(file: LotFileConfig): void {
    if (file.lot.id !== this.lotId)
      throw new Error(`lot config is for ${file.lot.id}, this edge is ${this.lotId}`);
    const row = this.#q.latestConfig.get();
    if (row && row.version > 0) {
      const body = JSON.parse(row.body) as LotFileConfig;
      this.#install({ version: row.version, source: 'sync', lot: body.lot, publicKeys: body.publicKeys });
      return;
    }
    // No cloud config yet: the local file is version 0 and is re-read on every start.
    const config: StoredConfig = { version: 0, source: 'file', lot: file.lot, publicKeys: file.publicKeys };
    this.#journal.write(() => this.#persistConfig(config));
    this.#install(config);
  }

  #persistConfig(config: StoredConfig): void {
    this.#q.insertConfig.run(
      config.version,
      config.source,
      JSON.stringify({ lot: config.lot, publicKeys: config.publicKeys }),
      this.#clock.now(),
    );
    this.#q.clearSpots.run();
    config.lot.spots.forEach((s, i) => {
      this.#q.insertSpot.run(s.id, i, s.label, s.level, s.type, s.pool);
    });
  }

  #install(config: StoredConfig): void {
    this.#config = config;
    this.#index = new LotIndex(config.lot);
    this.rebuildBitmap();
  }

  config(): StoredConfig {
    return this.#config;
  }

  lotIndex(): LotIndex {
    return this.#index;
  }

  /** A cloud config: applied only when newer than what is installed. */
  setConfig(body: { version: number } & LotFileConfig): { applied: boolean } {
    if (body.lot.id !== this.lotId)
      throw new Error(`config for lot ${body.lot.id} delivered to ${this.lotId}`);
    if (this.#config.source === 'sync' && body.version <= this.#config.version) return { applied: false };
    const config: StoredConfig = {
      version: body.version,
      source: 'sync',
      lot: body.lot,
      publicKeys: body.publicKeys,
    };
    this.#journal.write(() => this.#persistConfig(config));
    this.#install(config);
    this.#log.info({ version: body.version, spots: body.lot.spots.length }, 'lot config installed');
    return { applied: true };
  }

  // -------------------------------------------------------------------------------------------
  // The occupancy bitmap

  /** Rebuild the in-memory bitmap from the reservation mirror (at open, on config change, daily). */
  rebuildBitmap(): void {
    const policy = this.#config.lot.policy;
    const nowSlot = slotOf(this.#clock.now());
    const base = nowSlot - SLOTS_PER_DAY;
    const span = (policy.bookingHorizonDays + 2) * SLOTS_PER_DAY + Math.ceil(policy.maxDurationMinutes / 15);
    this.#bitmap = new LotBitmap(this.#index.spots.length, base, span);
    for (const [id, spotId, startMs, endMs] of this.#q.activeWindows.iterate(base * SLOT_MS)) {
      this.#setBits({ id, spotId, startMs, endMs });
    }
  }

  bitmap(): LotBitmap {
    return this.#bitmap;
  }

  /** The bitmap, first slid forward when a day has passed since its base. */
  freshBitmap(): LotBitmap {
    // Slide a day at a time; a rebuild (not rebase) re-sets reservations that reach the new tail.
    if (slotOf(this.#clock.now()) - this.#bitmap.baseSlot > 2 * SLOTS_PER_DAY) this.rebuildBitmap();
    return this.#bitmap;
  }

  #setBits(r: Pick<MirrorReservation, 'id' | 'spotId' | 'startMs' | 'endMs'>): void {
    const idx = this.#index.indexById.get(r.spotId);
    if (idx === undefined) return;
    const b = this.#bitmap;
    const s = Math.max(slotOf(r.startMs), b.baseSlot);
    const e = Math.min(Math.ceil(r.endMs / SLOT_MS), b.baseSlot + b.slotSpan);
    if (e <= s) return;
    if (!b.isFree(idx, s, e)) {
      // The cloud is the authority; a conflict here means a bug somewhere, so shout.
      this.#log.error({ reservationId: r.id, spotId: r.spotId }, 'mirror double booking: spot already held');
    }
    b.reserve(idx, s, e);
  }

  #clearBits(r: MirrorReservation): void {
    const idx = this.#index.indexById.get(r.spotId);
    if (idx === undefined) return;
    this.#bitmap.release(idx, slotOf(r.startMs), Math.ceil(r.endMs / SLOT_MS));
  }

  #afterUpsert(old: MirrorReservation | undefined, next: MirrorReservation): void {
    if (old && ACTIVE.has(old.status)) this.#clearBits(old);
    if (ACTIVE.has(next.status)) this.#setBits(next);
  }

  // -------------------------------------------------------------------------------------------
  // Hot reads for the gate decision (StoreView)

  reservationById(id: string): MirrorReservation | undefined {
    const r = this.#q.reservationById.get(id);
    return r ? toReservation(r) : undefined;
  }

  reservationsForPlate(plate: string, fromMs: number, toMs: number): MirrorReservation[] {
    return this.#q.reservationsForPlate.all(plate, fromMs, toMs).map(toReservation);
  }

  permitById(id: string): MirrorPermit | undefined {
    return this.#permits.byId(id);
  }

  permitsForPlate(plate: string): MirrorPermit[] {
    return this.#permits.forPlate(plate);
  }

  bookableFree(vehicleType: VehicleType, startSlot: number, endSlot: number): number {
    const bitmap = this.freshBitmap();
    const candidates = this.#index.bookableFor.get(vehicleType);
    if (!candidates || candidates.length === 0) return 0;
    return bitmap.countFree(candidates, startSlot, endSlot);
  }

  // -------------------------------------------------------------------------------------------
  // Sync: booking changes down, cursor, snapshot

  #upsert(r: Reservation, seq: number): MirrorReservation {
    const row = {
      id: r.id,
      spot_id: r.spotId,
      spot_label: r.spotLabel,
      vehicle_type: r.vehicleType,
      plate: storedPlate(r.plate),
      start_ms: Date.parse(r.start),
      end_ms: Date.parse(r.end),
      status: r.status,
      kind: r.kind,
      price_amount: r.price.amount,
      price_currency: r.price.currency,
      seq,
      updated_at: this.#clock.now(),
    };
    this.#q.upsertReservation.run(row);
    return toReservation(row);
  }

  /** A reservation learnt outside the change stream (an online overflow grant); the stream's copy wins later. */
  upsertLocalReservation(r: Reservation): void {
    this.#journal.write(() => {
      const old = this.#q.reservationById.get(r.id);
      const next = this.#upsert(r, old?.seq ?? 0);
      this.#afterUpsert(old ? toReservation(old) : undefined, next);
    });
  }

  getCursor(): number {
    return this.#journal.counter('last_seq');
  }

  /**
   * Apply booking changes in seq order, idempotently, together with the cursor in one transaction.
   * Already-applied seqs are skipped; at the first gap the batch stops and gapFrom is the cursor there.
   */
  applyChanges(changes: readonly Change[]): ApplyResult {
    const sorted = [...changes].sort((a, b) => a.seq - b.seq);
    const touched: Array<{ old: MirrorReservation | undefined; next: MirrorReservation }> = [];
    const result = this.#journal.write(() => {
      let cursor = this.getCursor();
      let applied = 0;
      let skipped = 0;
      let gapFrom: number | undefined;
      for (const c of sorted) {
        if (c.seq <= cursor) {
          skipped++;
          continue;
        }
        if (c.seq > cursor + 1) {
          gapFrom = cursor;
          break;
        }
        if ('permit' in c) {
          if (c.permit.lotId === this.lotId) this.#permits.upsert(c.permit, c.seq, this.#clock.now());
          else this.#log.warn({ seq: c.seq, lotId: c.permit.lotId }, 'permit change for another lot ignored');
        } else if (c.reservation.lotId === this.lotId) {
          const old = this.#q.reservationById.get(c.reservation.id);
          touched.push({
            old: old ? toReservation(old) : undefined,
            next: this.#upsert(c.reservation, c.seq),
          });
        } else {
          this.#log.warn({ seq: c.seq, lotId: c.reservation.lotId }, 'change for another lot ignored');
        }
        cursor = c.seq;
        applied++;
      }
      this.#journal.setCounter('last_seq', cursor);
      return gapFrom === undefined ? { applied, skipped } : { applied, skipped, gapFrom };
    });
    // The bitmap is memory only: update it once the rows are durable.
    for (const t of touched) this.#afterUpsert(t.old, t.next);
    return result;
  }

  /**
   * Replace the mirror's active reservations with a full snapshot (all parts concatenated) and set
   * the cursor to asOfSeq. Active rows missing from the snapshot are no longer active in the cloud:
   * they are marked CANCELLED so a QR for them is refused.
   */
  applySnapshot(snapshot: {
    asOfSeq: number;
    reservations: readonly Reservation[];
    /** Absent from an older cloud: the permits stay as they are. */
    permits?: readonly Permit[] | undefined;
  }): { applied: number } {
    const now = this.#clock.now();
    const ids = snapshot.reservations.filter((r) => r.lotId === this.lotId).map((r) => r.id);
    this.#journal.write(() => {
      this.#q.deactivateMissing.run(now, JSON.stringify(ids));
      for (const r of snapshot.reservations) {
        if (r.lotId === this.lotId) this.#upsert(r, snapshot.asOfSeq);
      }
      if (snapshot.permits !== undefined) {
        const mine = snapshot.permits.filter((p) => p.lotId === this.lotId);
        this.#permits.replaceAll(mine, snapshot.asOfSeq, now);
      }
      this.#journal.setCounter('last_seq', snapshot.asOfSeq);
    });
    this.rebuildBitmap();
    return { applied: ids.length };
  }
}
