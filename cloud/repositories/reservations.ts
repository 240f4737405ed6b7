import { type SigningKey, signingKeyFromPem } from '../../protocol/credential.js';
import { toIso } from '../../protocol/slots.js';
import { definePlugin } from '../plugin.js';
import { createSpotAllocation } from './reservations/allocation.js';
import { createCapacityCache } from './reservations/capacity.js';
import { createBooking } from './reservations/booking.js';
import { reservationContext } from './reservations/context.js';
import { createGateFacts } from './reservations/gate-facts.js';
import { createChangeWindow } from './reservations/change-window.js';
import { createLifecycle } from './reservations/lifecycle.js';
import { listReservations } from './reservations/listing.js';
import { createPaymentSettlement } from './reservations/payments.js';
import { getRow } from './reservations/rows.js';
import { createSweeps } from './reservations/sweeps.js';
import { createStatusWriter } from './reservations/transitions.js';
import type { ReservationDeps, ReservationRepository } from './reservations/types.js';

/**
 * Reservations: the authoritative booking logic, assembled from its parts in `reservations/`
 * (spot allocation, status writes, booking, lifecycle, gate facts, sweeps, payments, listing,
 * row mapping). Every status change, its bitmap update and its change-log entry commit together in
 * one transaction; payment provider calls happen only outside transactions, recorded as pending
 * payments first so a crash never charges twice.
 *
 * Seams for sync (docs/architecture.md#sync-protocol): `checkIn` and `depart` take a `factKey` so gate events from an
 * edge apply exactly once, and `enforceWindow: false` for facts the edge already acted on.
 */

export {
  CORE_COLS,
  type ReservationCoreRow,
  type ReservationRow,
  toReservation,
  toView,
} from './reservations/rows.js';
export type {
  DepartureOutcome,
  DriveUpInput,
  GateFactInput,
  ListFilter,
  Quote,
  ReservationDeps,
  ReservationRepository,
  ReserveOutcome,
} from './reservations/types.js';

/** How old a capacity answer may be (other instances' bookings show within this). */
const CAPACITY_MAX_AGE_MS = 1000;

/** `signingKey`: the key ring's live signer; default: the configured key alone. */
export function createReservationRepository(
  deps: ReservationDeps & { signingKey?: SigningKey },
): ReservationRepository {
  const { signingKey: ringSigner, ...rest } = deps;
  const ctx = reservationContext(rest);
  const signingKey = ringSigner ?? signingKeyFromPem(deps.signing.keyId, deps.signing.privatePem);
  const capacity = createCapacityCache({
    db: ctx.db,
    clock: ctx.clock,
    log: ctx.log,
    maxAgeMs: deps.capacityMaxAgeMs ?? CAPACITY_MAX_AGE_MS,
  });
  const allocation = createSpotAllocation({ ...ctx, capacity });
  const status = createStatusWriter(ctx);
  const settlement = createPaymentSettlement(ctx);
  const booking = createBooking(ctx, { allocation, status });
  const lifecycle = createLifecycle(ctx, { allocation, status, settlement, signingKey });
  const facts = createGateFacts(ctx, { allocation, status, settlement });
  const sweeps = createSweeps(ctx, { allocation, status });
  return {
    // Capacity answers from memory (≤ 1 s old, own changes applied at once); booking never does.
    quote: (lot, vehicleType, w) =>
      deps.capacityMaxAgeMs === 0
        ? allocation.quote(ctx.db.pooled, lot, vehicleType, w)
        : capacity.quote(lot, vehicleType, w),
    reserve: booking.reserve,
    complete: lifecycle.complete,
    cancel: lifecycle.cancel,
    captured: lifecycle.captured,
    settlePayment: settlement.settle,
    unconfirmedReferences: async (nowMs, lookbackMs) =>
      (
        await ctx.db.rows<{ id: string }>(
          // Live holds a minute old (the webhook had its chance) and holds that ended recently.
          `select id from reservations
           where payment_ref is null and kind = 'booking'
             and ((status = 'TENTATIVE' and created_at <= $1::timestamptz)
               or (status = 'EXPIRED' and hold_expires_at > $2::timestamptz))
           order by created_at limit 100`,
          [toIso(nowMs - 60_000), toIso(nowMs - lookbackMs)],
        )
      ).map((r) => r.id),
    changeWindow: createChangeWindow(ctx, { settlement, signingKey }),
    get: (id) => getRow(ctx.db.pooled, id),
    list: (filter) => listReservations(ctx.db, filter),
    reserveDriveUp: booking.reserveDriveUp,
    checkIn: facts.checkIn,
    depart: facts.depart,
    expireHolds: sweeps.expireHolds,
    markNoShows: sweeps.markNoShows,
    settlePendingPayments: settlement.settlePending,
    pruneIdempotencyKeys: sweeps.pruneIdempotencyKeys,
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    reservations: ReservationRepository;
  }
}

export const reservationsRepository = definePlugin(
  async (app) => {
    app.decorate(
      'reservations',
      createReservationRepository({
        db: app.db,
        clock: app.clock,
        random: app.random,
        logger: app.log,
        metrics: app.metrics,
        payments: app.payments,
        lots: app.lots,
        signing: app.config.signing,
        signingKey: app.signingKeys.signer,
        sequencer: app.changeSequencer,
      }),
    );
    app.paymentPurposes.register('booking', { captured: (p) => app.reservations.captured(p) });
  },
  {
    name: 'repo-reservations',
    dependencies: ['core', 'db', 'metrics', 'payments', 'repo-lots', 'repo-changes', 'repo-signing-keys'],
  },
);
