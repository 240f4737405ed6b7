import { normalizePlate } from '../../protocol/plates.js';
import { iso } from './types.js';

export interface PlateSeen {
  plate: string;
  confidence: number;
}

export const samePlate = (a: string, b: string) => (normalizePlate(a) ?? a) === (normalizePlate(b) ?? b);

/**
 * The camera's last read. `decidedIn`: the cycle (correlation id) that decided on this plate;
 * `used`: that cycle recorded its passage, so the read belongs to a vehicle that has gone through
 * and a manual open must not attribute it to the next one.
 */
export class LastRead {
  #read: (PlateSeen & { at: number; decidedIn: string | null; used: boolean }) | null = null;

  get plate(): string | null {
    return this.#read?.plate ?? null;
  }

  remember(read: PlateSeen, at: number): void {
    const previous = this.#read;
    const same = previous !== null && samePlate(previous.plate, read.plate);
    this.#read = {
      plate: read.plate,
      confidence: read.confidence,
      at,
      // A repeat read of the same plate keeps what is known about it.
      decidedIn: same ? previous.decidedIn : null,
      used: same ? previous.used : false,
    };
  }

  /** A cycle is deciding on `plate`: if that is the last read, the read is this cycle's vehicle. */
  decidedIn(plate: string, correlationId: string): void {
    if (this.#read !== null && samePlate(this.#read.plate, plate)) this.#read.decidedIn = correlationId;
  }

  /** A manual open took the read for its passage. */
  claim(correlationId: string | null): void {
    if (this.#read !== null) this.#read.decidedIn = correlationId;
  }

  /** The cycle recorded its passage: its read is spent. */
  passageRecorded(correlationId: string): void {
    if (this.#read?.decidedIn === correlationId) this.#read.used = true;
  }

  /** The read for the vehicle now at the barrier: fresh (credential hold) or decided in this cycle. */
  forManualOpen(nowMs: number, cycle: string | null, credentialHoldMs: number): PlateSeen | null {
    const read = this.#read;
    if (read === null || read.used) return null;
    const fresh = nowMs - read.at <= credentialHoldMs;
    const thisVehicle = cycle !== null && read.decidedIn === cycle;
    return fresh || thisVehicle ? { plate: read.plate, confidence: read.confidence } : null;
  }

  status(): { plate: string; confidence: number; at: string } | null {
    const read = this.#read;
    return read && { plate: read.plate, confidence: read.confidence, at: iso(read.at) };
  }
}
