import t from 'tap';
import type { LotBitmap } from '../../protocol/bitmap.js';
import type { LotConfig, Spot } from '../../protocol/domain.js';
import { LotIndex } from '../store/lot-index.js';
import { occupancyOf } from '../store/occupancy.js';

/** Drive-ups have no spot: per level and spot type they are spread over the drive-up spots. */

const spot = (id: string, level: string, type: Spot['type'], pool: Spot['pool']): Spot =>
  ({ id, label: id, level, type, pool }) as Spot;

function lot(spots: Spot[]): LotIndex {
  return new LotIndex({ spots } as unknown as LotConfig);
}

const allFree = { isFree: () => true } as unknown as LotBitmap;

t.test('drive-ups inside are counted per level and spot type, whole vehicles, exact sum', async (t) => {
  const index = lot([
    spot('B1', '0', 'car', 'bookable'),
    ...['A', 'B', 'C'].map((s) => spot(`G${s}`, '0', 'car', 'driveup')),
    spot('U1', '1', 'car', 'driveup'),
    spot('M1', '1', 'motorcycle', 'driveup'),
  ]);
  const o = occupancyOf({ index, bitmap: allFree, nowMs: 0, driveupInside: 3, vehiclesInside: 3 });
  t.same(
    o.levels.map((g) => [g.key, g.driveupSpots, g.driveupInside, g.free]),
    [
      ['0', 3, 2, 2],
      ['1', 2, 1, 1],
    ],
  );
  const sum = (gs: typeof o.levels) => gs.reduce((n, g) => n + g.driveupInside, 0);
  t.equal(sum(o.levels), 3, 'every drive-up counted once by level');
  t.equal(sum(o.spotTypes), 3, 'and once by spot type');
  t.equal(o.spotTypes.find((g) => g.key === 'car')?.driveupInside, 2, 'car spots: 4 of 5 drive-up spots');

  const over = occupancyOf({ index, bitmap: allFree, nowMs: 0, driveupInside: 9, vehiclesInside: 9 });
  t.same(
    over.levels.map((g) => [g.driveupInside, g.free]),
    [
      [3, 1],
      [2, 0],
    ],
    'more drive-ups than spots: each group full, never above its spots',
  );
});
