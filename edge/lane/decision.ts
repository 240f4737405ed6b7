import { decodeCredential, type PublicKeyEntry, verifyCredential } from '../../protocol/credential.js';
import type { LotConfig, Reservation, ReservationStatus, Spot } from '../../protocol/domain.js';
import { type Money, money } from '../../protocol/money.js';
import { isValidationCode } from '../../protocol/validation.js';
import { exitFee } from './exit-fee.js';
import { validationAtLane } from './validation-at-lane.js';
import { matchPlate, normalizePlate } from '../../protocol/plates.js';
import { SLOT_MS, slotOf, slotStartMs } from '../../protocol/slots.js';
import type { EntryPlan, SessionKind, StoreView, VehicleSession } from '../store/types.js';
import type { ValidationUse } from '../../protocol/validation.js';
import { messages, type TimeFormatter } from './messages.js';
import { permitEntryByPlate, permitEntryByQr } from './permit-decision.js';

/**
 * The gate decision: a pure function of (lot and lane config, a read-only store view, one
 * credential, the time). No writes, no I/O beyond indexed point reads through the view, no clock.
 * The lane shell turns the result into barrier commands and records what happens at passage.
 */

export type GateCredential =
  | { kind: 'plate'; plate: string; confidence: number }
  | { kind: 'qr'; text: string }
  /** An unmatched plate after the QR grace period: admit it as a drive-up if there is room. */
  | { kind: 'driveup'; plate: string };

export interface DecisionContext {
  lot: LotConfig;
  publicKeys: readonly PublicKeyEntry[];
  laneId: string;
  direction: 'entry' | 'exit';
  /** Connectivity is 'online' and an overflow hook is installed: drive-ups may borrow a bookable spot. */
  overflowAvailable: boolean;
  /** Spots in the driveup pool. */
  driveupCapacity: number;
  /** Spots in the permit pool (docs/permits.md); absent = 0. */
  permitCapacity?: number;
  spotsById: ReadonlyMap<string, Spot>;
  times: TimeFormatter;
}

/** The entry plan is the store's record shape (edge/store/types.ts): declared there once. */
export type { EntryPlan };

export interface ExitPlan {
  sessionId: string;
  sessionKind: SessionKind;
  reservationId: string | null;
  plate: string | null;
  /** Overstay or drive-up fee; null when nothing is charged. */
  charge: Money | null;
  overstayMinutes: number;
  /** Paid in cash at the attendant while inside. */
  cashPaid: Money | null;
  /** Still to settle at the gate (charge minus cash), null when nothing is due. */
  due: Money | null;
  /** The merchant validation that lowered the charge, if any. */
  validation?: ValidationUse | null;
}

export interface OverflowRequest {
  plate: string;
  vehicleType: 'car';
  startMs: number;
  endMs: number;
  /** Answers after this are treated as no. */
  deadlineMs: number;
}

export type DenyReason =
  | 'too_early'
  | 'expired'
  | 'cancelled'
  | 'not_confirmed'
  | 'used'
  | 'already_inside'
  | 'full'
  | 'invalid_qr'
  | 'wrong_lot'
  | 'no_session'
  | 'timeout'
  | 'permit_suspended'
  | 'outside_hours'
  | 'permit_limit'
  /** Open debt on the plate and the lot refuses entry for it (edge/lane/money-policy.ts). */
  | 'debt';

export type WaitReason = 'unmatched' | 'low_confidence' | 'ambiguous' | 'unreadable';

export type Decision =
  | { kind: 'admit'; plan: EntryPlan; display: string[] }
  | { kind: 'overflow'; request: OverflowRequest; display: string[]; supersedesSessionId: string | null }
  | { kind: 'exit'; plan: ExitPlan; display: string[] }
  | { kind: 'wait'; reason: WaitReason; display: string[]; driveupPlate: string | null }
  | {
      kind: 'refuse';
      reason: DenyReason;
      display: string[];
      plate: string | null;
      reservationId: string | null;
      /** Hard anti-passback: recorded as a passback_violation event instead of a plain denial. */
      passbackViolation: boolean;
    };

/** How far around now a plate's reservations matter (to say "starts at" / "ended at"). */
export const PLATE_RELEVANCE_MS = 12 * 3_600_000;

