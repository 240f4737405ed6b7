import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import { ok, type Result } from '../../protocol/result.js';
import { toIso } from '../../protocol/slots.js';
import type { WebhookAck } from '../../protocol/payments.js';
import type { Database } from '../db/database.js';
import type { PaymentFailure, PaymentProvider, ProviderEvent } from './provider.js';
import {
  type CapturedOutcome,
  PAYMENT_EVENT_UPSERT_SQL,
  type PaymentPurposes,
  type WebhookEventRecord,
} from './purposes.js';

/**
 * A provider's webhook, as the endpoint receives it (and as the sandbox raises it in process):
 * verified by the provider's signature check, applied, and recorded by event id in
 * `payment_events` (one write; the booking purpose writes it in its confirming statement). An event
 * applied before answers `replayed` and has no second effect (applying is idempotent, below); an
 * event whose applying failed (a crash, the provider unreachable mid-way) is recorded as seen, and
 * applied when it comes again.
 * Applying is idempotent on its own as well (payment refs, pending-only updates), so events that
 * arrive late, twice or out of order have one effect:
 * - checkout completed → the purpose of its reference (booking: confirm the hold, or refund a
 *   capture that confirmed nothing);
 * - charge / refund final → the pending payment row named by the idempotency key is settled.
 * A reference or key we do not know is logged and acknowledged (`unknown`).
 */

export interface WebhookHandler {
  handle(rawBody: string, signature: string | undefined): Promise<Result<WebhookAck, PaymentFailure>>;
  /** Forget applied events older than the retention (Stripe redelivers for up to three days). */
  prune(nowMs: number): Promise<number>;
}

/** Applied events are kept this long, well past Stripe's redelivery window. */
const EVENT_RETENTION_MS = 30 * 24 * 60 * 60_000;

interface WebhookDeps {
  db: Database;
  provider: PaymentProvider;
  purposes: PaymentPurposes;
  clock: Clock;
  log: Logger;
}

async function settleRow(
  { db, clock }: Pick<WebhookDeps, 'db' | 'clock'>,
  ev: Extract<ProviderEvent, { kind: 'charge' | 'refund' }>,
) {
  if (ev.key === null) return 'unknown' as const;
  const updated = await db.rows(
    `update payments set status = $2, provider_ref = coalesce(provider_ref, $3), detail = coalesce($4, detail),
            updated_at = $5
     where id = $1 and status = 'pending' and kind = any($6) returning id`,
    [
      ev.key,
      ev.outcome,
      ev.ref,
      ev.message,
      toIso(clock.now()),
      ev.kind === 'refund' ? ['refund'] : ['overstay', 'exit', 'debt'],
    ],
  );
  // receipt: issueReceipt(q, paymentId, now) goes here (when ev.outcome is 'succeeded')
  if (updated.length > 0) return 'applied' as const;
  const known = await db.rows('select 1 from payments where id = $1', [ev.key]);
  return known.length > 0 ? ('duplicate' as const) : ('unknown' as const);
}

/**
 * Record an event: applied (with its outcome), or seen and not applied (outcome null). Answers
 * whether it had been applied before this call (a replay). One statement: the CTE reads the row
 * as it was, the upsert never clears an earlier `applied_at`.
 */
async function recordEvent(
  { db, clock }: Pick<WebhookDeps, 'db' | 'clock'>,
  e: WebhookEventRecord,
  outcome: WebhookAck['outcome'] | null,
): Promise<boolean> {
  const [row] = await db.rows<{ applied_before: boolean }>(
    `with prev as (select applied_at from payment_events where provider = $1 and event_id = $2),
          up as (insert into payment_events (provider, event_id, type, reference, received_at, applied_at, outcome)
                 values ($1, $2, $3, $4, $5, $6, $7) ${PAYMENT_EVENT_UPSERT_SQL})
     select exists (select 1 from prev where applied_at is not null) as applied_before`,
    [
      e.provider,
      e.eventId,
      e.type,
      e.reference,
      e.receivedAt,
      outcome === null ? null : toIso(clock.now()),
      outcome,
    ],
  );
  return row?.applied_before === true;
}

export function createWebhookHandler(deps: WebhookDeps): WebhookHandler {
  const { db, provider, purposes, clock, log } = deps;
  const record = (e: WebhookEventRecord, outcome: WebhookAck['outcome'] | null) =>
    recordEvent(deps, e, outcome);

  async function apply(ev: ProviderEvent, event: WebhookEventRecord): Promise<CapturedOutcome | 'ignored'> {
    switch (ev.kind) {
      case 'checkout_completed':
        return purposes.dispatch({ ...ev.capture, event });
      case 'charge':
      case 'refund':
        return settleRow(deps, ev);
      default:
        return 'ignored';
    }
  }

  return {
    async prune(nowMs) {
      const gone = await db.rows(
        'delete from payment_events where applied_at is not null and received_at < $1 returning 1',
        [toIso(nowMs - EVENT_RETENTION_MS)],
      );
      return gone.length;
    },
    async handle(rawBody, signature) {
      const parsed = await provider.parseWebhook(rawBody, signature);
      if (!parsed.ok) {
        log.warn({ reason: parsed.error.message }, 'webhook refused: bad signature');
        return parsed;
      }
      const ev = parsed.value;
      const type = ev.kind === 'ignored' ? ev.type : ev.kind;
      const reference =
        ev.kind === 'checkout_completed' ? ev.capture.reference : ev.kind === 'ignored' ? null : ev.key;
      const event: WebhookEventRecord = {
        provider: provider.name,
        eventId: ev.eventId,
        type,
        reference,
        receivedAt: toIso(clock.now()),
      };
      // Applied straight away: applying is idempotent, so a replay finds its effect done
      // (`duplicate`), and the record below tells it was applied before (`replayed`).
      let outcome: CapturedOutcome | 'ignored';
      try {
        outcome = await apply(ev, event);
      } catch (err) {
        // Seen but not applied: kept for the record; the provider delivers it again.
        await record(event, null).catch((e: unknown) =>
          log.error({ err: e, eventId: ev.eventId }, 'could not record a webhook event that failed'),
        );
        throw err;
      }
      // The booking purpose records its event in the confirming statement itself.
      if (outcome === 'recorded') return ok({ received: true, eventId: ev.eventId, outcome: 'applied' });
      if (await record(event, outcome)) {
        return ok({ received: true, eventId: ev.eventId, outcome: 'replayed' });
      }
      if (outcome === 'unknown')
        log.warn({ eventId: ev.eventId, type, reference }, 'webhook for nothing we know; ignored');
      return ok({ received: true, eventId: ev.eventId, outcome });
    },
  };
}
