import type { CredentialKind } from '../../protocol/mqtt.js';
import type { LotConfig, ReservationStatus, SpotPool, VehicleType } from '../../protocol/domain.js';
import type { GateEvent } from '../../protocol/mqtt.js';
import type { Money } from '../../protocol/money.js';
import type { ValidationUse } from '../../protocol/validation.js';
import type { SessionValidation } from './validations.js';
import type { PublicKeyEntry } from '../../protocol/credential.js';
import type { z } from 'zod';
import type { MirrorPermit } from './permits.js';

export type CredentialKindT = z.infer<typeof CredentialKind>;
export type SessionKind = 'booking' | 'driveup' | 'overflow' | 'permit';
export type PassbackState = 'in' | 'out' | 'neutral';
export type Settlement = 'none' | 'cloud' | 'cash' | 'owed';

/** A gate event before the outbox gives it its id. */
export type GateEventDraft = GateEvent extends infer E
  ? E extends GateEvent
    ? Omit<E, 'eventId'>
    : never
  : never;

export interface StoredConfig {
  /** 0 = the local file; >0 = delivered by the cloud. */
  version: number;
  source: 'file' | 'sync';
  lot: LotConfig;
  publicKeys: PublicKeyEntry[];
}

/** A reservation as the edge mirrors it; plate normalised. */
export interface MirrorReservation {
  id: string;
  spotId: string;
  spotLabel: string;
  vehicleType: VehicleType;
  plate: string;
  startMs: number;
  endMs: number;
  status: ReservationStatus;
  kind: 'booking' | 'driveup';
  price: Money;
  seq: number;
}

/** What a session is opened with: the facts of one admission, shared by plan, record and row. */
export interface SessionFacts {
  reservationId: string | null;
  plate: string | null;
  credential: CredentialKindT;
  pool: SpotPool | null;
  spotId: string | null;
  spotLabel: string | null;
  reservationStartMs: number | null;
  reservationEndMs: number | null;
  overflowReservationId: string | null;
  /** A permit holder's session (docs/permits.md); absent or null otherwise. */
  permitId?: string | null;
}

/**
 * What the gate decision admits (edge/lane/decision.ts) and the ledger records at passage. Declared
 * here once, because the store is the lower layer both sides depend on.
 */
export interface EntryPlan extends SessionFacts {
  sessionKind: SessionKind;
  /** Soft anti-passback admitted a vehicle recorded as inside: record the violation with the entry. */
  softPassbackViolation: boolean;
  /** A plate already recorded inside (soft mode): that stale session is closed by this entry. */
  supersedesSessionId: string | null;
}

export interface VehicleSession extends SessionFacts {
  id: string;
  kind: SessionKind;
  entryLaneId: string | null;
  correlationId: string | null;
  enteredAt: number;
  entryEventId: number;
  /** Minor units paid in cash at the attendant while inside (currency of the lot's rates). */
  cashPaid: number;
  exitedAt: number | null;
  exitLaneId: string | null;
  exitEventId: number | null;
  closedReason: string | null;
}

export interface AlarmRecord {
  id: number;
  kind: string;
  laneId: string | null;
  detail: string;
  raisedAt: number;
  eventId: number | null;
  ackedAt: number | null;
  ackedBy: string | null;
  ackNote: string | null;
}

export interface UnableToCollectRecord {
  id: number;
  sessionId: string;
  reservationId: string | null;
  plate: string | null;
  amount: Money;
  at: number;
  laneId: string | null;
  eventId: number;
}

export interface AuditRecord {
  id: number;
  at: number;
  attendant: string;
  action: string;
  reason: string | null;
  target: string | null;
  detail: Record<string, unknown>;
  eventId: number | null;
}

export interface AttendantAccount {
  username: string;
  displayName: string;
  passwordHash: string;
  disabled: boolean;
}

/**
 * The read side the pure gate decision sees. Every method is one indexed point read (prepared
 * statement) or an in-memory lookup, so a decision stays well under a millisecond.
 */
export interface StoreView {
  reservationById(id: string): MirrorReservation | undefined;
  /** Reservations of a normalised plate that are CONFIRMED or CHECKED_IN and overlap [fromMs, toMs). */
  reservationsForPlate(plate: string, fromMs: number, toMs: number): MirrorReservation[];
  insideByPlate(plate: string): VehicleSession | undefined;
  insideByReservation(reservationId: string): VehicleSession | undefined;
  passbackState(reservationId: string): PassbackState | undefined;
  /** Vehicles inside that were admitted into the driveup pool. */
  driveupInside(): number;
  /** Bookable spots eligible for the vehicle type that are free for every slot of [startSlot, endSlot). */
  bookableFree(vehicleType: VehicleType, startSlot: number, endSlot: number): number;
  /** Permits (docs/permits.md): the mirror's, by id and by normalised plate. */
  permitById(id: string): MirrorPermit | undefined;
  permitsForPlate(plate: string): MirrorPermit[];
  /** Vehicles of the permit inside now, and the newest of their sessions. */
  permitInside(permitId: string): number;
  insideByPermit(permitId: string): VehicleSession | undefined;
  /** Vehicles inside that were admitted into the permit pool. */
  permitPoolInside(): number;
  /** The merchant validation redeemed on a stay, if any (absent in views without validations). */
  validationFor?(sessionId: string): SessionValidation | undefined;
  /** Whether this lot has recorded a use of the validation. */
  validationUsed?(validationId: string): boolean;
}

/** An entry as the ledger writes it: the plan plus where and when it happened. */
export interface EntryRecord extends EntryPlan {
  sessionId: string;
  atMs: number;
  laneId: string | null;
  correlationId: string | null;
}

export type { SessionValidation };

export interface ExitRecord {
  sessionId: string;
  atMs: number;
  laneId: string | null;
  correlationId: string | null;
  charge: Money | null;
  overstayMinutes: number;
  settlement: Settlement;
  /** Amount owed when settlement is 'owed' (charge minus cash already paid). */
  owed: Money | null;
  /** The merchant validation applied to the fee, reported with the exit. */
  validation?: ValidationUse | null;
}

/** What one committed write produced, for the event bus and the sync client. */
export interface CommitNotice {
  events: GateEvent[];
  alarms: AlarmRecord[];
  /** Alarms acknowledged in the transaction. */
  acknowledged: AlarmRecord[];
  /** Attendant actions audited in the transaction (login, manual open, cash, passback reset, alarm ack). */
  audits: AuditRecord[];
}

export interface OccupancyGroup {
  key: string;
  total: number;
  /** Bookable spots reserved now (a booking's window covers this slot). */
  held: number;
  /** Spots of the drive-up pool in this group. */
  driveupSpots: number;
  /** Drive-ups inside, spread over the groups' drive-up spots (drive-ups have no assigned spot). */
  driveupInside: number;
  /** Neither reserved nor taken by a drive-up. */
  free: number;
}

export interface Occupancy {
  at: string;
  pools: {
    bookable: { total: number; held: number; free: number; full: boolean };
    driveup: { total: number; inside: number; free: number; full: boolean };
    /** Spots held for permit holders (docs/permits.md). */
    permit?: { total: number; inside: number; free: number; full: boolean };
  };
  levels: OccupancyGroup[];
  spotTypes: OccupancyGroup[];
  vehiclesInside: number;
  /** The driveup pool is full: drive-ups are turned away unless an online overflow succeeds. */
  full: boolean;
}