const MINUTE_MS = 60_000;

/** The reservation facts the decision needs; from the mirror or, for an unseen booking, a signed QR. */
interface Candidate {
  id: string;
  status: ReservationStatus;
  startMs: number;
  endMs: number;
  plate: string | null;
  spotId: string | null;
  spotLabel: string | null;
}

export function decide(
  ctx: DecisionContext,
  view: StoreView,
  credential: GateCredential,
  nowMs: number,
): Decision {
  return ctx.direction === 'entry'
    ? decideEntry(ctx, view, credential, nowMs)
    : decideExit(ctx, view, credential, nowMs);
}

// ---------------------------------------------------------------------------------------------
// Entry

function decideEntry(
  ctx: DecisionContext,
  view: StoreView,
  credential: GateCredential,
  nowMs: number,
): Decision {
  switch (credential.kind) {
    case 'plate':
      return entryByPlate(ctx, view, credential, nowMs);
    case 'qr':
      return entryByQr(ctx, view, credential.text, nowMs);
    case 'driveup':
      return entryDriveup(ctx, view, credential.plate, nowMs);
  }
}

/** Among a plate's reservations: the one open now, else the next to open, else the last to end. */
export function pickReservation<T extends { startMs: number; endMs: number }>(
  rows: readonly T[],
  nowMs: number,
  earlyMs: number,
): T | undefined {
  let upcoming: T | undefined;
  let ended: T | undefined;
  for (const r of rows) {
    if (nowMs >= r.startMs - earlyMs && nowMs < r.endMs) return r;
    if (r.startMs - earlyMs > nowMs) {
      if (!upcoming || r.startMs < upcoming.startMs) upcoming = r;
    } else if (!ended || r.endMs > ended.endMs) {
      ended = r;
    }
  }
  return upcoming ?? ended;
}

function entryByPlate(
  ctx: DecisionContext,
  view: StoreView,
  read: { plate: string; confidence: number },
  nowMs: number,
): Decision {
  const policy = ctx.lot.policy;
  const earlyMs = policy.earlyArrivalMinutes * MINUTE_MS;
  const normalized = normalizePlate(read.plate);
  if (normalized === null)
    return { kind: 'wait', reason: 'unreadable', display: messages.scanQr(), driveupPlate: null };
  const match = matchPlate(
    read,
    (p) =>
      pickReservation(
        view.reservationsForPlate(p, nowMs - PLATE_RELEVANCE_MS, nowMs + PLATE_RELEVANCE_MS),
        nowMs,
        earlyMs,
      ),
    policy.plateMinConfidence,
  );
  if (match.kind === 'exact' || match.kind === 'fuzzy') {
    const r = match.value;
    return evaluateReservation(
      ctx,
      view,
      {
        id: r.id,
        status: r.status,
        startMs: r.startMs,
        endMs: r.endMs,
        plate: r.plate,
        spotId: r.spotId,
        spotLabel: r.spotLabel,
      },
      'plate',
      nowMs,
    );
  }
  // No booking for the plate: a permit naming it (docs/permits.md).
  const permit = permitEntryByPlate(ctx, view, read, nowMs);
  if (permit !== null) return permit;
  if (match.kind === 'ambiguous') {
    return { kind: 'wait', reason: 'ambiguous', display: messages.scanQr(), driveupPlate: null };
  }
  if (!(read.confidence >= policy.plateMinConfidence)) {
    return { kind: 'wait', reason: 'low_confidence', display: messages.scanQr(), driveupPlate: null };
  }
  // A confident read with no booking: give the driver a moment to scan a QR, then treat as drive-up.
  return {
    kind: 'wait',
    reason: 'unmatched',
    display: messages.noBookingFound(normalized),
    driveupPlate: normalized,
  };
}

type QrCheck =
  | { ok: true; rid: string; plate: string | null; start: number; end: number; permit: boolean }
  | { ok: false; reason: 'invalid_qr' | 'wrong_lot' };

