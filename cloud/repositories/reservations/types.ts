import type { CapturedOutcome, CapturedPayment } from '../../payments/purposes.js';
import type { Clock } from '../../../protocol/clock.js';
import type { Reservation, ReservationStatus, VehicleType } from '../../../protocol/domain.js';
import type { CreateReservationBody, ReservationView } from '../../../protocol/http.js';
import type { Logger } from '../../../protocol/logger.js';
import type { Money } from '../../../protocol/money.js';
import type { Random } from '../../../protocol/random.js';
import type { Result } from '../../../protocol/result.js';
import type { SlotWindow } from '../../../protocol/slots.js';
import type { Database } from '../../db/database.js';
import type { Refusal } from '../../errors.js';
import type { CloudMetrics } from '../../metrics.js';
import type { PaymentProvider } from '../../payments/provider.js';
import type { ChangeSequencer } from '../changes.js';
import type { LotRecord, LotRepository } from '../lots.js';
import type { ReservationRow } from './rows.js';

/** The reservation repository's public shape: what routes, sweepers and sync call. */

export interface Quote {
  /** Eligible bookable spots free for the whole window. */
  available: number;
  /** Eligible bookable spots in total. */
  total: number;
  price: Money;
}

export interface ReserveOutcome {
  id: string;
  status: 'TENTATIVE';
  spot: string;
  price: Money;
  paymentUrl: string;
  holdExpiresAt: string;
}

/** A gate fact (arrival or departure) about one reservation of a lot. */
export interface GateFactInput {
  lotId: string;
  /** Which reservation: by id, or by the vehicle's plate. */
  reservationId?: string;
  plate?: string;
  /** When it happened, epoch ms. */
  atMs: number;
  /**
   * Exactly-once key of the fact's source (e.g. `edge:<eventId>`): a second call with the same key
   * returns the first outcome and changes nothing.
   */
  factKey?: string;
  /**
   * true (HTTP): refuse outside [start − early allowance, end). false: the edge already admitted the
   * vehicle; record what happened.
   */
  enforceWindow?: boolean;
}

export interface DriveUpInput {
  lotId: string;
  plate: string;
  vehicleType: VehicleType;
  /** Widened to whole slots. */
  startMs: number;
  endMs: number;
  /** Exactly-once key, e.g. `overflow:<correlationId>`. */
  requestKey: string;
}

export interface DepartureOutcome {
  reservation: ReservationView;
  overstayMinutes: number;
  charge: Money | null;
  refund: Money | null;
}

export interface ListFilter {
  /** Only reservations made by this user. */
  userId?: string;
  /** Only these lots ('all' = no restriction). */
  lotIds: string[] | 'all';
  lotId?: string;
  status?: ReservationStatus;
  limit: number;
  cursor?: string;
}

export interface ReservationRepository {
  quote(lot: LotRecord, vehicleType: VehicleType, window: SlotWindow): Promise<Quote>;
  reserve(actor: { id: string }, body: CreateReservationBody): Promise<Result<ReserveOutcome, Refusal>>;
  /** `known`: the row as the caller just read it (saves a read); it is locked and rechecked anyway. */
  complete(
    id: string,
    paymentToken: string,
    known?: ReservationRow,
  ): Promise<Result<ReservationView, Refusal>>;
  cancel(id: string): Promise<Result<{ reservation: ReservationView; refund: Money }, Refusal>>;
  /** The `booking` payment purpose: confirm the hold a captured checkout paid (or refund it). */
  captured(p: CapturedPayment): Promise<CapturedOutcome>;
  /** Settle one pending provider payment (refund, overstay) now. */
  settlePayment(paymentId: string): Promise<'succeeded' | 'failed' | 'skipped'>;
  /** Bookings whose checkout may have been paid without us hearing of it (crash recovery). */
  unconfirmedReferences(nowMs: number, lookbackMs: number): Promise<string[]>;
  /** Extend or shorten a booking (docs/permits.md#changing-a-booking). */
  changeWindow: import('./change-window.js').ChangeWindow;
  get(id: string): Promise<ReservationRow | null>;
  list(filter: ListFilter): Promise<{ reservations: ReservationView[]; nextCursor: string | null }>;
  /**
   * Online drive-up overflow (docs/architecture.md#the-pool-model-bookable-and-drive-up): book a free bookable spot for a vehicle
   * at the gate, CONFIRMED, kind 'driveup'. Exactly once per requestKey.
   */
  reserveDriveUp(input: DriveUpInput): Promise<Result<Reservation, Refusal>>;
  checkIn(input: GateFactInput): Promise<Result<ReservationView, Refusal>>;
  depart(input: GateFactInput): Promise<Result<DepartureOutcome, Refusal>>;
  /** TENTATIVE holds past their expiry → EXPIRED. Returns null when another runner holds the lock. */
  expireHolds(nowMs: number): Promise<number | null>;
  /** CONFIRMED without check-in by start + no-show grace (or by end) → NO_SHOW. */
  markNoShows(nowMs: number): Promise<number | null>;
  /** Retry provider calls for payments left pending (e.g. by a crash). */
  settlePendingPayments(nowMs: number): Promise<number>;
  /** Drop idempotency records older than the retention. */
  pruneIdempotencyKeys(nowMs: number): Promise<number>;
}

export interface ReservationDeps {
  db: Database;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: CloudMetrics;
  payments: PaymentProvider;
  lots: LotRepository;
  signing: { keyId: string; privatePem: string };
  /** Kicked after every commit that appended changes: they get their seqs before the answer. */
  sequencer: Pick<ChangeSequencer, 'kick'>;
  /** How old a capacity answer may be, at most 1000 ms (the default); 0 reads the database each time. */
  capacityMaxAgeMs?: number;
}
