import type { Clock } from '../../protocol/clock.js';
import type { Reservation, VehicleType } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { Money } from '../../protocol/money.js';
import type { Random } from '../../protocol/random.js';
import type { Timers } from '../../protocol/timers.js';
import type { EdgeBus } from '../bus.js';
import type { Connectivity } from '../connectivity.js';
import type { DeviceHealth } from '../devices/types.js';
import type { EdgeMetrics } from '../metrics.js';
import type { GateLedger } from '../store/ledger.js';
import type { MirrorStore } from '../store/mirror.js';
import type { Settlement, StoreView } from '../store/types.js';
import type { DecisionContext, EntryPlan, ExitPlan } from './decision.js';
import type { MoneyView } from './money-policy.js';
import type { LaneState, LaneTiming } from './state-machine.js';

/** What a lane is given and what it reports: its configuration, the world it acts on, its status. */

export interface LaneConfig {
  id: string;
  /** Shown to attendants; the id when the config gives none. */
  name?: string;
  direction: 'entry' | 'exit';
  timing: LaneTiming;
}

export interface ChargeRequest {
  sessionId: string;
  reservationId: string | null;
  plate: string | null;
  amount: Money;
  reason: 'overstay' | 'driveup_fee';
  /** Same key for the same exit, so a retried or repeated charge is made once. */
  idempotencyKey: string;
  laneId: string;
  correlationId: string;
}

export type ChargeResult = { ok: true; reference?: string } | { ok: false; reason: string };

export interface OverflowHookRequest {
  plate: string;
  vehicleType: VehicleType;
  laneId: string;
  startMs: number;
  endMs: number;
  timeoutMs: number;
}

/** Online-only capabilities the sync client provides. Absent = offline behaviour. */
export interface OnlineHooks {
  requestOverflow?: (req: OverflowHookRequest) => Promise<Reservation | null>;
  cancelOverflow?: (reservationId: string) => Promise<void> | void;
  chargeOnline?: (req: ChargeRequest) => Promise<ChargeResult>;
  /** New outbox events were committed (wakes the publisher). */
  notifyEventsWritten?: () => void;
}

/** The parts of the store a lane uses: the decision's reads, its gate writes, an overflow grant. */
export interface LaneStore {
  gateView: StoreView;
  ledger: Pick<GateLedger, 'recordEntry' | 'recordExit' | 'recordEvent' | 'recordAlarm' | 'recordManualOpen'>;
  mirror: Pick<MirrorStore, 'upsertLocalReservation'>;
  /** Open debts by plate and stays paid online, from the cloud (edge/store/money.ts). */
  money: MoneyView;
}

export interface GateEnvironment {
  store: LaneStore;
  connectivity: Connectivity;
  hooks: () => OnlineHooks;
  decisionContext: (lane: LaneConfig) => DecisionContext;
  bus: EdgeBus;
  metrics: EdgeMetrics;
  clock: Clock;
  random: Random;
  timers: Timers;
  logger: Logger;
  /** Upper bound for an online charge before the exit falls back to "owed". */
  chargeTimeoutMs: number;
}

/** What an admission carries until the vehicle passes: the plan, and for an exit how it was settled. */
export type LanePassage =
  | { direction: 'entry'; plan: EntryPlan }
  | { direction: 'exit'; plan: ExitPlan; settlement: Settlement; owed: Money | null };

export interface LaneStatus {
  id: string;
  name: string;
  direction: 'entry' | 'exit';
  state: LaneState;
  since: string;
  correlationId: string | null;
  lastRead: { plate: string; confidence: number; at: string } | null;
  display: string[];
  arm: 'up' | 'down';
  limits: { open: boolean; closed: boolean };
  loops: { arming: boolean; safety: boolean };
  devices: { camera: DeviceHealth; qr: DeviceHealth };
}

export const iso = (ms: number) => new Date(ms).toISOString();
