/**
 * The benchmark lot for the edge: 2,000 spots, 50,000 reservations in the mirror, 200,000 past
 * gate events in the outbox (and 100,000 past sessions), on a SQLite file. Shared by
 * bench/edge.bench.ts and the footprint child it spawns.
 */
import { join } from 'node:path';
import { TestClock } from '../protocol/clock.js';
import { type LotConfig, LotConfigSchema, type Reservation } from '../protocol/domain.js';
import { silentLogger } from '../protocol/logger.js';
import type { Change } from '../protocol/mqtt.js';
import { EdgeStore } from '../edge/store/store.js';
import type { PublicKeyEntry } from '../protocol/credential.js';

export const BENCH_LOT_ID = 'lot-bench';
export const SPOTS = 2_000;
/** Spots not sold to bookings: the drive-up pool and, out of it, the permit pool. */
export const DRIVEUP_SPOTS = 300;
export const PERMIT_SPOTS = 100;
export const RESERVATIONS = 50_000;
export const PAST_EVENTS = 200_000;
export const PAST_SESSIONS = 100_000;
/** 2025-06-02T10:00:00Z */
export const NOW = Date.UTC(2025, 5, 2, 10, 0, 0);
const HOUR = 3_600_000;

export function benchLot(): LotConfig {
  return LotConfigSchema.parse({
    id: BENCH_LOT_ID,
    name: 'Bench Lot',
    timeZone: 'Europe/Amsterdam',
    location: { lat: 52.37, lng: 4.9 },
    rates: { currency: 'EUR', hourlyRate: 400, dailyMax: 3000, dynamicPricing: null },
    spots: Array.from({ length: SPOTS }, (_, i) => ({
      id: `S${i}`,
      label: `L${Math.floor(i / 500)}-${i}`,
      level: String(Math.floor(i / 500)),
      type: i % 50 === 0 ? 'ev' : 'car',
      // The last PERMIT_SPOTS of the non-bookable tail are the permit pool (docs/permits.md).
      pool: i < SPOTS - DRIVEUP_SPOTS ? 'bookable' : i < SPOTS - PERMIT_SPOTS ? 'driveup' : 'permit',
    })),
  });
}

export const plateOf = (i: number) => `P${String(i).padStart(6, '0')}`;

/**
 * Reservation i: bookable spot i % 1700, the (i / 1700)-th 3-hour block on that spot, starting
 * 6 hours ago; 2 hours long, so no two overlap. Every 10th is completed, every 25th cancelled.
 */
export function benchReservation(i: number): Reservation {
  const bookable = SPOTS - DRIVEUP_SPOTS;
  const spot = i % bookable;
  const block = Math.floor(i / bookable);
  const start = NOW - 6 * HOUR + block * 3 * HOUR;
  return {
    id: `res-${i}`,
    lotId: BENCH_LOT_ID,
    spotId: `S${spot}`,
    spotLabel: `L${Math.floor(spot / 500)}-${spot}`,
    vehicleType: 'car',
    plate: plateOf(i),
    start: new Date(start).toISOString(),
    end: new Date(start + 2 * HOUR).toISOString(),
    status: i % 25 === 0 ? 'CANCELLED' : i % 10 === 0 ? 'COMPLETED' : 'CONFIRMED',
    kind: 'booking',
    price: { amount: 800, currency: 'EUR' },
  };
}

/** Reservations whose window [start - 15 min, end) contains NOW (block 2: NOW-0h … NOW+2h). */
export function openNowIndices(): number[] {
  const bookable = SPOTS - DRIVEUP_SPOTS;
  const out: number[] = [];
  for (let i = 2 * bookable; i < 3 * bookable && i < RESERVATIONS; i++) {
    if (i % 25 !== 0 && i % 10 !== 0) out.push(i);
  }
  return out;
}

