import type { PublicKeyEntry } from '../../protocol/credential.js';
import { verifyValidation } from '../../protocol/validation.js';
import type { StoreView } from '../store/types.js';

/**
 * A merchant validation shown to the exit lane's scanner (docs/pricing.md#validations). The lane
 * decides on the plate as the car arrives, so validations are redeemed at the booth; the lane still
 * checks the code offline and says why one cannot be used — used already, expired, another car park —
 * and sends a good one to the attendant.
 */
export function validationAtLane(
  ctx: { lot: { id: string }; publicKeys: readonly PublicKeyEntry[] },
  view: StoreView,
  text: string,
  nowMs: number,
): { reason: 'used' | 'expired' | 'wrong_lot' | 'invalid_qr' | 'no_session'; display: string[] } {
  const checked = verifyValidation(text, ctx.publicKeys, { lotId: ctx.lot.id, nowMs });
  if (!checked.ok) {
    if (checked.error === 'expired')
      return { reason: 'expired', display: ['Validation expired', 'Please see attendant'] };
    if (checked.error === 'wrong_lot')
      return { reason: 'wrong_lot', display: ['Validation is for another car park'] };
    return { reason: 'invalid_qr', display: ['Validation not valid', 'Please see attendant'] };
  }
  if (view.validationUsed?.(checked.value.id) === true) {
    return { reason: 'used', display: ['Validation already used', 'Please see attendant'] };
  }
  return { reason: 'no_session', display: ['Validation: please see', 'the attendant at the booth'] };
}