/** Signature, key and lot are checked; the time window is left to the caller (entry and exit differ). */
function checkQr(ctx: DecisionContext, text: string, nowMs: number): QrCheck {
  const verified = verifyCredential(text, ctx.publicKeys, {
    lotId: ctx.lot.id,
    nowMs,
    earlyArrivalMinutes: ctx.lot.policy.earlyArrivalMinutes,
  });
  if (verified.ok) {
    const c = verified.value;
    return { ok: true, rid: c.rid, plate: c.plate, start: c.start, end: c.end, permit: c.kind === 'permit' };
  }
  // Time refusals come after the signature check, so the claims are authentic: read them.
  if (verified.error.reason === 'too_early' || verified.error.reason === 'expired') {
    const decoded = decodeCredential(text);
    if (decoded.ok) {
      const c = decoded.value.claims;
      return {
        ok: true,
        rid: c.rid,
        plate: c.plate,
        start: c.start,
        end: c.end,
        permit: c.kind === 'permit',
      };
    }
  }
  return { ok: false, reason: verified.error.reason === 'wrong_lot' ? 'wrong_lot' : 'invalid_qr' };
}

function entryByQr(ctx: DecisionContext, view: StoreView, text: string, nowMs: number): Decision {
  const qr = checkQr(ctx, text, nowMs);
  if (!qr.ok) {
    return refuse(
      qr.reason,
      qr.reason === 'wrong_lot' ? messages.otherLot() : messages.invalidQr(),
      null,
      null,
    );
  }
  if (qr.permit) return permitEntryByQr(ctx, view, { ...qr, lot: ctx.lot.id }, nowMs);
  const known = view.reservationById(qr.rid);
  // A booking made while the lot was offline is not in the mirror: the signed claims stand in for it.
  const candidate: Candidate = known
    ? {
        id: known.id,
        status: known.status,
        startMs: known.startMs,
        endMs: known.endMs,
        plate: known.plate,
        spotId: known.spotId,
        spotLabel: known.spotLabel,
      }
    : {
        id: qr.rid,
        status: 'CONFIRMED',
        startMs: qr.start,
        endMs: qr.end,
        plate: qr.plate === null ? null : (normalizePlate(qr.plate) ?? qr.plate),
        spotId: null,
        spotLabel: null,
      };
  return evaluateReservation(ctx, view, candidate, 'qr', nowMs);
}

function evaluateReservation(
  ctx: DecisionContext,
  view: StoreView,
  r: Candidate,
  via: 'plate' | 'qr',
  nowMs: number,
): Decision {
  const policy = ctx.lot.policy;
  const deny = (reason: DenyReason, display: string[], passbackViolation = false) =>
    refuse(reason, display, r.plate, r.id, passbackViolation);
  switch (r.status) {
    case 'CANCELLED':
      return deny('cancelled', messages.cancelled());
    case 'EXPIRED':
    case 'NO_SHOW':
      return deny('expired', messages.endedAt(ctx.times.time(r.endMs, nowMs)));
    case 'TENTATIVE':
      return deny('not_confirmed', messages.notConfirmed());
    default:
      break;
  }
  const passback = view.passbackState(r.id);
  // The local passback row is the physical truth; the mirror's status fills in when there is none.
  const inside = passback === 'in' || (passback === undefined && r.status === 'CHECKED_IN');
  const used = passback === 'out' || (passback === undefined && r.status === 'COMPLETED');
  if (used) return deny('used', messages.alreadyUsed());
  let softPassbackViolation = false;
  if (inside) {
    if (policy.antiPassback === 'hard') return deny('already_inside', messages.alreadyInside(), true);
    softPassbackViolation = true;
  }
  if (nowMs < r.startMs - policy.earlyArrivalMinutes * MINUTE_MS) {
    return deny('too_early', messages.startsAt(ctx.times.time(r.startMs, nowMs)));
  }
  if (nowMs >= r.endMs) return deny('expired', messages.endedAt(ctx.times.time(r.endMs, nowMs)));
  const spot = r.spotId === null ? undefined : ctx.spotsById.get(r.spotId);
  const label = r.spotLabel ?? spot?.label ?? null;
  return {
    kind: 'admit',
    plan: {
      sessionKind: 'booking',
      reservationId: r.id,
      plate: r.plate,
      credential: via,
      pool: spot?.pool ?? 'bookable',
      spotId: r.spotId,
      spotLabel: label,
      reservationStartMs: r.startMs,
      reservationEndMs: r.endMs,
      overflowReservationId: null,
      softPassbackViolation,
      supersedesSessionId: null,
    },
    display: label === null ? messages.welcome() : messages.welcomeBay(label),
  };
}

