import type { ConnectivityState } from '../protocol/mqtt.js';
import type { DeviceHealth, Unsubscribe } from './devices/types.js';
import type { LaneState } from './lane/state-machine.js';
import type { AlarmRecord, AuditRecord } from './store/types.js';

/** One audited attendant action as the attendant API shows it (`GET /api/audit`, SSE `audit`). */
export interface AuditEntry {
  id: number;
  at: string;
  attendant: string;
  action: string;
  reason: string | null;
  target: string | null;
  eventId: number | null;
}

export function auditEntry(a: AuditRecord): AuditEntry {
  return {
    id: a.id,
    at: new Date(a.at).toISOString(),
    attendant: a.attendant,
    action: a.action,
    reason: a.reason,
    target: a.target,
    eventId: a.eventId,
  };
}

/** What the edge tells its own listeners (attendant event stream, sync client wake-ups, tests). */
export type EdgeEvent =
  | {
      type: 'lane';
      laneId: string;
      state: LaneState;
      previous: LaneState;
      why: string;
      correlationId: string | null;
      display: string[];
      at: string;
    }
  | { type: 'read'; laneId: string; plate: string; confidence: number; at: string }
  | {
      type: 'passage';
      laneId: string;
      direction: 'entry' | 'exit';
      sessionId: string;
      plate: string | null;
      reservationId: string | null;
      eventId: number;
      correlationId: string;
      at: string;
    }
  | { type: 'alarm'; alarm: AlarmRecord }
  /** An alarm was acknowledged (by this or another console, or the cloud). */
  | { type: 'alarm_ack'; alarm: AlarmRecord }
  /** A lane device's reported health changed (camera/QR lost, retrying, back). */
  | {
      type: 'device';
      laneId: string;
      device: 'camera' | 'qr';
      health: DeviceHealth;
      detail: string;
      at: string;
    }
  /** An attendant action was audited (committed). */
  | ({ type: 'audit' } & AuditEntry)
  | { type: 'connectivity'; state: ConnectivityState; since: string }
  | { type: 'outbox'; lastEventId: number; depth: number }
  /** The cloud's money state (open debts, stays paid online) was replaced. */
  | { type: 'money'; at: string };

/** A tiny typed fan-out. A throwing listener is isolated from the others and from the emitter. */
export class EdgeBus {
  #listeners = new Set<(event: EdgeEvent) => void>();
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  on(listener: (event: EdgeEvent) => void): Unsubscribe {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: EdgeEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (e) {
        this.#onError(e);
      }
    }
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}
