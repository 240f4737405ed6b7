import type { Logger } from '../../protocol/logger.js';
import type { EventEffects, SyncStore } from './ports.js';

export interface EffectsApplierOptions {
  /** Lease on a lot's effects; renewed every batch. Default 30 s. */
  leaseMs: number;
  /** Events read per batch. Default 500. */
  batch: number;
  /** An effect that keeps throwing is recorded on its event and skipped after this many tries. Default 5. */
  maxAttempts: number;
  /** Backlog sweep period (after a crash, a failed effect, another instance's expired lease). Default 2 s. */
  sweepMs: number;
}

/**
 * Applies stored gate events' effects per lot in eventId order, after they are stored and
 * acknowledged (so the ack never waits for reservation work). One cloud instance at a time per lot
 * (a lease in lot_event_watermark, no connection held while the effects run); effects are idempotent
 * per event, so re-applying after a crash between an effect and its watermark changes nothing.
 */
export class EffectsApplier {
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  readonly #attempts = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  applied = 0;
  failed = 0;

  constructor(
    private readonly store: SyncStore,
    private readonly effects: EventEffects,
    private readonly logger: Logger,
    private readonly owner: string,
    private readonly options: EffectsApplierOptions,
  ) {}

  start(): void {
    this.#timer = setInterval(() => void this.sweep(), this.options.sweepMs);
    this.#timer.unref?.();
    void this.sweep();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.idle();
  }

  async sweep(): Promise<void> {
    if (this.#stopped) return;
    try {
      for (const lotId of await this.store.effectsBacklog()) this.kick(lotId);
    } catch (error) {
      this.logger.warn({ err: error }, 'effects backlog sweep failed');
    }
  }

  kick(lotId: string): void {
    if (this.#stopped) return;
    if (this.#running.has(lotId)) {
      this.#again.add(lotId);
      return;
    }
    const run = this.#run(lotId)
      .catch((error: unknown) =>
        this.logger.warn({ err: error, lotId }, 'applying effects failed; the sweep retries'),
      )
      .finally(() => {
        this.#running.delete(lotId);
        if (this.#again.delete(lotId)) this.kick(lotId);
      });
    this.#running.set(lotId, run);
  }

  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running.values()]);
  }

  async #run(lotId: string): Promise<void> {
    let claim = await this.store.claimEffects(lotId, this.owner, this.options.leaseMs);
    if (!claim) return; // another instance is on it
    try {
      let applied = claim.appliedUpTo;
      while (!this.#stopped && applied < claim.storedUpTo) {
        const events = await this.store.storedEvents(lotId, applied, claim.storedUpTo, this.options.batch);
        if (events.length === 0) break;
        const errors: Array<{ eventId: number; error: string }> = [];
        let upTo = applied;
        let blocked = false;
        for (const event of events) {
          if (this.effects.affects(event)) {
            try {
              await this.effects.apply(lotId, event);
              this.#attempts.delete(`${lotId}/${event.eventId}`);
            } catch (error) {
              const key = `${lotId}/${event.eventId}`;
              const attempts = (this.#attempts.get(key) ?? 0) + 1;
              this.#attempts.set(key, attempts);
              const message = error instanceof Error ? error.message : String(error);
              if (attempts < this.options.maxAttempts) {
                this.logger.warn(
                  { lotId, eventId: event.eventId, attempts, err: message },
                  'gate event effect failed; will retry',
                );
                blocked = true;
                break;
              }
              this.#attempts.delete(key);
              this.failed++;
              this.logger.error(
                { lotId, eventId: event.eventId, kind: event.kind, err: message },
                'gate event effect failed for good; skipped',
              );
              errors.push({ eventId: event.eventId, error: message });
            }
          }
          upTo = event.eventId;
        }
        if (upTo > applied) {
          await this.store.markEffectsApplied(lotId, this.owner, upTo, errors);
          this.applied += upTo - applied;
          applied = upTo;
        }
        if (blocked) return;
        const renewed = await this.store.claimEffects(lotId, this.owner, this.options.leaseMs);
        if (!renewed) return;
        claim = renewed;
      }
    } finally {
      // The lease expires on its own; a failed release only delays another instance.
      await this.store
        .releaseEffects(lotId, this.owner)
        .catch((error: unknown) => this.logger.warn({ err: error, lotId }, 'effects lease not released'));
    }
  }
}
