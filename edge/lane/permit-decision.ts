import type { CredentialClaims } from '../../protocol/credential.js';
import { type PermitRefusal, permitAccess } from '../../protocol/permits.js';
import { matchPlate, normalizePlate } from '../../protocol/plates.js';
import type { MirrorPermit } from '../store/permits.js';
import type { EntryPlan, StoreView } from '../store/types.js';
import type { Decision, DecisionContext, DenyReason } from './decision.js';

/**
 * The gate decision for permit holders (docs/permits.md): pure, like `decide`, which calls it.
 *
 * - A permit opens the gate by plate (the same look-alike matching as bookings) or by its signed QR
 *   (`PP1`), while active, within its validity and access hours (lot time zone).
 * - Anti-passback per permit: at most `maxInside` of its vehicles inside. The same vehicle entering
 *   again without an exit is refused under hard anti-passback; soft admits it, closes the stale
 *   session and records a violation.
 * - Pools: a permit holder parks in the permit pool; when that is full (an oversold lot), in the
 *   drive-up pool; never in the bookable pool. Both are the edge's own, so offline admission of
 *   permit holders never takes a space the cloud sold.
 * - A permit the mirror has never seen (issued while the lot was offline) is admitted by its QR
 *   alone, within its signed validity, one vehicle at a time; hours apply once the mirror has it.
 */

export const permitMessages = {
  welcome: (holder: string | null): string[] => (holder ? ['Welcome', holder] : ['Welcome', 'Permit holder']),
  suspended: (): string[] => ['Permit suspended', 'Please see attendant'],
  cancelled: (): string[] => ['Permit cancelled', 'Please see attendant'],
  notYet: (time: string): string[] => [`Permit valid from ${time}`],
  expired: (time: string): string[] => [`Permit ended ${time}`, 'Please see attendant'],
  outsideHours: (): string[] => ['Outside your permit hours', 'Please see attendant'],
  limit: (n: number): string[] => [`Permit: ${n} vehicle${n === 1 ? '' : 's'} already inside`],
  full: (): string[] => ['Lot full', 'Sorry'],
} as const;

interface PermitCandidate {
  id: string;
  holder: string | null;
  validFromMs: number;
  validToMs: number;
  accessHours: MirrorPermit['accessHours'];
  maxInside: number;
  status: MirrorPermit['status'];
}

const fromMirror = (p: MirrorPermit): PermitCandidate => ({
  id: p.id,
  holder: p.holder,
  validFromMs: p.validFromMs,
  validToMs: p.validToMs,
  accessHours: p.accessHours,
  maxInside: p.maxInside,
  status: p.status,
});

/** Among a plate's permits: one that is live now, else any (so the refusal says why). */
function pickPermit(rows: readonly MirrorPermit[], nowMs: number): MirrorPermit | undefined {
  let fallback: MirrorPermit | undefined;
  for (const p of rows) {
    if (p.status === 'active' && nowMs >= p.validFromMs && nowMs < p.validToMs) return p;
    if (p.status !== 'cancelled' || fallback === undefined) fallback = p;
  }
  return fallback;
}

/** A plate read on an entry lane that matches a permit; null when no permit names the plate. */
export function permitEntryByPlate(
  ctx: DecisionContext,
  view: StoreView,
  read: { plate: string; confidence: number },
  nowMs: number,
): Decision | null {
  const match = matchPlate(
    read,
    (p) => {
      const permits = view.permitsForPlate(p);
      return permits.length === 0 ? undefined : pickPermit(permits, nowMs);
    },
    ctx.lot.policy.plateMinConfidence,
  );
  if (match.kind !== 'exact' && match.kind !== 'fuzzy') return null;
  return evaluatePermit(ctx, view, fromMirror(match.value), 'plate', match.plate, nowMs);
}

