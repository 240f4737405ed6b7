import type { LotBitmap } from '../../protocol/bitmap.js';
import { slotOf } from '../../protocol/slots.js';
import type { LotIndex } from './lot-index.js';
import { iso } from './rows.js';
import type { Occupancy, OccupancyGroup } from './types.js';

/** Occupancy now, per pool, level and spot type: bookable spots held in the bitmap, drive-ups inside. */
export function occupancyOf(o: {
  index: LotIndex;
  bitmap: LotBitmap;
  nowMs: number;
  driveupInside: number;
  vehiclesInside: number;
}): Occupancy {
  const { index, bitmap } = o;
  const slot = slotOf(o.nowMs);
  const levels = new Map<string, OccupancyGroup>();
  const types = new Map<string, OccupancyGroup>();
  let bookableHeld = 0;
  index.spots.forEach((spot, i) => {
    const held = spot.pool === 'bookable' && !bitmap.isFree(i, slot, slot + 1) ? 1 : 0;
    bookableHeld += held;
    for (const [map, key] of [
      [levels, spot.level],
      [types, spot.type],
    ] as const) {
      const g = map.get(key) ?? { key, total: 0, held: 0 };
      g.total++;
      g.held += held;
      map.set(key, g);
    }
  });
  const driveupFree = Math.max(0, index.driveupCount - o.driveupInside);
  const bookableTotal = index.bookable.length;
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
    },
    levels: [...levels.values()],
    spotTypes: [...types.values()],
    vehiclesInside: o.vehiclesInside,
    full: driveupFree === 0,
  };
}
