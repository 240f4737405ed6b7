import type { LotConfig, VehicleType } from '../../protocol/domain.js';
import type { Money } from '../../protocol/money.js';
import { effectivePlan, priceOverstay, priceStay, type StayPrice } from '../../protocol/pricing.js';
import type { VehicleSession } from '../store/types.js';

const MINUTE_MS = 60_000;

export interface ExitFee {
  charge: Money;
  /** The itemised price (rate plan lines) the lane and the attendant show. */
  price: StayPrice;
  overstayMinutes: number;
}

/**
 * What a leaving vehicle's stay costs by the lot's rate plan (protocol/pricing.ts, the function the
 * cloud prices bookings with): a booked car pays the overstay past its window's end (grace is the
 * lot's exitGraceMinutes, a threshold); a drive-up pays its stay from entry to now.
 * `booked` is the mirrored reservation when the mirror knows it (it may carry a later end).
 */
export function exitFee(
  lot: LotConfig,
  session: VehicleSession,
  booked: { endMs: number; vehicleType: VehicleType } | undefined,
  nowMs: number,
): ExitFee {
  const plan = effectivePlan(lot);
  if (session.kind === 'booking') {
    const endMs = booked?.endMs ?? session.reservationEndMs ?? nowMs;
    const vehicleType = booked?.vehicleType ?? 'car';
    const price = priceOverstay(
      plan,
      { endMs, exitMs: nowMs, vehicleType },
      lot.policy.exitGraceMinutes,
      lot.timeZone,
    );
    const overMs = nowMs - endMs;
    return { charge: price.total, price, overstayMinutes: overMs > 0 ? Math.ceil(overMs / MINUTE_MS) : 0 };
  }
  const price = priceStay(
    plan,
    { entryMs: session.enteredAt, exitMs: nowMs, vehicleType: 'car' },
    lot.timeZone,
  );
  return { charge: price.total, price, overstayMinutes: 0 };
}
