import type { Logger } from '../../protocol/logger.js';
import type { NotificationKind } from '../../protocol/notifications.js';
import type { Queryable } from '../db/database.js';

/**
 * The write side of the notification outbox: what each notifiable change adds to its own
 * transaction (here, to its own statement), keyed by a dedup key so a replay adds nothing.
 * The dispatcher (dispatcher.ts) reads the rows after commit.
 */

/**
 * A data-modifying CTE for the reservation status write (transitions.ts): `u` is the updated
 * row, `$3` the time, `$5` the change reason. Confirmed, cancelled, no-show and a completion with
 * an overstay charge each add one notification, in the same statement as the change.
 */
export function statusNotificationCte(): string {
  return `, n as (insert into notifications (dedup_key, kind, lot_id, reservation_id, created_at)
      select 'reservation:' || u.id || ':' || $5::text,
             case $5::text when 'confirmed' then 'booking_confirmed' when 'cancelled' then 'booking_cancelled'
                           when 'no_show' then 'no_show' else 'overstay_charged' end,
             u.lot_id, u.id, $3::timestamptz
        from u
       where $5::text in ('confirmed', 'cancelled', 'no_show')
          or ($5::text = 'completed' and coalesce(u.overstay_amount, 0) > 0)
      on conflict (dedup_key) do nothing)`;
}

/**
 * The debt insert (cloud/sync/effects.ts) with its notification: one statement, so both or
 * neither. `insertSql` must be an INSERT into lot_debts with its parameters, ending without
 * RETURNING; a debt already recorded (ON CONFLICT DO NOTHING) adds nothing.
 */
export function withDebtNotification(insertSql: string): string {
  return `with d as (${insertSql} returning lot_id, event_id, session_id, reservation_id, plate, amount_minor,
                     currency, at)
    insert into notifications (dedup_key, kind, lot_id, reservation_id, payload, created_at)
    select 'debt:' || d.lot_id || ':' || d.event_id, 'debt_opened', d.lot_id, d.reservation_id,
           jsonb_build_object('plate', d.plate, 'amount', d.amount_minor, 'currency', d.currency,
                              'sessionId', d.session_id, 'at', d.at),
           d.at
      from d
    on conflict (dedup_key) do nothing`;
}

/** Gate-event kinds that raise an operator alarm. */
export const ALARM_KINDS = ['tailgate', 'barrier_fault', 'device_fault'] as const;

interface AlarmEvent {
  kind: string;
  eventId: number;
  at: string;
  laneId: string | null;
  detail?: string;
  device?: string;
  state?: string;
}

/** The least a statement runner offers (a pg client or pool, the sync side's Sql). */
export interface Runner {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
}

/** Record a device alarm from a lot's gate event (once per event); other kinds are ignored. */
export async function notifyGateAlarm(q: Runner, lotId: string, e: AlarmEvent): Promise<void> {
  if (!(ALARM_KINDS as readonly string[]).includes(e.kind)) return;
  if (e.kind === 'device_fault' && e.state !== 'lost') return;
  const data = {
    alarm: e.kind,
    laneId: e.laneId,
    device: e.device ?? null,
    detail: e.detail ?? null,
    at: e.at,
  };
  await insertNotification(q, {
    dedupKey: `alarm:${lotId}:${e.eventId}`,
    kind: 'device_alarm',
    lotId,
    reservationId: null,
    payload: data,
    at: e.at,
  });
}

export interface NewNotification {
  dedupKey: string;
  kind: NotificationKind;
  lotId: string | null;
  reservationId: string | null;
  payload: Record<string, unknown>;
  at: string;
}

/** Insert one notification (in the caller's transaction); false when its dedup key was there. */
export async function insertNotification(q: Runner, n: NewNotification): Promise<boolean> {
  const r = await q.query(
    `insert into notifications (dedup_key, kind, lot_id, reservation_id, payload, created_at)
     values ($1, $2, $3, $4, $5, $6) on conflict (dedup_key) do nothing`,
    [n.dedupKey, n.kind, n.lotId, n.reservationId, JSON.stringify(n.payload), n.at],
  );
  return (r.rowCount ?? 0) > 0;
}

/** Holds expiring within `withinMs` of now, each told once ($1 now, $2 horizon). */
const HOLD_EXPIRING_SQL = `insert into notifications (dedup_key, kind, lot_id, reservation_id, created_at)
  select 'reservation:' || id || ':hold_expiring', 'hold_expiring', lot_id, id, $1::timestamptz
    from reservations
   where status = 'TENTATIVE' and hold_expires_at > $1::timestamptz and hold_expires_at <= $2::timestamptz
     and user_id is not null
  on conflict (dedup_key) do nothing`;

export async function scanExpiringHolds(q: Queryable, nowMs: number, withinMs: number): Promise<number> {
  const r = await q.query(HOLD_EXPIRING_SQL, [
    new Date(nowMs).toISOString(),
    new Date(nowMs + withinMs).toISOString(),
  ]);
  return r.rowCount ?? 0;
}

/**
 * Lot presence episodes: a lot offline (lot_presence) gets an episode when first seen so; once it
 * has lasted `graceMs` an alert; when the lot is online again, a back-online notice (only if the
 * alert went out) and the episode ends.
 */
export async function scanPresence(q: Queryable, nowMs: number, graceMs: number, log: Logger): Promise<void> {
  const now = new Date(nowMs).toISOString();
  await q.query(
    `insert into lot_offline_episodes (lot_id, seen_offline_at)
     select lot_id, $1::timestamptz from lot_presence where state = 'offline'
     on conflict (lot_id) do nothing`,
    [now],
  );
  const due = await q.query<{ lot_id: string; seen_offline_at: Date }>(
    `update lot_offline_episodes e set alerted_at = $1::timestamptz
       from lot_presence p
      where p.lot_id = e.lot_id and p.state = 'offline' and e.alerted_at is null
        and e.seen_offline_at <= $1::timestamptz - make_interval(secs => $2::double precision / 1000)
     returning e.lot_id, e.seen_offline_at`,
    [now, graceMs],
  );
  for (const row of due.rows) {
    const since = row.seen_offline_at.toISOString();
    await insertNotification(q, {
      dedupKey: `lot_offline:${row.lot_id}:${since}`,
      kind: 'lot_offline',
      lotId: row.lot_id,
      reservationId: null,
      payload: { offlineSince: since },
      at: now,
    });
    log.warn({ lotId: row.lot_id, offlineSince: since }, 'lot offline alert');
  }
  const back = await q.query<{ lot_id: string; seen_offline_at: Date; alerted_at: Date | null }>(
    `delete from lot_offline_episodes e using lot_presence p
      where p.lot_id = e.lot_id and p.state = 'online'
     returning e.lot_id, e.seen_offline_at, e.alerted_at`,
  );
  for (const row of back.rows) {
    if (row.alerted_at === null) continue;
    const since = row.seen_offline_at.toISOString();
    await insertNotification(q, {
      dedupKey: `lot_online:${row.lot_id}:${since}`,
      kind: 'lot_online',
      lotId: row.lot_id,
      reservationId: null,
      payload: { offlineSince: since, backAt: now },
      at: now,
    });
  }
}
