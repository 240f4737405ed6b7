import type { VehicleType } from './domain.js';
import type { Money } from './money.js';
import { effectivePlan, type PricedLot, priceOverstay, priceStay } from './pricing.js';

/**
 * What leaving costs, by the lot's rate plan and the same pricing functions the edge's exit lane
 * uses (edge/lane/exit-fee.ts), so the cloud quotes an exit fee from the lot's session data exactly
 * as the lane would charge it: a drive-up pays its stay from entry to now (priced as a car, as the
 * lane does: a session carries no vehicle type); a booking pays only its overstay past the exit grace.
 * A merchant validation redeemed at the lot is applied there, not here (the quote can be higher).
 */
export function driveUpFee(lot: PricedLot, enteredAtMs: number, nowMs: number): Money {
  return priceStay(
    effectivePlan(lot),
    { entryMs: enteredAtMs, exitMs: nowMs, vehicleType: 'car' },
    lot.timeZone,
  ).total;
}

export function bookingExitFee(
  lot: PricedLot,
  booked: { endMs: number; vehicleType: VehicleType },
  nowMs: number,
  graceMinutes: number,
): Money {
  return priceOverstay(effectivePlan(lot), { ...booked, exitMs: nowMs }, graceMinutes, lot.timeZone).total;
}
