import type { ValidationClaims, ValidationKind } from '../../protocol/validation.js';
import type { Journal } from './journal.js';

/** A validation redeemed on a stay at this lot. */
export interface SessionValidation {
  validationId: string;
  sessionId: string;
  merchant: string;
  kind: ValidationKind;
  value: number;
  usedAt: number;
}

interface UseRow {
  validation_id: string;
  session_id: string;
  merchant: string;
  kind: string;
  value: number;
  used_at: number;
}

const toValidation = (r: UseRow): SessionValidation => ({
  validationId: r.validation_id,
  sessionId: r.session_id,
  merchant: r.merchant,
  kind: r.kind as ValidationKind,
  value: r.value,
  usedAt: r.used_at,
});

export type RedeemOutcome =
  | { ok: true; validation: SessionValidation }
  | { ok: false; reason: 'used' | 'stay_validated'; usedAt: number };

/**
 * Merchant validations redeemed here (docs/pricing.md#validations). Single use is enforced in the
 * same SQLite transaction that records the use, offline too; the exit event then reports the use
 * and its discount to the cloud, which reconciles across lots.
 */
export class ValidationStore {
  readonly #journal: Journal;
  readonly #q;

  constructor(journal: Journal) {
    this.#journal = journal;
    const db = journal.db;
    this.#q = {
      byId: db.prepare<[string], UseRow>('SELECT * FROM validation_uses WHERE validation_id = ?'),
      bySession: db.prepare<[string], UseRow>('SELECT * FROM validation_uses WHERE session_id = ?'),
      insert: db.prepare(
        `INSERT INTO validation_uses (validation_id, session_id, merchant, kind, value, used_at, attendant)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  used(validationId: string): boolean {
    return this.#q.byId.get(validationId) !== undefined;
  }

  forSession(sessionId: string): SessionValidation | undefined {
    const row = this.#q.bySession.get(sessionId);
    return row === undefined ? undefined : toValidation(row);
  }

  /** Record the use of a verified validation on a stay; refused when either was used already. */
  redeem(r: { claims: ValidationClaims; sessionId: string; atMs: number; attendant: string }): RedeemOutcome {
    return this.#journal.write(() => {
      const used = this.#q.byId.get(r.claims.id);
      if (used !== undefined) return { ok: false, reason: 'used', usedAt: used.used_at };
      const other = this.#q.bySession.get(r.sessionId);
      if (other !== undefined) return { ok: false, reason: 'stay_validated', usedAt: other.used_at };
      const { id, merchant, kind, value } = r.claims;
      this.#q.insert.run(id, r.sessionId, merchant, kind, value, r.atMs, r.attendant);
      this.#journal.audit({
        atMs: r.atMs,
        attendant: r.attendant,
        action: 'validation',
        reason: null,
        target: r.sessionId,
        detail: { validationId: id, merchant, kind, value },
        eventId: null,
      });
      return { ok: true, validation: toValidation(this.#q.byId.get(id)!) };
    });
  }
}
