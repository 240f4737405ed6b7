import type { LotBitmap } from '../../protocol/bitmap.js';
import { slotOf } from '../../protocol/slots.js';
import type { LotIndex } from './lot-index.js';
import { iso } from './rows.js';
import type { Occupancy, OccupancyGroup } from './types.js';

/**
 * Occupancy now, per pool, level and spot type: bookable spots held in the bitmap (reserved now),
 * drive-ups inside. A drive-up has no assigned spot, so its count per level and spot type is the
 * drive-ups inside spread over the groups' drive-up spots (largest remainder: whole vehicles, the
 * sum is exact); with all drive-up spots in one group, that group's count is exact.
 */
export function occupancyOf(o: {
  index: LotIndex;
  bitmap: LotBitmap;
  nowMs: number;
  driveupInside: number;
  /** Permit holders inside the permit pool (docs/permits.md). */
  permitInside?: number;
  vehiclesInside: number;
}): Occupancy {
  const { index, bitmap } = o;
  const slot = slotOf(o.nowMs);
  const levels = new Map<string, OccupancyGroup>();
  const types = new Map<string, OccupancyGroup>();
  let bookableHeld = 0;
  index.spots.forEach((spot, i) => {
    const driveup = spot.pool === 'driveup' ? 1 : 0;
    const held = spot.pool === 'bookable' && !bitmap.isFree(i, slot, slot + 1) ? 1 : 0;
    bookableHeld += held;
    for (const [map, key] of [
      [levels, spot.level],
      [types, spot.type],
    ] as const) {
      const g = map.get(key) ?? { key, total: 0, held: 0, driveupSpots: 0, driveupInside: 0, free: 0 };
      g.total++;
      g.held += held;
      g.driveupSpots += driveup;
      map.set(key, g);
    }
  });
  const placed = Math.min(o.driveupInside, index.driveupCount);
  const driveupFree = Math.max(0, index.driveupCount - o.driveupInside);
  const bookableTotal = index.bookable.length;
  const permitInside = o.permitInside ?? 0;
  return {
    at: iso(o.nowMs),
    pools: {
      bookable: {
        total: bookableTotal,
        held: bookableHeld,
        free: bookableTotal - bookableHeld,
        full: bookableHeld >= bookableTotal,
      },
      driveup: {
        total: index.driveupCount,
        inside: o.driveupInside,
        free: driveupFree,
        full: driveupFree === 0,
      },
      permit: {
        total: index.permitCount,
        inside: permitInside,
        free: Math.max(0, index.permitCount - permitInside),
        full: permitInside >= index.permitCount,
      },
    },
    levels: withDriveups([...levels.values()], placed),
    spotTypes: withDriveups([...types.values()], placed),
    vehiclesInside: o.vehiclesInside,
    full: driveupFree === 0,
  };
}

/** Spread `inside` drive-ups over the groups in proportion to their drive-up spots; then free spots. */
function withDriveups(groups: OccupancyGroup[], inside: number): OccupancyGroup[] {
  const spots = groups.reduce((n, g) => n + g.driveupSpots, 0);
  if (spots > 0) {
    const shares = groups.map((g) => (inside * g.driveupSpots) / spots);
    groups.forEach((g, i) => {
      g.driveupInside = Math.floor(shares[i]!);
    });
    let left = inside - groups.reduce((n, g) => n + g.driveupInside, 0);
    const byRemainder = groups
      .map((g, i) => ({ g, r: shares[i]! - g.driveupInside }))
      .filter(({ g }) => g.driveupInside < g.driveupSpots)
      .sort((a, b) => b.r - a.r);
    for (const { g } of byRemainder) {
      if (left <= 0) break;
      g.driveupInside++;
      left--;
    }
  }
  for (const g of groups) g.free = Math.max(0, g.total - g.held - g.driveupInside);
  return groups;
}
