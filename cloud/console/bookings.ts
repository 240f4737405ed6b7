import {
  BookingSearchQuery,
  BookingSearchResponse,
  BookingStory,
  RefundBody,
  RefundResponse,
} from '../../protocol/console.js';
import { ErrorBody, ReservationParams } from '../../protocol/http.js';
import { toIso } from '../../protocol/slots.js';
import type { Queryable } from '../db/database.js';
import { HttpError } from '../errors.js';
import type { AuthUser } from '../plugins/auth.js';
import { COLS, type ReservationRow, toView } from '../repositories/reservations/rows.js';
import type { CloudApi } from '../routes/api.js';
import { type PaymentRow, paymentView, refundable, storyOf } from './story.js';

/**
 * Operators' booking tools: search (plate, code, status, window; own lots only unless admin), a
 * booking's story, and an explicit refund through the payment provider (audited: who, why, how
 * much, in the payment's detail and the log).
 */
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const STAFF = ['operator', 'admin'] as const;

export function bookingRoutes(app: CloudApi): void {
  app.get(
    '/v1/console/reservations',
    {
      config: { access: STAFF },
      schema: {
        tags: ['console'],
        summary: 'Search bookings by plate, code (id prefix), status and window',
        querystring: BookingSearchQuery,
        response: { 200: BookingSearchResponse, ...errors },
      },
    },
    async (req) => ({ reservations: (await search(app.db.pooled, req.user, req.query)).map(toView) }),
  );
  app.get(
    '/v1/console/reservations/:id/story',
    {
      config: { access: STAFF },
      schema: {
        tags: ['console'],
        summary: 'A booking with its payments and gate facts, as a story',
        params: ReservationParams,
        response: { 200: BookingStory, ...errors },
      },
    },
    async (req) => story(app, await staffReservation(app, req.user, req.params.id)),
  );
  app.post(
    '/v1/reservations/:id/refund',
    {
      config: { access: STAFF },
      schema: {
        tags: ['console'],
        summary: 'Refund a booking (operator): all or part of what was captured, with a reason',
        params: ReservationParams,
        body: RefundBody,
        response: { 200: RefundResponse, ...errors, 502: ErrorBody },
      },
    },
    async (req) => {
      const row = await staffReservation(app, req.user, req.params.id);
      return { payment: await refund(app, row, req.user, req.body) };
    },
  );
}

async function staffReservation(app: CloudApi, user: AuthUser, id: string): Promise<ReservationRow> {
  const row = await app.reservations.get(id);
  if (row === null || !(await app.canActOnLot(user, row.lot_id))) {
    throw new HttpError({
      status: 404,
      error: 'reservation_not_found',
      message: `reservation ${id} not found`,
    });
  }
  return row;
}

type Search = ReturnType<typeof BookingSearchQuery.parse>;

async function search(q: Queryable, user: AuthUser, s: Search): Promise<ReservationRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replaceAll('?', `$${params.length}`));
  };
  if (user.role !== 'admin') add('lot_id in (select lot_id from lot_staff where user_id = ?)', user.id);
  if (s.lotId !== undefined) add('lot_id = ?', s.lotId);
  if (s.plate !== undefined) {
    const plate = s.plate.replace(/[\s\-.·]/g, '').toUpperCase();
    if (!/^[A-Z0-9]{1,24}$/.test(plate)) return [];
    add(`plate like ? || '%'`, plate);
  }
  if (s.code !== undefined) add(`id like ? || '%'`, s.code);
  if (s.status !== undefined) add('status = ?', s.status);
  if (s.from !== undefined) add('end_at > ?::timestamptz', s.from);
  if (s.to !== undefined) add('start_at < ?::timestamptz', s.to);
  params.push(s.limit);
  const rows = await q.query<ReservationRow>(
    `select ${COLS} from reservations ${where.length ? `where ${where.join(' and ')}` : ''}
     order by created_at desc, id desc limit $${params.length}`,
    params,
  );
  return rows.rows;
}

async function story(app: CloudApi, row: ReservationRow) {
  const q = app.db.pooled;
  const payments = (
    await q.query<PaymentRow>(
      `select id, kind, amount, currency, status, detail, created_at, updated_at
       from payments where reservation_id = $1 order by created_at, id`,
      [row.id],
    )
  ).rows;
  const facts = (
    await q.query<{ kind: string; at: Date; fact_key: string }>(
      'select kind, at, fact_key from gate_facts where reservation_id = $1 order by at',
      [row.id],
    )
  ).rows;
  const [updated] = await app.db.rows<{ updated_at: Date }>(
    'select updated_at from reservations where id = $1',
    [row.id],
  );
  return {
    reservation: toView(row),
    payments: payments.map(paymentView),
    story: storyOf(row, payments, facts, updated?.updated_at ?? row.created_at),
    refundable: refundable(payments),
  };
}

async function refund(
  app: CloudApi,
  row: ReservationRow,
  user: AuthUser,
  body: { amount?: number | undefined; reason: string },
) {
  const q = app.db.pooled;
  const payments = (
    await q.query<PaymentRow>(
      `select id, kind, amount, currency, status, detail, created_at, updated_at
       from payments where reservation_id = $1`,
      [row.id],
    )
  ).rows;
  const left = refundable(payments);
  const conflict = (message: string) => new HttpError({ status: 409, error: 'not_refundable', message });
  if (payments.some((p) => p.kind === 'refund')) throw conflict('this booking was already refunded');
  if (row.payment_ref === null || left <= 0) throw conflict('nothing was captured for this booking');
  const amount = body.amount ?? left;
  if (amount > left) throw conflict(`at most ${left} (minor units) can be refunded`);
  const id = `pay_${app.random.id(16)}`;
  const now = toIso(app.clock.now());
  const detail = `operator refund by ${user.id}: ${body.reason}`;
  // Recorded pending first: if the provider call is lost, the payments sweeper retries it (same key).
  const inserted = await q.query(
    `insert into payments (id, reservation_id, kind, amount, currency, status, detail, created_at, updated_at)
     values ($1, $2, 'refund', $3, $4, 'pending', $5, $6, $6) on conflict do nothing`,
    [id, row.id, amount, row.currency, detail, now],
  );
  if (inserted.rowCount !== 1) throw conflict('this booking was already refunded');
  app.log.info(
    { reservationId: row.id, paymentId: id, amount, by: user.id, reason: body.reason },
    'operator refund',
  );
  const r = await app.payments.refund({
    paymentRef: row.payment_ref,
    amount: { amount, currency: row.currency },
    idempotencyKey: id,
  });
  const status = r.ok ? 'succeeded' : 'failed';
  const updated = await q.query<PaymentRow>(
    `update payments set status = $2, provider_ref = $3, detail = $4, updated_at = $5 where id = $1
     returning id, kind, amount, currency, status, detail, created_at, updated_at`,
    [
      id,
      status,
      r.ok ? r.value.refundRef : null,
      r.ok ? detail : `${detail} — failed: ${r.error.message}`,
      toIso(app.clock.now()),
    ],
  );
  if (r.ok) await q.query('update reservations set refund_amount = $2 where id = $1', [row.id, amount]);
  else throw new HttpError({ status: 502, error: 'refund_failed', message: r.error.message });
  return paymentView(updated.rows[0]!);
}
