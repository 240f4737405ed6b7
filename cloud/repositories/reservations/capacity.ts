import { clearRange, rangeIsFree, setRange, wordsForSlots } from '../../../protocol/bitmap.js';
import type { Clock } from '../../../protocol/clock.js';
import { ELIGIBLE_SPOT_TYPES, type VehicleType } from '../../../protocol/domain.js';
import type { Logger } from '../../../protocol/logger.js';
import { bookingPrice } from '../../../protocol/pricing.js';
import type { SlotWindow } from '../../../protocol/slots.js';
import type { Queryable } from '../../db/database.js';
import type { LotRecord } from '../lots.js';
import { type BitRange, bitRange, VARBIT_SEND_SQL, varbitWords } from '../spot-bitmaps.js';
import type { Quote } from './types.js';

/**
 * Capacity from memory: a lot's bookable spot bitmaps, read at most once per `maxAgeMs` and judged
 * with the protocol's bitmap operations (as the edge does), so a capacity check costs microseconds
 * and no database work, whatever the lot's size.
 *
 * How old an answer can be: this instance's own holds and releases are applied to the snapshot as
 * they are written; other instances' changes show within `maxAgeMs` (≤ 1 s), when the snapshot is
 * read again; a change to the lot's configuration (its version) reloads at once. It is an answer
 * for a search page only: a booking never relies on it (reserve_hold decides under the row lock).
 */

interface SpotBits {
  types: string;
  words: Uint32Array;
}

interface Snapshot {
  version: number;
  loadedAt: number;
  spots: Map<string, SpotBits>;
  /** The same spots in a fixed order, for candidates started at any index. */
  order: [string, SpotBits][];
}

interface LotState {
  snapshot: Snapshot | null;
  loading: Promise<Snapshot> | null;
  /** Own changes written while a load was in flight: replayed onto what it returns. */
  replay: ((s: Snapshot) => void)[];
}

export interface CapacityCache {
  quote(lot: LotRecord, vehicleType: VehicleType, w: SlotWindow): Promise<Quote>;
  /** This instance held (or released) a window of a spot. */
  patch(lotId: string, spotId: string, bits: BitRange, held: boolean): void;
  /**
   * Up to `CANDIDATES` eligible spots the snapshot calls free for the window, scanned from a place
   * derived from `key` (concurrent bookings reach for different spots): hints for reserve_hold,
   * which checks each under its row lock. Never waits: with no snapshot of the lot's current
   * version it answers none and loads one in the background (as it does when the snapshot ages).
   */
  candidates(lot: LotRecord, vehicleType: VehicleType, bits: BitRange, key: string): string[];
}

/** How many candidates a booking offers reserve_hold: enough that a few taken meanwhile do not matter. */
export const CANDIDATES = 4;

/** 32-bit FNV-1a: where a booking starts looking, spread by its (random) id. */
function startIndex(key: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}

const LOAD_SQL = `select id, type, ${VARBIT_SEND_SQL} as bits from spots where lot_id = $1 and pool = 'bookable'`;

/** Reload in the background once a snapshot is this share of maxAge old, before it expires. */
const REFRESH_AT = 0.8;

function applyPatch(s: Snapshot, spotId: string, r: BitRange, held: boolean): void {
  const spot = s.spots.get(spotId);
  if (spot === undefined || r.len === 0) return;
  const end = r.from + r.len;
  if (held && spot.words.length * 32 < end) {
    const grown = new Uint32Array(wordsForSlots(end));
    grown.set(spot.words);
    spot.words = grown;
  }
  const to = Math.min(end, spot.words.length * 32);
  if (held) setRange(spot.words, 0, r.from, to);
  else if (r.from < to) clearRange(spot.words, 0, r.from, to);
}

/** Free for the whole window: bits past the end of a stored bitmap are free. */
function isFree(spot: SpotBits, r: BitRange): boolean {
  const to = Math.min(r.from + r.len, spot.words.length * 32);
  return r.from >= to || rangeIsFree(spot.words, 0, r.from, to);
}

