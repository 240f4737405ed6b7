import { EventEmitter } from 'node:events';
import type { Clock } from '../../protocol/clock.js';
import type { ConnectivityState } from '../../protocol/mqtt.js';

export interface ConnectivityChange {
  state: ConnectivityState;
  previous: ConnectivityState;
  sinceMs: number;
  reason: string;
}

/**
 * The edge's three link states (docs/architecture.md#presence-and-health):
 * - offline: no broker connection;
 * - degraded: broker connected, but something we asked the cloud (a resync, an event batch) has
 *   gone unanswered for longer than `cloudTimeoutMs`;
 * - online: otherwise.
 * Pure bookkeeping over an injected clock; the caller ticks it. Emits 'change' with a ConnectivityChange.
 */
export class ConnectivityMonitor extends EventEmitter<{ change: [ConnectivityChange] }> {
  #state: ConnectivityState = 'offline';
  #since: number;
  #brokerUp = false;
  /** Outstanding expectations of a cloud answer, by key, with the time they were opened. */
  readonly #waiting = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly cloudTimeoutMs: number,
  ) {
    super();
    this.#since = clock.now();
  }

  get state(): ConnectivityState {
    return this.#state;
  }

  get sinceMs(): number {
    return this.#since;
  }

  brokerConnected(): void {
    this.#brokerUp = true;
    // A fresh session: old expectations belonged to the previous connection.
    this.#waiting.clear();
    this.#evaluate('broker connected');
  }

  brokerDisconnected(): void {
    this.#brokerUp = false;
    this.#waiting.clear();
    this.#evaluate('broker unreachable');
  }

  /** We asked the cloud something and expect an answer (keeps the earliest time per key). */
  expect(key: string): void {
    if (!this.#waiting.has(key)) this.#waiting.set(key, this.clock.now());
    this.#evaluate('waiting for the cloud');
  }

  /** The expectation under `key` was met. */
  fulfilled(key: string): void {
    this.#waiting.delete(key);
    this.#evaluate('cloud answered');
  }

  /** Any message that only a live cloud sends proves it is there; it does not settle expectations by itself. */
  cloudHeard(): void {
    // A live cloud that answers something clears a degraded state even while other requests are queued
    // behind it; their clocks restart so they get a full timeout from now.
    if (this.#state === 'degraded') {
      const now = this.clock.now();
      for (const key of this.#waiting.keys()) this.#waiting.set(key, now);
    }
    this.#evaluate('cloud heard');
  }

  /** Re-evaluate timeouts; call periodically. */
  tick(): void {
    this.#evaluate('cloud not answering');
  }

  isWaiting(key: string): boolean {
    return this.#waiting.has(key);
  }

  #compute(): ConnectivityState {
    if (!this.#brokerUp) return 'offline';
    const now = this.clock.now();
    for (const since of this.#waiting.values()) if (now - since > this.cloudTimeoutMs) return 'degraded';
    return 'online';
  }

  #evaluate(reason: string): void {
    const next = this.#compute();
    if (next === this.#state) return;
    const previous = this.#state;
    this.#state = next;
    this.#since = this.clock.now();
    this.emit('change', { state: next, previous, sinceMs: this.#since, reason });
  }
}
