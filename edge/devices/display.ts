import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { DisplayEntry, LaneDisplay, RecordingDisplay } from './types.js';

/** The lane sign kept in memory: the attendant UI shows it and tests read its history. */
export class MemoryDisplay implements RecordingDisplay {
  readonly #clock: Clock;
  readonly #maxHistory: number;
  #current: string[] = [];
  #history: DisplayEntry[] = [];

  constructor(options: { clock: Clock; maxHistory?: number }) {
    this.#clock = options.clock;
    this.#maxHistory = Math.max(1, options.maxHistory ?? 200);
  }

  show(lines: string[]): void {
    this.#current = [...lines];
    this.#history.push({ at: this.#clock.now(), lines: [...lines] });
    // bounded: a lane runs for months
    if (this.#history.length > this.#maxHistory)
      this.#history.splice(0, this.#history.length - this.#maxHistory);
  }

  current(): string[] {
    return [...this.#current];
  }

  /** Oldest first, at most maxHistory entries. */
  history(): DisplayEntry[] {
    return this.#history.map((e) => ({ at: e.at, lines: [...e.lines] }));
  }

  close(): void {}
}

/** A sign that only logs what it would show (lanes without a physical sign). */
export class LogDisplay implements LaneDisplay {
  readonly #logger: Logger;
  #current: string[] = [];

  constructor(options: { logger: Logger }) {
    this.#logger = options.logger;
  }

  show(lines: string[]): void {
    this.#current = [...lines];
    this.#logger.info({ lines }, 'lane display');
  }

  current(): string[] {
    return [...this.#current];
  }

  close(): void {}
}
