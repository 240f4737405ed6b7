import { ELIGIBLE_SPOT_TYPES, type LotConfig, type Spot, type VehicleType } from '../../protocol/domain.js';

/** Spot lookups derived from one config version. */
export class LotIndex {
  readonly spots: readonly Spot[];
  readonly indexById: ReadonlyMap<string, number>;
  /** Bookable spot indices eligible per vehicle type, in config order. */
  readonly bookableFor: ReadonlyMap<VehicleType, Int32Array>;
  readonly bookable: Int32Array;
  readonly driveupCount: number;
  /** Spots of the permit pool (docs/permits.md). */
  readonly permitCount: number;

  constructor(lot: LotConfig) {
    this.spots = lot.spots;
    this.indexById = new Map(lot.spots.map((s, i) => [s.id, i]));
    const bookable: number[] = [];
    let driveup = 0;
    let permit = 0;
    lot.spots.forEach((s, i) => {
      if (s.pool === 'bookable') bookable.push(i);
      else if (s.pool === 'permit') permit++;
      else driveup++;
    });
    this.permitCount = permit;
    this.bookable = Int32Array.from(bookable);
    this.driveupCount = driveup;
    const byType = new Map<VehicleType, Int32Array>();
    for (const vt of Object.keys(ELIGIBLE_SPOT_TYPES) as VehicleType[]) {
      const eligible = ELIGIBLE_SPOT_TYPES[vt];
      byType.set(vt, Int32Array.from(bookable.filter((i) => eligible.includes(lot.spots[i]!.type))));
    }
    this.bookableFor = byType;
  }
}
