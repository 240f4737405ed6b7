import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { EdgeSyncMetrics } from './metrics.js';
import type { Command, CommandHandler, EdgeSyncStore } from './ports.js';

export interface CommandRunnerOptions {
  store: EdgeSyncStore;
  clock: Clock;
  log: Logger;
  metrics: EdgeSyncMetrics;
  execute: CommandHandler;
  /** Commands whose envelope is older than this are refused, never executed. */
  maxCommandAgeMs: number;
  /** The ack went to the outbox: publish it now. */
  acked: () => void;
}

/**
 * Operator commands from down/command: each runs at most once (deduped in memory while running and in
 * the store across restarts), stale ones are refused, and every outcome is acknowledged through the
 * outbox as a command_ack gate event.
 */
export class CommandRunner {
  readonly #running = new Set<string>();

  constructor(private readonly options: CommandRunnerOptions) {}

  /** Runs in the background (never behind the inbound queue); errors are logged. */
  run(command: Command, sentAt: string): void {
    const { commandId } = command;
    if (this.#running.has(commandId)) return;
    this.#running.add(commandId);
    this.#run(command, sentAt)
      .catch((error: unknown) => this.options.log.error({ err: error, commandId }, 'command failed'))
      .finally(() => this.#running.delete(commandId));
  }

  async #run(command: Command, sentAt: string): Promise<void> {
    const { store, clock, log, metrics, maxCommandAgeMs } = this.options;
    const { commandId } = command;
    if (await store.commandSeen(commandId)) {
      log.debug({ commandId }, 'duplicate command ignored');
      return;
    }
    const ageMs = clock.now() - Date.parse(sentAt);
    if (ageMs > maxCommandAgeMs) {
      log.warn({ commandId, ageMs }, 'stale command refused');
      await store.recordCommandAck(commandId, false, `expired: sent ${Math.round(ageMs / 1000)} s ago`);
    } else {
      const outcome = await this.#execute(command);
      metrics.commandsExecuted++;
      await store.recordCommandAck(commandId, outcome.ok, outcome.detail.slice(0, 200));
    }
    this.options.acked();
  }

  async #execute(command: Command): Promise<{ ok: boolean; detail: string }> {
    try {
      return await this.options.execute(command);
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }
}
