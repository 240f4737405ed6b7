import type { ConnectivityState } from '../protocol/mqtt.js';
import type { Unsubscribe } from './devices/types.js';

/**
 * The link to the cloud as the sync client last reported it. Admission never waits for it;
 * online-only actions (overflow, online charging) read it.
 */
export class Connectivity {
  #state: ConnectivityState;
  #sinceMs: number;
  #listeners = new Set<(state: ConnectivityState, sinceMs: number) => void>();

  constructor(initial: ConnectivityState, sinceMs: number) {
    this.#state = initial;
    this.#sinceMs = sinceMs;
  }

  get state(): ConnectivityState {
    return this.#state;
  }

  get sinceMs(): number {
    return this.#sinceMs;
  }

  get online(): boolean {
    return this.#state === 'online';
  }

  set(state: ConnectivityState, sinceMs: number): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#sinceMs = sinceMs;
    for (const l of this.#listeners) l(state, sinceMs);
  }

  onChange(listener: (state: ConnectivityState, sinceMs: number) => void): Unsubscribe {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
