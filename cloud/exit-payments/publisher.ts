import type { Logger } from '../../protocol/logger.js';
import type { MoneyStateBody } from '../../protocol/money-sync.js';

/** Where the money state of each lot comes from (cloud/sync/repo-adapter.ts builds it over the app). */
export interface MoneySource {
  lots(): Promise<string[]>;
  state(lotId: string): Promise<MoneyStateBody>;
  /** Optional push: call onChange(lotId, or null for every lot) when debts or paid stays moved. */
  watch?(onChange: (lotId: string | null) => void): () => void;
}

export type PublishMoney = (lotId: string, body: MoneyStateBody) => Promise<void>;

/**
 * Keeps each lot's retained down/money current: every lot on start and after each broker
 * reconnect, then whatever changed — pushed (a capture, a settlement) or found by the poll (a debt
 * opened by an uploaded event, another cloud instance's work). Publishes only when the content
 * moved; a lot replaces its whole local copy with each message.
 */
export class MoneyPublisher {
  readonly #published = new Map<string, string>();
  #timer: NodeJS.Timeout | null = null;
  #unwatch: (() => void) | null = null;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(
    private readonly source: MoneySource,
    private readonly publish: PublishMoney,
    private readonly logger: Logger,
    private readonly pollMs: number,
  ) {}

  start(): void {
    this.#unwatch = this.source.watch?.(() => this.sync()) ?? null;
    this.#timer = setInterval(() => this.sync(), this.pollMs);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#unwatch?.();
    await this.#running;
  }

  republishAll(): void {
    this.#published.clear();
    this.sync();
  }

  sync(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#sync()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'money state publish failed; retrying'))
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          this.sync();
        }
      });
  }

  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #sync(): Promise<void> {
    for (const lotId of await this.source.lots()) {
      const body = await this.source.state(lotId);
      const key = JSON.stringify({ ...body, at: '' });
      if (this.#published.get(lotId) === key) continue;
      await this.publish(lotId, body);
      this.#published.set(lotId, key);
      this.logger.debug(
        { lotId, debts: body.debts.length, paidSessions: body.paidSessions.length },
        'money state published',
      );
    }
  }
}
