import type { Logger } from '../../protocol/logger.js';
import type { ConfigSource, LotConfigMessage } from './ports.js';

/** Publishes a lot's configuration retained on down/config; resolves on PUBACK. */
export type PublishConfig = (lotId: string, config: LotConfigMessage) => Promise<void>;

/**
 * Keeps each lot's retained down/config current (spots and pools, rates, policies, public keys, version).
 * Publishes every lot on start and after every broker reconnect (a restarted broker may have lost
 * retained messages), and again whenever a lot's version changes (polled, or pushed via `changed()`).
 */
export class ConfigPublisher {
  readonly #published = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #stopWatch: (() => Promise<void>) | null = null;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(
    private readonly source: ConfigSource,
    private readonly publish: PublishConfig,
    private readonly logger: Logger,
    private readonly pollMs: number,
  ) {}

  async start(): Promise<void> {
    if (this.source.watch) {
      try {
        this.#stopWatch = await this.source.watch((lotId) => void this.changed(lotId));
      } catch (error) {
        this.logger.warn({ err: error }, 'config watch unavailable; polling');
      }
    }
    this.#timer = setInterval(() => this.sync(), this.pollMs);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#stopWatch)
      await this.#stopWatch().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'config watch did not stop cleanly'),
      );
    // #running never rejects: sync() logs its failures.
    await this.#running;
  }

  /** Forget what was published (broker reconnect) and publish everything again. */
  republishAll(): void {
    this.#published.clear();
    this.sync();
  }

  /** A lot's configuration changed: publish it now. */
  async changed(lotId: string): Promise<void> {
    const config = await this.source.config(lotId);
    if (!config) return;
    await this.publish(lotId, config);
    this.#published.set(lotId, config.version);
  }

  /** Compare versions and publish what moved. Coalesces concurrent calls. */
  sync(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#sync()
      .catch((error: unknown) =>
        this.logger.warn({ err: error }, 'config publish failed; retrying on the next poll'),
      )
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
    for (const { lotId, version } of await this.source.versions()) {
      if (this.#published.get(lotId) === version) continue;
      const config = await this.source.config(lotId);
      if (!config) continue;
      await this.publish(lotId, config);
      this.#published.set(lotId, config.version);
      this.logger.debug({ lotId, version: config.version }, 'config published');
    }
  }
}
