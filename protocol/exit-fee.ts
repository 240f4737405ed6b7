import { type Money, overstayCharge, priceWindow, type RateCard } from './money.js';
import { SLOT_MS, slotOf, slotStartMs } from './slots.js';

/**
 * What leaving costs, by the rule the edge's exit decision applies (docs/architecture.md, "Money and
 * pricing"), so the cloud quotes an exit fee from the lot's session data exactly as the lane would
 * charge it: a drive-up pays every started 15 minutes from its arrival slot (at least one), per
 * local day capped, at 0 % occupancy; a booking pays only its overstay past the exit grace.
 */
export function driveUpFee(rates: RateCard, timeZone: string, enteredAtMs: number, nowMs: number): Money {
  const slots = Math.max(1, Math.ceil((nowMs - enteredAtMs) / SLOT_MS));
  const startMs = slotStartMs(slotOf(enteredAtMs));
  return priceWindow(rates, { startMs, endMs: startMs + slots * SLOT_MS }, timeZone);
}

export function bookingExitFee(rates: RateCard, endMs: number, nowMs: number, graceMinutes: number): Money {
  return overstayCharge(rates, nowMs - endMs, graceMinutes);
}