function entryDriveup(ctx: DecisionContext, view: StoreView, rawPlate: string, nowMs: number): Decision {
  const plate = normalizePlate(rawPlate);
  if (plate === null)
    return { kind: 'wait', reason: 'unreadable', display: messages.scanQr(), driveupPlate: null };
  // Anti-passback for plates without a booking: hard refuses; soft admits and replaces the stale
  // session (most often an exit the camera missed).
  const stale = view.insideByPlate(plate);
  if (stale && ctx.lot.policy.antiPassback === 'hard') {
    return refuse('already_inside', messages.alreadyInside(), plate, null);
  }
  if (view.driveupInside() - (stale?.pool === 'driveup' ? 1 : 0) < ctx.driveupCapacity) {
    return {
      kind: 'admit',
      plan: driveupPlan({ plate, supersedesSessionId: stale?.id ?? null }),
      display: messages.welcomeDriveup(),
    };
  }
  // Driveup pool full. Online, a bookable spot free from now to the overflow horizon may be borrowed,
  // but only with the cloud's yes. Offline: FULL (reservation holders are still admitted).
  if (ctx.overflowAvailable) {
    const request = overflowRequest(ctx, plate, nowMs);
    if (
      ctx.direction === 'entry' &&
      view.bookableFree('car', slotOf(request.startMs), slotOf(request.endMs)) > 0
    ) {
      return {
        kind: 'overflow',
        request,
        display: messages.oneMoment(),
        supersedesSessionId: stale?.id ?? null,
      };
    }
  }
  return refuse('full', messages.full(), plate, null);
}

export function overflowRequest(ctx: DecisionContext, plate: string, nowMs: number): OverflowRequest {
  const startMs = slotStartMs(slotOf(nowMs));
  const endMs = startMs + Math.ceil((ctx.lot.policy.overflowHorizonMinutes * MINUTE_MS) / SLOT_MS) * SLOT_MS;
  return { plate, vehicleType: 'car', startMs, endMs, deadlineMs: nowMs + ctx.lot.policy.overflowTimeoutMs };
}

/** The entry plan once the cloud granted an overflow booking. */
export function overflowPlan(
  granted: Reservation,
  plate: string,
  supersedesSessionId: string | null = null,
): { plan: EntryPlan; display: string[] } {
  return {
    plan: {
      sessionKind: 'overflow',
      reservationId: null,
      plate,
      credential: 'driveup',
      pool: 'bookable',
      spotId: granted.spotId,
      spotLabel: granted.spotLabel,
      reservationStartMs: null,
      reservationEndMs: null,
      overflowReservationId: granted.id,
      softPassbackViolation: false,
      supersedesSessionId,
    },
    display: messages.welcomeBay(granted.spotLabel),
  };
}

/**
 * A manual open on an entry lane: the attendant admits the vehicle, so it is recorded like a
 * drive-up (driveup pool, drive-up fee at exit) with credential 'attendant', even when the driveup
 * pool is full. `plate` is what the lane last read for it, if anything; a session still open under
 * that plate is superseded, as for a drive-up admitted under soft anti-passback.
 */
export function manualEntryPlan(view: StoreView, plate: string | null): EntryPlan {
  const normalized = plate === null ? null : normalizePlate(plate);
  const stale = normalized === null ? undefined : view.insideByPlate(normalized);
  return driveupPlan({ plate: normalized, credential: 'attendant', supersedesSessionId: stale?.id ?? null });
}

/**
 * A vehicle admitted into the driveup pool with no booking: a drive-up (credential 'driveup') or an
 * attendant's manual open ('attendant'). `supersedesSessionId` closes a stale session of the plate.
 */
export function driveupPlan(p: {
  plate: string | null;
  credential?: 'driveup' | 'attendant';
  supersedesSessionId?: string | null;
}): EntryPlan {
  return {
    sessionKind: 'driveup',
    reservationId: null,
    plate: p.plate,
    credential: p.credential ?? 'driveup',
    pool: 'driveup',
    spotId: null,
    spotLabel: null,
    reservationStartMs: null,
    reservationEndMs: null,
    overflowReservationId: null,
    softPassbackViolation: false,
    supersedesSessionId: p.supersedesSessionId ?? null,
  };
}

