import type { GateLedger } from './ledger.js';
import type { MirrorStore } from './mirror.js';
import type { StoreView } from './types.js';
import type { ValidationStore } from './validations.js';

/**
 * The gate decision reads bookings (the mirror) and who is inside (the ledger). `decide` takes both
 * as one StoreView so it stays pure and a test can hand it a fake.
 */
export function gateView(
  mirror: Pick<
    MirrorStore,
    'reservationById' | 'reservationsForPlate' | 'bookableFree' | 'permitById' | 'permitsForPlate'
  >,
  ledger: Pick<
    GateLedger,
    | 'insideByPlate'
    | 'insideByReservation'
    | 'passbackState'
    | 'driveupInside'
    | 'permitInside'
    | 'insideByPermit'
    | 'permitPoolInside'
  >,
  validations?: Pick<ValidationStore, 'forSession' | 'used'>,
): StoreView {
  return {
    reservationById: (id) => mirror.reservationById(id),
    reservationsForPlate: (plate, fromMs, toMs) => mirror.reservationsForPlate(plate, fromMs, toMs),
    bookableFree: (vehicleType, startSlot, endSlot) => mirror.bookableFree(vehicleType, startSlot, endSlot),
    insideByPlate: (plate) => ledger.insideByPlate(plate),
    insideByReservation: (reservationId) => ledger.insideByReservation(reservationId),
    passbackState: (reservationId) => ledger.passbackState(reservationId),
    driveupInside: () => ledger.driveupInside(),
    permitById: (id) => mirror.permitById(id),
    permitsForPlate: (plate) => mirror.permitsForPlate(plate),
    permitInside: (permitId) => ledger.permitInside(permitId),
    insideByPermit: (permitId) => ledger.insideByPermit(permitId),
    permitPoolInside: () => ledger.permitPoolInside(),
    validationFor: (sessionId) => validations?.forSession(sessionId),
    validationUsed: (validationId) => validations?.used(validationId) ?? false,
  };
}
