import type { ConnectivityState } from '../protocol/mqtt.js';
import type { Unsubscribe } from './devices/types.js';
import type { LaneState } from './lane/state-machine.js';
import type { AlarmRecord } from './store/types.js';

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
  | { type: 'connectivity'; state: ConnectivityState; since: string }
  | { type: 'outbox'; lastEventId: number; depth: number };

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