export function openBenchStore(
  dir: string,
  publicKeys: PublicKeyEntry[],
): { store: EdgeStore; clock: TestClock; path: string } {
  const clock = new TestClock(NOW);
  const path = join(dir, 'bench-edge.sqlite');
  const store = EdgeStore.open({
    path,
    lotId: BENCH_LOT_ID,
    clock,
    logger: silentLogger(),
    fileConfig: { lot: benchLot(), publicKeys },
  });
  return { store, clock, path };
}

/** Fill an empty bench store: reservations through the sync path, history by bulk insert. */
export function populate(store: EdgeStore): void {
  const at = new Date(NOW).toISOString();
  for (let from = 0; from < RESERVATIONS; from += 2000) {
    const changes: Change[] = [];
    for (let i = from; i < Math.min(RESERVATIONS, from + 2000); i++) {
      changes.push({ seq: i + 1, at, reason: 'confirmed', reservation: benchReservation(i) });
    }
    store.mirror.applyChanges(changes);
  }
  const db = store.db;
  db.transaction(() => {
    const insertEvent = db.prepare(
      'INSERT INTO outbox (event_id, kind, at, lane_id, correlation_id, payload) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const insertSession = db.prepare(
      `INSERT INTO sessions (id, kind, reservation_id, plate, credential, pool, entered_at, entry_event_id,
         exited_at, exit_event_id, closed_reason) VALUES (?, 'driveup', NULL, ?, 'driveup', 'driveup', ?, ?, ?, ?, 'exit')`,
    );
    for (let id = 1; id <= PAST_EVENTS; id++) {
      const t = NOW - 30 * 24 * HOUR + id * 10_000;
      const payload = {
        eventId: id,
        kind: 'entry',
        at: new Date(t).toISOString(),
        laneId: 'in-1',
        correlationId: `c${id}`,
        sessionId: `past-${Math.ceil(id / 2)}`,
        reservationId: null,
        plate: `H${id % 100_000}`,
        credential: 'driveup',
        pool: 'driveup',
        spotId: null,
        overflowReservationId: null,
      };
      insertEvent.run(id, id % 2 ? 'entry' : 'exit', t, 'in-1', `c${id}`, JSON.stringify(payload));
      if (id % 2 === 0) insertSession.run(`past-${id / 2}`, `H${id % 100_000}`, t - 10_000, id - 1, t, id);
    }
    db.prepare("UPDATE counters SET value = ? WHERE name IN ('last_event_id', 'acked_event_id')").run(
      PAST_EVENTS,
    );
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.exec('ANALYZE');
}

/** Plate of the bench's permit `i` (no booking holds it). */
export const permitPlateOf = (i: number): string => `PM${String(i).padStart(5, '0')}`;

/**
 * 2,000 permits through the sync path, after `populate`: valid a month around NOW, weekday and
 * Saturday access hours that include NOW, up to 3 vehicles each. Returns their ids.
 */
export function populatePermits(store: EdgeStore, count = 2000): string[] {
  const at = new Date(NOW).toISOString();
  const first = store.mirror.getCursor() + 1;
  const ids = Array.from({ length: count }, (_, i) => `permit-${i}`);
  const changes: Change[] = ids.map((id, i) => ({
    seq: first + i,
    at,
    reason: 'permit_issued',
    permit: {
      id,
      lotId: BENCH_LOT_ID,
      holder: `Holder ${i}`,
      plates: [permitPlateOf(i)],
      validFrom: new Date(NOW - 86_400_000).toISOString(),
      validTo: new Date(NOW + 30 * 86_400_000).toISOString(),
      accessHours: [
        { days: [1, 2, 3, 4, 5], from: '00:00', to: '24:00' },
        { days: [6, 7], from: '00:00', to: '24:00' },
      ],
      maxInside: 3,
      price: { amount: 9000, currency: 'EUR' },
      period: 'month',
      status: 'active',
      version: 1,
    },
  }));
  store.mirror.applyChanges(changes);
  return ids;
}