/** Up to CANDIDATES eligible spots free for the window, scanned from a place derived from `key`. */
function freeSpots(s: Snapshot, vehicleType: VehicleType, bits: BitRange, key: string): string[] {
  const n = s.order.length;
  if (n === 0) return [];
  const eligible: readonly string[] = ELIGIBLE_SPOT_TYPES[vehicleType];
  const found: string[] = [];
  const start = startIndex(key, n);
  for (let i = 0; i < n && found.length < CANDIDATES; i++) {
    const [id, spot] = s.order[(start + i) % n]!;
    if (eligible.includes(spot.types) && isFree(spot, bits)) found.push(id);
  }
  return found;
}

export function createCapacityCache(deps: {
  db: { pooled: Queryable };
  clock: Clock;
  log: Logger;
  maxAgeMs: number;
}): CapacityCache {
  const { db, clock, log, maxAgeMs } = deps;
  const lots = new Map<string, LotState>();

  function stateOf(lotId: string): LotState {
    let st = lots.get(lotId);
    if (st === undefined) {
      st = { snapshot: null, loading: null, replay: [] };
      lots.set(lotId, st);
    }
    return st;
  }

  function load(lot: LotRecord, st: LotState): Promise<Snapshot> {
    if (st.loading !== null) return st.loading;
    st.replay = [];
    const loadedAt = clock.now();
    const loading = db.pooled
      .query<{ id: string; type: string; bits: Buffer }>(LOAD_SQL, [lot.id])
      .then((r) => {
        const spots = new Map<string, SpotBits>();
        for (const row of r.rows) spots.set(row.id, { types: row.type, words: varbitWords(row.bits) });
        const snapshot: Snapshot = { version: lot.version, loadedAt, spots, order: [...spots] };
        for (const replay of st.replay) replay(snapshot);
        st.snapshot = snapshot;
        return snapshot;
      })
      .finally(() => {
        st.loading = null;
        st.replay = [];
      });
    st.loading = loading;
    return loading;
  }

  /** Reload without waiting (the current snapshot answers meanwhile). */
  function refreshInBackground(lot: LotRecord, st: LotState): void {
    load(lot, st).catch((err: unknown) => log.warn({ err, lotId: lot.id }, 'capacity refresh failed'));
  }

  async function current(lot: LotRecord): Promise<Snapshot> {
    const st = stateOf(lot.id);
    const s = st.snapshot;
    const age = s === null ? Number.POSITIVE_INFINITY : clock.now() - s.loadedAt;
    if (s === null || s.version !== lot.version || age >= maxAgeMs) return load(lot, st);
    if (age >= maxAgeMs * REFRESH_AT) {
      refreshInBackground(lot, st);
    }
    return s;
  }

  return {
    async quote(lot, vehicleType, w) {
      const s = await current(lot);
      const r = bitRange(lot.baseSlot, w);
      const eligible = new Set<string>(ELIGIBLE_SPOT_TYPES[vehicleType]);
      let total = 0;
      let available = 0;
      for (const spot of s.spots.values()) {
        if (!eligible.has(spot.types)) continue;
        total++;
        if (isFree(spot, r)) available++;
      }
      const occupancyPct = total === 0 ? 100 : Math.floor(((total - available) * 100) / total);
      return { available, total, price: bookingPrice(lot, vehicleType, w, occupancyPct).total };
    },
    candidates(lot, vehicleType, bits, key) {
      if (maxAgeMs <= 0) return [];
      const st = stateOf(lot.id);
      const s = st.snapshot;
      if (s === null || s.version !== lot.version || clock.now() - s.loadedAt >= maxAgeMs * REFRESH_AT) {
        refreshInBackground(lot, st);
      }
      return s === null || s.version !== lot.version ? [] : freeSpots(s, vehicleType, bits, key);
    },
    patch(lotId, spotId, bits, held) {
      const st = lots.get(lotId);
      if (st === undefined) return;
      if (st.snapshot !== null) applyPatch(st.snapshot, spotId, bits, held);
      if (st.loading !== null) st.replay.push((s) => applyPatch(s, spotId, bits, held));
    },
  };
}
