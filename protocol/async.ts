/**
 * Waits for `work`, at most `ms`; never rejects. For shutdown paths that must not hang on a dead link:
 * a failure of `work` goes to `onError` (log it), a timeout just lets the caller move on.
 */
export async function within(
  work: Promise<unknown>,
  ms: number,
  onError: (error: unknown) => void,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const settled = work.then(
    () => undefined,
    (error: unknown) => onError(error),
  );
  await Promise.race([settled, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** Runs tasks one at a time in push order; a failing task is reported and the queue moves on. */
export class SerialQueue {
  #tail: Promise<void> = Promise.resolve();

  constructor(private readonly onError: (error: unknown) => void) {}

  push(task: () => Promise<void>): void {
    this.#tail = this.#tail.then(task).catch((error: unknown) => this.onError(error));
  }

  /** Resolves when everything pushed so far has run. */
  idle(): Promise<void> {
    return this.#tail;
  }
}

/** One SerialQueue per key (e.g. per lot): tasks of a key in push order, keys in parallel. */
export class KeyedSerialQueue {
  readonly #lanes = new Map<string, Promise<void>>();

  constructor(private readonly onError: (error: unknown, key: string) => void) {}

  push(key: string, task: () => Promise<void>): void {
    const previous = this.#lanes.get(key) ?? Promise.resolve();
    const next = previous
      .then(task)
      .catch((error: unknown) => this.onError(error, key))
      .finally(() => {
        if (this.#lanes.get(key) === next) this.#lanes.delete(key);
      });
    this.#lanes.set(key, next);
  }

  /** Resolves when the tasks queued right now have run. */
  async settled(): Promise<void> {
    await Promise.all([...this.#lanes.values()]);
  }

  /** Resolves when no key has work left, including work queued while waiting. */
  async idle(): Promise<void> {
    while (this.#lanes.size > 0) await this.settled();
  }
}
