import type { Clock } from '../../protocol/clock.js';
import type { Database } from '../db/database.js';

/**
 * Fixed-window hit counters for the throttles (cloud/plugins/throttle.ts). In memory per instance by
 * default; in PostgreSQL (RATE_LIMIT_STORE=postgres) so that several cloud instances count together.
 */
export interface HitCounters {
  /** Counts one hit on `key` in its current window; the count includes this hit. */
  hit(key: string, windowMs: number): Promise<{ count: number; resetInMs: number }>;
}

/** Per-instance counters, bounded: past `maxKeys` expired windows are dropped, then the oldest. */
export class MemoryHitCounters implements HitCounters {
  readonly #windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly maxKeys = 50_000,
  ) {}

  async hit(key: string, windowMs: number) {
    const now = this.clock.now();
    let w = this.#windows.get(key);
    if (w === undefined || w.resetAt <= now) {
      if (w === undefined && this.#windows.size >= this.maxKeys) this.#evict(now);
      w = { count: 0, resetAt: now + windowMs };
      this.#windows.set(key, w);
    }
    w.count++;
    return { count: w.count, resetInMs: w.resetAt - now };
  }

  #evict(now: number): void {
    for (const [k, w] of this.#windows) if (w.resetAt <= now) this.#windows.delete(k);
    for (const k of this.#windows.keys()) {
      if (this.#windows.size < this.maxKeys) break;
      this.#windows.delete(k);
    }
  }
}

/**
 * Counters shared by every instance on the same database: one upsert per hit in an UNLOGGED table
 * (counters are transient: losing them in a database crash only resets the windows). The table is
 * created on first use rather than by a migration because it holds no data worth migrating.
 */
export class PostgresHitCounters implements HitCounters {
  #ready: Promise<void> | null = null;
  #hits = 0;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async hit(key: string, windowMs: number) {
    this.#ready ??= this.#create();
    await this.#ready;
    const now = this.clock.now();
    const [row] = await this.db.rows<{ hits: number; reset_at: string }>(
      `insert into throttle_counters as c (key, hits, reset_at) values ($1, 1, $2::bigint + $3::bigint)
       on conflict (key) do update set
         hits = case when c.reset_at <= $2::bigint then 1 else c.hits + 1 end,
         reset_at = case when c.reset_at <= $2::bigint then $2::bigint + $3::bigint else c.reset_at end
       returning hits, reset_at`,
      [key, now, windowMs],
    );
    if (++this.#hits % 1000 === 0)
      await this.db.rows('delete from throttle_counters where reset_at <= $1::bigint', [now]);
    return { count: row!.hits, resetInMs: Number(row!.reset_at) - now };
  }

  async #create(): Promise<void> {
    try {
      await this.db.rows(
        'create unlogged table if not exists throttle_counters (key text primary key, hits int not null, reset_at bigint not null)',
      );
    } catch (error) {
      // Two instances creating it at once: the loser sees a duplicate type/table; the table exists.
      const code = (error as { code?: string }).code;
      if (code !== '23505' && code !== '42P07') {
        this.#ready = null;
        throw error;
      }
    }
  }
}

/** A counting semaphore that never queues beyond `maxWaiting`: `tryAcquire` answers null at once then. */
export class BoundedSemaphore {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    readonly max: number,
    readonly maxWaiting: number,
  ) {}

  get active(): number {
    return this.#active;
  }

  /** A release function once a slot is free; null (immediately) when the slots and the queue are full. */
  tryAcquire(): Promise<() => void> | null {
    if (this.#active < this.max) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    if (this.#waiting.length >= this.maxWaiting) return null;
    return new Promise((resolve) => this.#waiting.push(() => resolve(this.#releaser())));
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    };
  }
}
