import type { Clock } from '../../protocol/clock.js';
import { RateCardSchema } from '../../protocol/domain.js';
import type { RateCard } from '../../protocol/money.js';
import type { Queryable } from '../db/database.js';

/**
 * The lot search (`GET /v1/lots`) from memory: every lot with its bookable spot count, read in one
 * statement at most once per `maxAgeMs` of the injected clock (≤ 1 s), and filtered, sorted and cut
 * here. Before, every search computed each lot's distance and counted every spot of every lot in
 * PostgreSQL — a statement whose cost grew with the number of spots, on the most frequent request.
 *
 * How old an answer can be: a lot created or changed through this instance shows at once (the
 * repository calls `invalidate`); one changed through another instance within `maxAgeMs`. A search
 * page only: booking reads the lot itself (`LotRepository.get`) and decides under the row locks.
 */

export interface LotSummaryRecord {
  id: string;
  name: string;
  timeZone: string;
  location: { lat: number; lng: number };
  rates: RateCard;
  distanceKm: number | null;
  bookableSpots: number;
}

export interface LotQuery {
  lat?: number;
  lng?: number;
  radiusKm?: number;
  limit: number;
}

export interface LotDirectory {
  list(q: LotQuery): Promise<LotSummaryRecord[]>;
  /** This instance created or changed a lot: the next search reads the database again. */
  invalidate(): void;
}

type Entry = Omit<LotSummaryRecord, 'distanceKm'>;

interface Snapshot {
  at: number;
  lots: Entry[];
}

const LOAD_SQL = `select l.id, l.name, l.time_zone, l.lat, l.lng, l.rates, coalesce(c.n, 0)::int as bookable
  from lots l
  left join (select lot_id, count(*) as n from spots where pool = 'bookable' group by lot_id) c on c.lot_id = l.id`;

const EARTH_RADIUS_KM = 6371.0088;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance (haversine), as the search has always computed it. */
export function distanceKm(from: { lat: number; lng: number }, to: { lat: number; lng: number }): number {
  const a =
    Math.sin(rad(to.lat - from.lat) / 2) ** 2 +
    Math.cos(rad(from.lat)) * Math.cos(rad(to.lat)) * Math.sin(rad(to.lng - from.lng) / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Nearest first when a point is given (lots without a distance last), then by name and id. */
function compare(a: LotSummaryRecord, b: LotSummaryRecord): number {
  if (a.distanceKm !== b.distanceKm) {
    if (a.distanceKm === null) return 1;
    if (b.distanceKm === null) return -1;
    return a.distanceKm - b.distanceKm;
  }
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The search over one snapshot: a pure function of the lots and the query. */
export function searchLots(lots: readonly Entry[], q: LotQuery): LotSummaryRecord[] {
  const here = q.lat !== undefined && q.lng !== undefined ? { lat: q.lat, lng: q.lng } : null;
  const found: LotSummaryRecord[] = [];
  for (const lot of lots) {
    const d = here === null ? null : distanceKm(here, lot.location);
    if (q.radiusKm !== undefined && (d === null || d > q.radiusKm)) continue;
    found.push({ ...lot, distanceKm: d });
  }
  found.sort(compare);
  return found.slice(0, q.limit).map((l) => ({
    ...l,
    distanceKm: l.distanceKm === null ? null : Math.round(l.distanceKm * 1000) / 1000,
  }));
}

export function createLotDirectory(deps: {
  db: { pooled: Queryable };
  clock: Clock;
  maxAgeMs: number;
}): LotDirectory {
  const { db, clock, maxAgeMs } = deps;
  let snapshot: Snapshot | null = null;
  let loading: Promise<Snapshot> | null = null;
  /** Bumped by invalidate: a load that started before it is not kept. */
  let generation = 0;

  function load(): Promise<Snapshot> {
    if (loading !== null) return loading;
    const at = clock.now();
    const started = generation;
    const run = db.pooled
      .query<{
        id: string;
        name: string;
        time_zone: string;
        lat: number;
        lng: number;
        rates: unknown;
        bookable: number;
      }>(LOAD_SQL)
      .then((r) => {
        const s: Snapshot = {
          at,
          lots: r.rows.map((row) => ({
            id: row.id,
            name: row.name,
            timeZone: row.time_zone,
            location: { lat: row.lat, lng: row.lng },
            rates: RateCardSchema.parse(row.rates),
            bookableSpots: row.bookable,
          })),
        };
        if (started === generation) snapshot = s;
        return s;
      })
      .finally(() => {
        if (loading === run) loading = null;
      });
    loading = run;
    return run;
  }

  async function current(): Promise<Snapshot> {
    const now = clock.now();
    const s = snapshot;
    // A clock set back (tests, simulations) does not stretch a snapshot's life.
    if (s !== null && now >= s.at && now < s.at + maxAgeMs) return s;
    return load();
  }

  return {
    async list(q) {
      return searchLots((await current()).lots, q);
    },
    invalidate() {
      generation++;
      snapshot = null;
      loading = null;
    },
  };
}
