import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';
import type { ExitPlan } from '../lane/decision.js';
import type {
  AlarmRecord,
  MirrorReservation,
  UnableToCollectRecord,
  VehicleSession,
} from '../store/types.js';

/** Store records as the attendant API shows them: ISO times, and what a vehicle inside owes now. */

export const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export function reservationView(r: MirrorReservation) {
  return {
    id: r.id,
    spotId: r.spotId,
    spotLabel: r.spotLabel,
    vehicleType: r.vehicleType,
    plate: r.plate,
    start: iso(r.startMs),
    end: iso(r.endMs),
    status: r.status,
    kind: r.kind,
    price: r.price,
  };
}

export function alarmView(a: AlarmRecord) {
  return { ...a, raisedAt: iso(a.raisedAt), ackedAt: isoOrNull(a.ackedAt) };
}

export function unableToCollectView(r: UnableToCollectRecord) {
  return {
    id: r.id,
    at: iso(r.at),
    laneId: r.laneId,
    sessionId: r.sessionId,
    reservationId: r.reservationId,
    plate: r.plate,
    amount: r.amount,
    eventId: r.eventId,
  };
}

export interface AttendantViews {
  session: (s: VehicleSession) => ReturnType<typeof sessionViewOf>;
}

function sessionViewOf(s: VehicleSession, dueNow: Money | null) {
  return {
    id: s.id,
    kind: s.kind,
    reservationId: s.reservationId,
    plate: s.plate,
    credential: s.credential,
    pool: s.pool,
    spotLabel: s.spotLabel,
    enteredAt: iso(s.enteredAt),
    entryLaneId: s.entryLaneId,
    reservationEnd: isoOrNull(s.reservationEndMs),
    cashPaid: s.cashPaid,
    exitedAt: isoOrNull(s.exitedAt),
    closedReason: s.closedReason,
    dueNow,
  };
}

/** Views that need the lot's pricing: a session inside is shown with what leaving now costs. */
export function attendantViews(deps: {
  exitCharge: (session: VehicleSession) => ExitPlan;
  logger: Logger;
}): AttendantViews {
  return {
    session: (s) => {
      let dueNow: Money | null = null;
      if (s.exitedAt === null) {
        try {
          dueNow = deps.exitCharge(s).charge;
        } catch (e) {
          deps.logger.warn({ err: e, sessionId: s.id }, 'could not price session');
        }
      }
      return sessionViewOf(s, dueNow);
    },
  };
}
