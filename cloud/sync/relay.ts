import type { Logger } from '../../protocol/logger.js';
import type { Change } from '../../protocol/mqtt.js';
import { splitBySize } from './split.js';
import type { ChangeLog, ChangeNotifications, SyncStore } from './ports.js';

export interface RelayOptions {
  pollMs: number;
  batch: number;
}

/** Publishes one batch of one lot's changes on down/changes with QoS 1; resolves on PUBACK. */
export type PublishChanges = (lotId: string, changes: Change[]) => Promise<void>;

export interface ChangeRelayDeps extends RelayOptions {
  changeLog: ChangeLog;
  store: SyncStore;
  publish: PublishChanges;
  logger: Logger;
  /** LISTEN lot_changes and the leader lock; without it the relay polls and always leads. */
  notifications?: ChangeNotifications;
}

interface LotState {
  published: number;
  known: number;
  running: Promise<void> | null;
  again: boolean;
}

/**
 * The change-log relay (docs/architecture.md#down-booking-changes): publishes each lot's log in seq order,
 * woken by LISTEN lot_changes, polling as the fallback. At least once: the published seq is kept in
 * memory and persisted after each batch, and the edge drops what it already has by seq. When several
 * cloud instances run, the one holding the leader lock relays; the others stand by.
 */
export class ChangeRelay {
  readonly #lots = new Map<string, LotState>();
  #timer: NodeJS.Timeout | null = null;
  #stopListening: (() => Promise<void>) | null = null;
  #leader = false;
  #canPublish = () => true;
  #stopped = false;
  published = 0;

  private readonly log: ChangeLog;
  private readonly store: SyncStore;
  private readonly publish: PublishChanges;
  private readonly logger: Logger;
  private readonly options: RelayOptions;
  private readonly notifications: ChangeNotifications | undefined;

  constructor(deps: ChangeRelayDeps) {
    this.log = deps.changeLog;
    this.store = deps.store;
    this.publish = deps.publish;
    this.logger = deps.logger;
    this.options = { pollMs: deps.pollMs, batch: deps.batch };
    this.notifications = deps.notifications;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** `canPublish` is false while the broker link is down; the relay then waits for `resume()`. */
  async start(canPublish: () => boolean): Promise<void> {
    this.#canPublish = canPublish;
    if (this.notifications) {
      try {
        this.#stopListening = await this.notifications.listen((lotId) => this.wake(lotId));
      } catch (error) {
        this.logger.warn({ err: error }, 'LISTEN unavailable; relying on polling');
      }
    }
    await this.#poll();
    this.#timer = setInterval(() => void this.#poll(), this.options.pollMs);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#stopListening)
      await this.#stopListening().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'LISTEN did not stop cleanly'),
      );
    // A lot's `running` never rejects: wake() logs pump failures.
    await Promise.all([...this.#lots.values()].map((s) => s.running));
  }

  /** The broker link is back: publish whatever accumulated. */
  resume(): void {
    void this.#poll();
  }

  /** Publishes the lot's log from what was last published. Safe to call any number of times. */
  wake(lotId: string, knownHead?: number): void {
    if (this.#stopped || !this.#leader) return;
    let state = this.#lots.get(lotId);
    if (!state) {
      state = { published: -1, known: 0, running: null, again: false };
      this.#lots.set(lotId, state);
    }
    if (knownHead !== undefined) state.known = Math.max(state.known, knownHead);
    if (state.running) {
      state.again = true;
      return;
    }
    const s = state;
    s.running = this.#pump(lotId, s)
      .catch((error: unknown) =>
        this.logger.warn({ err: error, lotId }, 'relay pump failed; the poll retries'),
      )
      .finally(() => {
        s.running = null;
        if (s.again) {
          s.again = false;
          this.wake(lotId);
        }
      });
  }

  /** Resolves when nothing is being published (tests). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.#lots.values()].map((s) => s.running).filter((p) => p !== null);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  async #poll(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (this.notifications?.tryLead) {
        const leader = await this.notifications.tryLead();
        if (leader !== this.#leader)
          this.logger.info({ leader }, leader ? 'relay leadership taken' : 'relay standing by');
        this.#leader = leader;
      } else {
        this.#leader = true;
      }
      if (!this.#leader || !this.#canPublish()) return;
      for (const { lotId, headSeq } of await this.log.heads()) {
        const state = this.#lots.get(lotId);
        if (!state || state.published < headSeq) this.wake(lotId, headSeq);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'relay poll failed');
    }
  }

  async #pump(lotId: string, state: LotState): Promise<void> {
    if (state.published < 0) {
      // First sight of this lot in this process: continue from the persisted cursor (else from the log's
      // floor: publishing history is cheap and a new lot's first change must not be skipped).
      state.published = (await this.store.relayCursor(lotId)) ?? (await this.log.logFloor(lotId));
    }
    while (!this.#stopped && this.#leader && this.#canPublish()) {
      const changes = await this.log.changesSince(lotId, state.published, this.options.batch);
      if (changes.length === 0) return;
      for (const batch of splitBySize(changes, 2000)) {
        if (batch.length === 0) continue;
        await this.publish(lotId, batch);
        state.published = batch[batch.length - 1]!.seq;
        this.published += batch.length;
      }
      await this.store.setRelayCursor(lotId, state.published);
      if (changes.length < this.options.batch) return;
    }
  }
}
