import type { GateEvent } from '../../protocol/mqtt.js';
import type { Sql } from './ports.js';

type ExitEvent = Extract<GateEvent, { kind: 'exit' }>;

/**
 * A merchant validation reported with an exit (docs/pricing.md#validations): one row per exit
 * event, idempotent per (lot, event). A validation id with two rows was used twice — at two lots or
 * on two exits while offline — and the validation report flags it.
 */
export async function recordValidationUse(tx: Sql, lotId: string, e: ExitEvent): Promise<void> {
  const v = e.validation;
  if (v == null) return;
  await tx.query(
    `INSERT INTO validation_uses (lot_id, event_id, validation_id, merchant_id, session_id, discount_minor, currency, at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (lot_id, event_id) DO NOTHING`,
    [lotId, e.eventId, v.id, v.merchant, e.sessionId, v.discount.amount, v.discount.currency, e.at],
  );
}
