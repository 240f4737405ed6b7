import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import { MAX_PAYLOAD_BYTES } from '../../protocol/mqtt.js';
import type { EdgeSyncStore, OutboxEvent } from './ports.js';

/** Publishes one batch; resolves once the broker has it (PUBACK), rejects when the link drops. */
export type PublishEvents = (events: OutboxEvent[]) => Promise<void>;

export interface OutboxPublisherOptions {
  batchSize: number;
  maxInFlightBatches: number;
  retransmitAfterMs: number;
  /** Room left in a message for the envelope around `{"events":[...]}`. */
  maxBatchBytes?: number;
}

interface InFlight {
  upTo: number;
  count: number;
}

/**
 * The outbox publisher (docs/architecture.md#up-gate-events): publishes unacknowledged events in order,
 * in batches, with at most `maxInFlightBatches` unacknowledged; resumes from the acknowledged
 * watermark after every reconnect and after `retransmitAfterMs` without ack progress. Duplicates are
 * harmless (the cloud stores each (lot, eventId) once); losses are impossible because nothing is
 * forgotten until `ackEvents`.
 */
export class OutboxPublisher {
  #connected = false;
  /** Highest eventId the cloud acknowledged. */
  #acked = 0;
  /** Highest eventId published on this connection. */
  #sent = 0;
  #inFlight: InFlight[] = [];
  #lastProgress = 0;
  #pumping: Promise<void> | null = null;
  #again = false;
  #generation = 0;
  #initialized = false;
  readonly #maxBatchBytes: number;

  /** Hooks for the connectivity monitor: called with true while something waits for an ack. */
  onWaiting: (waiting: boolean) => void = () => {};

  constructor(
    private readonly store: EdgeSyncStore,
    private readonly publish: PublishEvents,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: OutboxPublisherOptions,
  ) {
    this.#maxBatchBytes = options.maxBatchBytes ?? MAX_PAYLOAD_BYTES - 1024;
  }

  get ackedUpTo(): number {
    return this.#acked;
  }

  get inFlightBatches(): number {
    return this.#inFlight.length;
  }

  get sentUpTo(): number {
    return this.#sent;
  }

  async init(): Promise<void> {
    if (this.#initialized) return;
    const first = await this.store.pendingEvents(0, 1);
    this.#acked = first[0] ? first[0].eventId - 1 : await this.store.lastEventId();
    this.#sent = this.#acked;
    this.#initialized = true;
  }

  connected(): void {
    this.#connected = true;
    this.#generation++;
    this.#resetToWatermark();
    this.kick();
  }

  disconnected(): void {
    this.#connected = false;
    this.#generation++;
    this.#inFlight = [];
    this.onWaiting(false);
  }

  /** The cloud durably stored everything <= upTo. */
  async onAck(upTo: number): Promise<void> {
    if (upTo <= this.#acked) {
      // Nothing new. If the cloud is behind what we think was sent, it lost something: resend.
      if (
        this.#inFlight.length > 0 &&
        upTo < this.#sent &&
        this.clock.now() - this.#lastProgress > this.options.retransmitAfterMs
      ) {
        this.#resetToWatermark();
        this.kick();
      }
      return;
    }
    await this.store.ackEvents(upTo);
    this.#acked = upTo;
    if (this.#sent < upTo) this.#sent = upTo;
    this.#inFlight = this.#inFlight.filter((b) => b.upTo > upTo);
    this.#lastProgress = this.clock.now();
    this.onWaiting(this.#inFlight.length > 0);
    this.kick();
  }

  /** Periodic: retransmit when acks stalled. */
  tick(): void {
    if (!this.#connected || this.#inFlight.length === 0) return;
    if (this.clock.now() - this.#lastProgress > this.options.retransmitAfterMs) {
      this.logger.warn(
        { ackedUpTo: this.#acked, sentUpTo: this.#sent },
        'no ack progress; republishing from the acknowledged watermark',
      );
      this.#resetToWatermark();
      this.kick();
    }
  }

  /** Something may have been written to the outbox, or room may have opened up. */
  kick(): void {
    if (!this.#connected || !this.#initialized) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump()
      .catch((error: unknown) => this.logger.error({ err: error }, 'outbox publisher failed'))
      .finally(() => {
        this.#pumping = null;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  /** Resolves when the current pump round is over (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#pumping) await this.#pumping;
  }

  #resetToWatermark(): void {
    this.#sent = this.#acked;
    this.#inFlight = [];
    this.#lastProgress = this.clock.now();
    this.onWaiting(false);
  }

  async #pump(): Promise<void> {
    const generation = this.#generation;
    while (
      this.#connected &&
      generation === this.#generation &&
      this.#inFlight.length < this.options.maxInFlightBatches
    ) {
      const events = await this.store.pendingEvents(this.#sent, this.options.batchSize);
      if (generation !== this.#generation || !this.#connected) return;
      if (events.length === 0) return;
      for (const batch of this.#splitBySize(events)) {
        const upTo = batch[batch.length - 1]!.eventId;
        if (this.#inFlight.length === 0) this.#lastProgress = this.clock.now();
        this.#inFlight.push({ upTo, count: batch.length });
        this.#sent = upTo;
        this.onWaiting(true);
        this.publish(batch).catch((error: unknown) => {
          // The link dropped under us; the reconnect resumes from the watermark.
          this.logger.debug({ err: error, upTo }, 'event batch publish failed');
        });
      }
    }
  }

  /** Splits a batch so each message stays under the payload cap. */
  #splitBySize(events: OutboxEvent[]): OutboxEvent[][] {
    const out: OutboxEvent[][] = [];
    let current: OutboxEvent[] = [];
    let bytes = 0;
    for (const e of events) {
      const size = Buffer.byteLength(JSON.stringify(e)) + 1;
      if (current.length > 0 && bytes + size > this.#maxBatchBytes) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(e);
      bytes += size;
    }
    if (current.length > 0) out.push(current);
    return out;
  }
}
