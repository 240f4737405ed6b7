import {
  BookingSearchQuery,
  BookingSearchResponse,
  BookingStory,
  RefundBody,
  RefundResponse,
} from '../../protocol/console.js';
import { ErrorBody, ReservationParams } from '../../protocol/http.js';
import type { Queryable } from '../db/database.js';
import { HttpError, unwrap } from '../errors.js';
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

/**
 * The console's refund of a booking, through the same refunds as `POST /v1/payments/:id/refunds`
 * (provider call, audit columns, never more than captured): the amount is taken from the booking's
 * capture first, then its overstay charge.
 */
async function refund(
  app: CloudApi,
  row: ReservationRow,
  user: AuthUser,
  body: { amount?: number | undefined; reason: string },
) {
  const q = app.db.pooled;
  const payments = (
    await q.query<PaymentRow & { method: string }>(
      `select id, kind, amount, currency, status, detail, created_at, updated_at, method
       from payments where reservation_id = $1 order by created_at, id`,
      [row.id],
    )
  ).rows;
  const left = refundable(payments);
  const conflict = (message: string) => new HttpError({ status: 409, error: 'not_refundable', message });
  if (left <= 0) throw conflict('nothing captured for this booking is left to refund');
  let due = body.amount ?? left;
  if (due > left) throw conflict(`at most ${left} (minor units) can be refunded`);
  let last: string | null = null;
  for (const p of payments) {
    if (due <= 0) break;
    if (p.kind === 'refund' || p.status !== 'succeeded' || p.method !== 'provider') continue;
    const found = await app.refunds.get(p.id);
    const amount = Math.min(due, found?.payment.refundable.amount ?? 0);
    if (amount <= 0) continue;
    const r = unwrap(
      await app.refunds.refund({ paymentId: p.id, amount, reason: body.reason, actor: user.id }),
    );
    last = r.refundId;
    due -= amount;
  }
  if (last === null) throw conflict('nothing captured for this booking is left to refund');
  const updated = await q.query<PaymentRow>(
    `select id, kind, amount, currency, status, detail, created_at, updated_at from payments where id = $1`,
    [last],
  );
  return paymentView(updated.rows[0]!);
}
