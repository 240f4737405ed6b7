import type { LotConfig, VehicleType } from '../../protocol/domain.js';
import type { Money } from '../../protocol/money.js';
import { effectivePlan, priceOverstay, priceStay, type StayPrice } from '../../protocol/pricing.js';
import { type ValidationUse, validatedPrice } from '../../protocol/validation.js';
import type { SessionValidation, VehicleSession } from '../store/types.js';

const MINUTE_MS = 60_000;

export interface ExitFee {
  charge: Money;
  /** The itemised price (rate plan lines) the lane and the attendant show. */
  price: StayPrice;
  overstayMinutes: number;
  /** The merchant validation that lowered a drive-up's fee, with what it took off. */
  validation: ValidationUse | null;
}

/**
 * What a leaving vehicle's stay costs by the lot's rate plan (protocol/pricing.ts, the function the
 * cloud prices bookings with): a booked car pays the overstay past its window's end (grace is the
 * lot's exitGraceMinutes, a threshold); a drive-up pays its stay from entry to now, less a merchant
 * validation redeemed on it (docs/pricing.md#validations; bookings are prepaid and not validated);
 * a permit holder pays nothing.
 * `booked` is the mirrored reservation when the mirror knows it (it may carry a later end).
 */
export function exitFee(
  lot: LotConfig,
  session: VehicleSession,
  booked: { endMs: number; vehicleType: VehicleType } | undefined,
  nowMs: number,
  validated?: SessionValidation,
): ExitFee {
  const plan = effectivePlan(lot);
  if (session.kind === 'permit') {
    // A permit holder owes nothing at the exit (docs/permits.md): the permit is paid by its period.
    const total = { amount: 0, currency: lot.rates.currency };
    return { charge: total, price: { total, lines: [] }, overstayMinutes: 0, validation: null };
  }
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
    const overstayMinutes = overMs > 0 ? Math.ceil(overMs / MINUTE_MS) : 0;
    return { charge: price.total, price, overstayMinutes, validation: null };
  }
  const stay = { entryMs: session.enteredAt, exitMs: nowMs, vehicleType: 'car' as const };
  if (validated === undefined) {
    const price = priceStay(plan, stay, lot.timeZone);
    return { charge: price.total, price, overstayMinutes: 0, validation: null };
  }
  const { price, discount } = validatedPrice(plan, stay, lot.timeZone, validated);
  const validation = { id: validated.validationId, merchant: validated.merchant, discount };
  return { charge: price.total, price, overstayMinutes: 0, validation };
}
