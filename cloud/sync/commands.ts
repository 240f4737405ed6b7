import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { BodyOf } from '../../protocol/mqtt.js';
import type { Command, CommandRecord, SyncStore } from './ports.js';

export type CommandInput =
  | { kind: 'open_lane'; laneId: string; reason: string; by: string }
  | { kind: 'reset_passback'; reservationId: string; reason: string; by: string };

/** Publishes on down/command with the original send time (the edge refuses stale commands by it). */
export type SendCommand = (lotId: string, command: BodyOf<'command'>, sentAt: string) => Promise<void>;

export interface CommandPublisherOptions {
  store: SyncStore;
  send: SendCommand;
  clock: Clock;
  logger: Logger;
  newId: () => string;
  /** Unacknowledged commands younger than this are republished when their lot comes back. */
  republishWindowMs: number;
}

/**
 * Operator commands to a lot (docs/architecture.md#commands: down/command, acknowledged by the edge's command_ack
 * gate event, which `effects.ts` records on lot_commands). Stored first, then published; unacknowledged
 * recent commands are republished when the lot comes back online (the edge dedupes by commandId and
 * refuses commands older than its bound, so a late "open lane" never fires).
 */
export class CommandPublisher {
  private readonly store: SyncStore;
  private readonly send: SendCommand;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly newId: () => string;
  private readonly republishWindowMs: number;

  constructor(options: CommandPublisherOptions) {
    this.store = options.store;
    this.send = options.send;
    this.clock = options.clock;
    this.logger = options.logger;
    this.newId = options.newId;
    this.republishWindowMs = options.republishWindowMs;
  }

  async sendCommand(lotId: string, input: CommandInput): Promise<CommandRecord> {
    const commandId = this.newId();
    const body: Command = { ...input, commandId } as Command;
    const sentAt = new Date(this.clock.now()).toISOString();
    await this.store.insertCommand({ commandId, lotId, body, sentAt, createdBy: input.by });
    try {
      await this.send(lotId, body, sentAt);
    } catch (error) {
      // Stored: it goes out when the lot (or the broker) is back within the republish window.
      this.logger.warn({ err: error, lotId, commandId }, 'command not published yet');
    }
    this.logger.info({ lotId, commandId, kind: body.kind, by: input.by }, 'operator command sent');
    return { commandId, lotId, body, sentAt, createdBy: input.by, ackedAt: null, ok: null, detail: null };
  }

  async republishPending(lotId: string): Promise<number> {
    const since = new Date(this.clock.now() - this.republishWindowMs).toISOString();
    const pending = await this.store.unackedCommands(lotId, since);
    for (const c of pending)
      await this.send(lotId, c.body, c.sentAt).catch((error: unknown) =>
        this.logger.warn({ err: error, lotId, commandId: c.commandId }, 'command not republished'),
      );
    if (pending.length > 0)
      this.logger.info({ lotId, count: pending.length }, 'unacknowledged commands republished');
    return pending.length;
  }
}
