import type { EventEmitter } from 'node:events';
import type { Clock } from '../../protocol/clock.js';
import type { Reservation } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { BodyOf } from '../../protocol/mqtt.js';
import { SLOT_MS, slotOf, slotStartMs } from '../../protocol/slots.js';
import type { ConnectivityMonitor } from './connectivity.js';
import type { EdgeSyncEvents } from './events.js';
import type { EdgeLink } from './link.js';
import type { EdgeSyncMetrics } from './metrics.js';
import type { LotConfigMessage, OverflowRequest } from './ports.js';

const DEFAULT_OVERFLOW_TIMEOUT_MS = 1500;
const DEFAULT_OVERFLOW_HORIZON_MIN = 240;

type OverflowReply = Extract<BodyOf<'reply'>, { kind: 'overflow' }>;

interface PendingOverflow {
  resolve: (reservation: Reservation | null) => void;
  timer: NodeJS.Timeout;
}

export interface OverflowRequestsOptions {
  link: EdgeLink;
  clock: Clock;
  log: Logger;
  metrics: EdgeSyncMetrics;
  events: EventEmitter<EdgeSyncEvents>;
  connectivity: ConnectivityMonitor;
  newId: () => string;
  /** How long a timed-out request is remembered so that a late grant gets cancelled. */
  lateOverflowMemoryMs: number;
  /** The lot policy from the newest config seen (timeout and horizon defaults). */
  policy: () => LotConfigMessage['lot']['policy'] | undefined;
}

/**
 * Requests with answers (docs/architecture.md#requests-with-answers): a drive-up asks the cloud for a bookable spot with a deadline.
 * Each request waits for its reply by correlation id; a grant that arrives after nobody waits any more
 * is given back, so a late answer never holds a spot.
 */
export class OverflowRequests {
  readonly #pending = new Map<string, PendingOverflow>();
  /** Timed-out correlation ids → until when a late grant for them is still expected. */
  readonly #abandoned = new Map<string, number>();

  constructor(private readonly options: OverflowRequestsOptions) {}

  /** Resolves the reservation when granted within the deadline, null otherwise. Never rejects. */
  async request(request: OverflowRequest): Promise<Reservation | null> {
    const { link, connectivity, clock, log } = this.options;
    if (link.stopped || !link.connected || connectivity.state !== 'online') {
      log.debug({ state: connectivity.state }, 'no overflow while not online');
      return null;
    }
    const policy = this.options.policy();
    const timeoutMs = request.timeoutMs ?? policy?.overflowTimeoutMs ?? DEFAULT_OVERFLOW_TIMEOUT_MS;
    const horizonMs = (policy?.overflowHorizonMinutes ?? DEFAULT_OVERFLOW_HORIZON_MIN) * 60_000;
    const now = clock.now();
    const startMs = request.startMs ?? slotStartMs(slotOf(now));
    const endMs = request.endMs ?? Math.ceil((now + horizonMs) / SLOT_MS) * SLOT_MS;
    const correlationId = this.options.newId();
    return new Promise<Reservation | null>((resolve) => {
      this.#wait(correlationId, timeoutMs, resolve);
      const body: BodyOf<'request'> = {
        kind: 'overflow',
        correlationId,
        plate: request.plate,
        vehicleType: request.vehicleType,
        start: new Date(startMs).toISOString(),
        end: new Date(endMs).toISOString(),
        deadline: new Date(now + timeoutMs).toISOString(),
      };
      link.publish('request', link.message('request', body)).catch((error: unknown) => {
        log.debug({ err: error }, 'overflow request not sent');
        this.settle(correlationId, null);
      });
    });
  }

  /** Give a granted booking back (e.g. the car backed out). */
  async cancel(reservationId: string, correlationId: string = this.options.newId()): Promise<void> {
    const { link } = this.options;
    await link.publish(
      'request',
      link.message('request', { kind: 'overflow_cancel', correlationId, reservationId }),
    );
  }

  onReply(body: OverflowReply): void {
    const granted = body.granted && body.reservation !== null ? body.reservation : null;
    if (this.settle(body.correlationId, granted)) return;
    this.#abandoned.delete(body.correlationId);
    if (!granted) return;
    // Nobody waits for this grant any more (timed out, or asked before a restart): give it back.
    const { metrics, log, events } = this.options;
    metrics.overflowCancelled++;
    log.info(
      { correlationId: body.correlationId, reservationId: granted.id },
      'late overflow grant cancelled',
    );
    events.emit('overflow_cancelled', { correlationId: body.correlationId, reservationId: granted.id });
    this.cancel(granted.id).catch((error: unknown) =>
      log.warn({ err: error, reservationId: granted.id }, 'overflow cancel not sent'),
    );
  }

  /** Answers the waiting request, if any; true when someone was waiting. */
  settle(correlationId: string, reservation: Reservation | null): boolean {
    const pending = this.#pending.get(correlationId);
    if (!pending) return false;
    this.#pending.delete(correlationId);
    clearTimeout(pending.timer);
    pending.resolve(reservation);
    return true;
  }

  /** The link closed or the client stops: every waiting request gets null now. */
  settleAll(): void {
    for (const id of [...this.#pending.keys()]) this.settle(id, null);
  }

  /** Periodic: forget abandoned requests whose late grant can no longer come. */
  forgetExpired(now: number): void {
    for (const [id, until] of this.#abandoned) if (until < now) this.#abandoned.delete(id);
  }

  #wait(correlationId: string, timeoutMs: number, resolve: (r: Reservation | null) => void): void {
    const timer = setTimeout(() => {
      if (!this.#pending.has(correlationId)) return;
      this.#pending.delete(correlationId);
      this.#abandoned.set(correlationId, this.options.clock.now() + this.options.lateOverflowMemoryMs);
      this.options.log.info({ correlationId, timeoutMs }, 'overflow request timed out');
      resolve(null);
    }, timeoutMs);
    timer.unref?.();
    this.#pending.set(correlationId, { resolve, timer });
  }
}
