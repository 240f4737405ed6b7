import type { Clock } from '../../protocol/clock.js';
import type { Reservation } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import type { BodyOf } from '../../protocol/mqtt.js';
import { SLOT_MS } from '../../protocol/slots.js';
import type { CloudSyncMetrics } from './metrics.js';
import type { ChangeLog, OverflowBooking, SyncStore } from './ports.js';
import { splitBySize } from './split.js';

export type Reply = BodyOf<'reply'>;
export type SendReply = (lotId: string, reply: Reply) => Promise<void>;
type Request = BodyOf<'request'>;

export interface RequestHandlerOptions {
  changeLog: ChangeLog;
  overflow: OverflowBooking;
  store: SyncStore;
  reply: SendReply;
  clock: Clock;
  logger: Logger;
  metrics: CloudSyncMetrics;
  /** Changes read per query (also the most per reply). */
  batch: number;
}

/**
 * Answers edge requests (docs/architecture.md#requests-with-answers): resync from a seq (batches from the
 * log, or a snapshot when the log does not reach back), drive-up overflow bookings with a deadline,
 * and cancellation of an overflow grant the edge no longer wants.
 */
export class RequestHandler {
  private readonly log: ChangeLog;
  private readonly overflow: OverflowBooking;
  private readonly store: SyncStore;
  private readonly reply: SendReply;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: CloudSyncMetrics;
  private readonly batch: number;

  constructor(options: RequestHandlerOptions) {
    this.log = options.changeLog;
    this.overflow = options.overflow;
    this.store = options.store;
    this.reply = options.reply;
    this.clock = options.clock;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.batch = options.batch;
  }

  async handle(lotId: string, request: Request): Promise<void> {
    this.metrics.request(request.kind);
    switch (request.kind) {
      case 'resync':
        return this.#resync(lotId, request.correlationId, request.fromSeq);
      case 'overflow':
        return this.#overflow(lotId, request);
      case 'overflow_cancel':
        return this.#cancel(lotId, request.correlationId, request.reservationId);
    }
  }

  async #resync(lotId: string, correlationId: string, fromSeq: number): Promise<void> {
    this.metrics.resyncs++;
    const head = await this.log.headSeq(lotId);
    const floor = await this.log.logFloor(lotId);
    if (fromSeq < floor || fromSeq > head) {
      // The log no longer reaches back (pruned), or the edge is ahead of us (our log was reset):
      // the edge gets the lot's current state instead.
      return this.#snapshot(lotId, correlationId, { fromSeq, floor, head });
    }
    let cursor = fromSeq;
    for (;;) {
      const changes = await this.log.changesSince(lotId, cursor, this.batch);
      const more = changes.length >= this.batch;
      const parts = splitBySize(changes, 2000);
      const headNow = Math.max(head, changes.at(-1)?.seq ?? 0);
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        const done = !more && i === parts.length - 1;
        await this.reply(lotId, { kind: 'resync', correlationId, changes: part, headSeq: headNow, done });
      }
      if (!more) return;
      cursor = changes.at(-1)!.seq;
    }
  }

  async #snapshot(lotId: string, correlationId: string, why: Record<string, number>): Promise<void> {
    this.metrics.snapshots++;
    const { asOfSeq, reservations, permits } = await this.log.snapshot(lotId, this.clock.now());
    const parts = splitBySize(reservations, 2000);
    this.logger.info(
      { lotId, ...why, asOfSeq, reservations: reservations.length, parts: parts.length },
      'snapshot sent',
    );
    for (let i = 0; i < parts.length; i++) {
      await this.reply(lotId, {
        kind: 'snapshot',
        correlationId,
        asOfSeq,
        part: i,
        parts: parts.length,
        reservations: parts[i]!,
        ...(i === 0 && permits !== undefined ? { permits } : {}),
      });
    }
  }

  async #overflow(lotId: string, r: Extract<Request, { kind: 'overflow' }>): Promise<void> {
    const answer = (granted: Reservation | null, reason: string | null) =>
      this.reply(lotId, {
        kind: 'overflow',
        correlationId: r.correlationId,
        granted: granted !== null,
        reservation: granted,
        reason,
      });
    const earlier = await this.store.claimOverflow(lotId, r.correlationId);
    if (earlier) {
      // A duplicate delivery: repeat the first answer, never book twice.
      if (earlier.state === 'granted') return answer(earlier.reservation, null);
      if (earlier.state === 'refused') return answer(null, earlier.reason);
      if (earlier.state === 'cancelled') return answer(null, 'cancelled');
      return; // still being decided by the first delivery
    }
    const now = this.clock.now();
    if (Date.parse(r.deadline) <= now) {
      this.metrics.overflowRefused++;
      await this.store.settleOverflow(lotId, r.correlationId, {
        state: 'refused',
        reason: 'deadline passed',
      });
      return answer(null, 'deadline passed');
    }
    // Align defensively: from the current slot to the slot boundary at or after the requested end.
    const startMs = Math.floor(Math.max(Date.parse(r.start), now - SLOT_MS) / SLOT_MS) * SLOT_MS;
    const endMs = Math.max(startMs + SLOT_MS, Math.ceil(Date.parse(r.end) / SLOT_MS) * SLOT_MS);
    let result: Awaited<ReturnType<OverflowBooking['book']>>;
    try {
      result = await this.overflow.book({
        lotId,
        plate: r.plate,
        vehicleType: r.vehicleType,
        startMs,
        endMs,
        correlationId: r.correlationId,
      });
    } catch (error) {
      this.logger.warn({ err: error, lotId }, 'overflow booking failed');
      result = { granted: false, reason: 'booking failed' };
    }
    if (result.granted) {
      this.metrics.overflowGranted++;
      await this.store.settleOverflow(lotId, r.correlationId, {
        state: 'granted',
        reservation: result.reservation,
      });
      return answer(result.reservation, null);
    }
    this.metrics.overflowRefused++;
    await this.store.settleOverflow(lotId, r.correlationId, { state: 'refused', reason: result.reason });
    return answer(null, result.reason.slice(0, 200));
  }

  async #cancel(lotId: string, correlationId: string, reservationId: string): Promise<void> {
    const result = await this.overflow.cancel(lotId, reservationId);
    if (result.cancelled) this.metrics.overflowCancelled++;
    this.logger.info(
      { lotId, reservationId, correlationId, ...result },
      'overflow grant cancelled by the edge',
    );
  }
}