/** A verified `PP1` credential on an entry lane (the signature and lot are already checked). */
export function permitEntryByQr(
  ctx: DecisionContext,
  view: StoreView,
  claims: CredentialClaims,
  nowMs: number,
): Decision {
  const known = view.permitById(claims.rid);
  const plate = claims.plate === null ? null : (normalizePlate(claims.plate) ?? claims.plate);
  const candidate: PermitCandidate = known
    ? fromMirror(known)
    : {
        id: claims.rid,
        holder: null,
        validFromMs: claims.start,
        validToMs: claims.end,
        accessHours: [],
        maxInside: 1,
        status: 'active',
      };
  return evaluatePermit(ctx, view, candidate, 'qr', plate, nowMs);
}

const REFUSAL: Record<PermitRefusal, DenyReason> = {
  cancelled: 'cancelled',
  suspended: 'permit_suspended',
  not_yet_valid: 'too_early',
  expired: 'expired',
  outside_hours: 'outside_hours',
};

function refusalDisplay(
  ctx: DecisionContext,
  p: PermitCandidate,
  why: PermitRefusal,
  nowMs: number,
): string[] {
  switch (why) {
    case 'cancelled':
      return permitMessages.cancelled();
    case 'suspended':
      return permitMessages.suspended();
    case 'not_yet_valid':
      return permitMessages.notYet(ctx.times.time(p.validFromMs, nowMs));
    case 'expired':
      return permitMessages.expired(ctx.times.time(p.validToMs, nowMs));
    case 'outside_hours':
      return permitMessages.outsideHours();
  }
}

function evaluatePermit(
  ctx: DecisionContext,
  view: StoreView,
  p: PermitCandidate,
  via: 'plate' | 'qr',
  plate: string | null,
  nowMs: number,
): Decision {
  const refuse = (reason: DenyReason, display: string[], passbackViolation = false): Decision => ({
    kind: 'refuse',
    reason,
    display,
    plate,
    reservationId: p.id,
    passbackViolation,
  });
  const why = permitAccess(p, nowMs, ctx.lot.timeZone);
  if (why !== null) return refuse(REFUSAL[why], refusalDisplay(ctx, p, why, nowMs));
  const hard = ctx.lot.policy.antiPassback === 'hard';
  // This very vehicle still recorded inside: a missed exit, or a passback attempt.
  const stale = plate === null ? view.insideByPermit(p.id) : view.insideByPlate(plate);
  const sameVehicle = stale !== undefined && stale.permitId === p.id && (plate !== null || p.maxInside === 1);
  if (sameVehicle && hard)
    return refuse('already_inside', permitMessages.limit(view.permitInside(p.id)), true);
  const inside = view.permitInside(p.id) - (sameVehicle ? 1 : 0);
  let softViolation = sameVehicle;
  if (inside >= p.maxInside) {
    if (hard) return refuse('permit_limit', permitMessages.limit(inside), true);
    softViolation = true;
  }
  const superseded = stale && (sameVehicle || stale.kind === 'driveup') ? stale : undefined;
  const pool = poolFor(ctx, view, superseded?.pool ?? null);
  if (pool === null) return refuse('full', permitMessages.full());
  const plan: EntryPlan = {
    sessionKind: 'permit',
    reservationId: null,
    permitId: p.id,
    plate,
    credential: via,
    pool,
    spotId: null,
    spotLabel: null,
    reservationStartMs: null,
    reservationEndMs: null,
    overflowReservationId: null,
    softPassbackViolation: softViolation,
    supersedesSessionId: superseded?.id ?? null,
  };
  return { kind: 'admit', plan, display: permitMessages.welcome(p.holder) };
}

/** The permit pool first, then the drive-up pool; never a bookable spot. */
function poolFor(
  ctx: DecisionContext,
  view: StoreView,
  freedPool: string | null,
): 'permit' | 'driveup' | null {
  const permitInside = view.permitPoolInside() - (freedPool === 'permit' ? 1 : 0);
  if (permitInside < (ctx.permitCapacity ?? 0)) return 'permit';
  const driveupInside = view.driveupInside() - (freedPool === 'driveup' ? 1 : 0);
  if (driveupInside < ctx.driveupCapacity) return 'driveup';
  return null;
}