/**
 * A manual open on an exit lane: the session inside under the plate the lane last read (matched as
 * at the gate: exact, or one unique confusable away), priced as at the gate; null when there is none.
 */
export function manualExitPlan(
  ctx: DecisionContext,
  view: StoreView,
  read: { plate: string; confidence: number } | null,
  nowMs: number,
): ExitPlan | null {
  if (read === null) return null;
  const match = matchPlate(read, (p) => view.insideByPlate(p), ctx.lot.policy.plateMinConfidence);
  if (match.kind !== 'exact' && match.kind !== 'fuzzy') return null;
  return exitCharge(ctx, view, match.value, nowMs);
}

// ---------------------------------------------------------------------------------------------
// Exit

function decideExit(
  ctx: DecisionContext,
  view: StoreView,
  credential: GateCredential,
  nowMs: number,
): Decision {
  if (credential.kind === 'plate') {
    const match = matchPlate(credential, (p) => view.insideByPlate(p), ctx.lot.policy.plateMinConfidence);
    if (match.kind === 'exact' || match.kind === 'fuzzy') return exitFor(ctx, view, match.value, nowMs);
    const reason: WaitReason =
      match.kind === 'ambiguous'
        ? 'ambiguous'
        : normalizePlate(credential.plate) === null
          ? 'unreadable'
          : credential.confidence >= ctx.lot.policy.plateMinConfidence
            ? 'unmatched'
            : 'low_confidence';
    return { kind: 'wait', reason, display: messages.scanQr(), driveupPlate: null };
  }
  if (credential.kind === 'qr') {
    if (isValidationCode(credential.text)) {
      const v = validationAtLane(ctx, view, credential.text, nowMs);
      return refuse(v.reason, v.display, null, null);
    }
    const qr = checkQr(ctx, credential.text, nowMs);
    if (!qr.ok) {
      return refuse(
        qr.reason,
        qr.reason === 'wrong_lot' ? messages.otherLot() : messages.invalidQr(),
        null,
        null,
      );
    }
    const session = qr.permit ? view.insideByPermit(qr.rid) : view.insideByReservation(qr.rid);
    if (!session) return refuse('no_session', messages.seeAttendant(), qr.plate, qr.rid);
    return exitFor(ctx, view, session, nowMs);
  }
  return refuse('no_session', messages.seeAttendant(), credential.plate, null);
}

function exitFor(ctx: DecisionContext, view: StoreView, session: VehicleSession, nowMs: number): Decision {
  const plan = exitCharge(ctx, view, session, nowMs);
  const display =
    plan.due !== null
      ? messages.oneMoment()
      : plan.charge !== null
        ? messages.goodbyePaid(plan.charge)
        : messages.goodbye();
  return { kind: 'exit', plan, display };
}

/** What a leaving vehicle owes: overstay past its reservation, or the drive-up fee for the stay. */
export function exitCharge(
  ctx: DecisionContext,
  view: StoreView,
  session: VehicleSession,
  nowMs: number,
): ExitPlan {
  const rates = ctx.lot.rates;
  // The mirror may know a later end (an extension) than the one recorded at entry.
  const mirrored =
    session.kind === 'booking' && session.reservationId !== null
      ? view.reservationById(session.reservationId)
      : undefined;
  const { charge, overstayMinutes, validation } = exitFee(
    ctx.lot,
    session,
    mirrored,
    nowMs,
    view.validationFor?.(session.id),
  );
  const cash = session.cashPaid > 0 ? money(session.cashPaid, rates.currency) : null;
  const dueAmount = charge.amount - (cash?.amount ?? 0);
  return {
    sessionId: session.id,
    sessionKind: session.kind,
    reservationId: session.reservationId,
    plate: session.plate,
    charge: charge.amount > 0 ? charge : null,
    overstayMinutes,
    cashPaid: cash,
    due: dueAmount > 0 ? money(dueAmount, rates.currency) : null,
    validation,
  };
}

function refuse(
  reason: DenyReason,
  display: string[],
  plate: string | null,
  reservationId: string | null,
  passbackViolation = false,
): Decision {
  return { kind: 'refuse', reason, display, plate, reservationId, passbackViolation };
}
