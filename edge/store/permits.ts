import type { AccessBand, Permit, PermitStatus } from '../../protocol/permits.js';
import type { Journal } from './journal.js';
import { storedPlate } from './rows.js';

/** A permit as the edge mirrors it (docs/permits.md); plates normalised. */
export interface MirrorPermit {
  id: string;
  holder: string;
  plates: string[];
  validFromMs: number;
  validToMs: number;
  accessHours: AccessBand[];
  maxInside: number;
  status: PermitStatus;
  version: number;
}

interface PermitRow {
  id: string;
  holder: string;
  valid_from_ms: number;
  valid_to_ms: number;
  access_hours: string;
  max_inside: number;
  status: string;
  version: number;
}

function prepare(db: Journal['db']) {
  return {
    byId: db.prepare<[string], PermitRow>('SELECT * FROM permits WHERE id = ?'),
    idsForPlate: db
      .prepare<[string], string>('SELECT permit_id FROM permit_plates WHERE plate = ? LIMIT 8')
      .pluck(),
    platesOf: db.prepare<[string], string>('SELECT plate FROM permit_plates WHERE permit_id = ?').pluck(),
    // A change older than what is stored (a resync overlapping a snapshot) never wins.
    upsert: db.prepare(
      `INSERT INTO permits (id, holder, valid_from_ms, valid_to_ms, access_hours, max_inside, status, version,
         seq, updated_at)
       VALUES (@id, @holder, @valid_from_ms, @valid_to_ms, @access_hours, @max_inside, @status, @version,
         @seq, @updated_at)
       ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, valid_from_ms = excluded.valid_from_ms,
         valid_to_ms = excluded.valid_to_ms, access_hours = excluded.access_hours,
         max_inside = excluded.max_inside, status = excluded.status, version = excluded.version,
         seq = max(permits.seq, excluded.seq), updated_at = excluded.updated_at
       WHERE excluded.version >= permits.version`,
    ),
    storedVersion: db.prepare<[string], number>('SELECT version FROM permits WHERE id = ?').pluck(),
    clearPlates: db.prepare('DELETE FROM permit_plates WHERE permit_id = ?'),
    addPlate: db.prepare('INSERT OR IGNORE INTO permit_plates (plate, permit_id) VALUES (?, ?)'),
    cancelMissing: db.prepare(
      `UPDATE permits SET status = 'cancelled', updated_at = ?
       WHERE status <> 'cancelled' AND id NOT IN (SELECT value FROM json_each(?))`,
    ),
  };
}

/**
 * The lot's permits as the change stream delivers them: one row per permit (full state, so applying
 * is an upsert, never older than what is stored) and its plates. Writes run inside the caller's
 * journal transaction (the mirror's, with the change cursor).
 */
export class PermitMirror {
  readonly #q: ReturnType<typeof prepare>;

  constructor(journal: Journal) {
    this.#q = prepare(journal.db);
  }

  /** Inside a journal write. */
  upsert(p: Permit, seq: number, nowMs: number): void {
    const stored = this.#q.storedVersion.get(p.id);
    if (stored !== undefined && stored > p.version) return;
    this.#q.upsert.run({
      id: p.id,
      holder: p.holder,
      valid_from_ms: Date.parse(p.validFrom),
      valid_to_ms: Date.parse(p.validTo),
      access_hours: JSON.stringify(p.accessHours),
      max_inside: p.maxInside,
      status: p.status,
      version: p.version,
      seq,
      updated_at: nowMs,
    });
    this.#q.clearPlates.run(p.id);
    for (const plate of p.plates) this.#q.addPlate.run(storedPlate(plate), p.id);
  }

  /** Inside a journal write: a snapshot's permits; any other permit is no longer live in the cloud. */
  replaceAll(permits: readonly Permit[], seq: number, nowMs: number): void {
    this.#q.cancelMissing.run(nowMs, JSON.stringify(permits.map((p) => p.id)));
    for (const p of permits) this.upsert(p, seq, nowMs);
  }

  byId(id: string): MirrorPermit | undefined {
    const r = this.#q.byId.get(id);
    return r ? this.#toPermit(r) : undefined;
  }

  /** Permits naming a normalised plate (any status: the gate says why a suspended one is refused). */
  forPlate(plate: string): MirrorPermit[] {
    const out: MirrorPermit[] = [];
    for (const id of this.#q.idsForPlate.all(plate)) {
      const p = this.byId(id);
      if (p) out.push(p);
    }
    return out;
  }

  #toPermit(r: PermitRow): MirrorPermit {
    return {
      id: r.id,
      holder: r.holder,
      plates: this.#q.platesOf.all(r.id),
      validFromMs: r.valid_from_ms,
      validToMs: r.valid_to_ms,
      accessHours: JSON.parse(r.access_hours) as AccessBand[],
      maxInside: r.max_inside,
      status: r.status as PermitStatus,
      version: r.version,
    };
  }
}
