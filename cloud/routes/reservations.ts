import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import QRCode from 'qrcode';
import { z } from 'zod';
import {
  CancelResponse,
  CompleteBody,
  CreateReservationBody,
  ErrorBody,
  IdempotencyHeaders,
  QrQuery,
  ReservationCreated,
  ReservationListQuery,
  ReservationListResponse,
  ReservationParams,
  ReservationView,
} from '../../protocol/http.js';
import { HttpError, unwrap } from '../errors.js';
import type { AuthUser } from '../plugins/auth.js';
import { type ReservationRow, toView } from '../repositories/reservations.js';

const errors = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  422: ErrorBody,
};

export const reservationRoutes: FastifyPluginAsyncZod = async (app) => {
  const notFound = (id: string) =>
    new HttpError({ status: 404, error: 'reservation_not_found', message: `reservation ${id} not found` });

  /** Owners see their own; lot staff see their lots'; admins see all. Others get a 404, not a hint. */
  async function accessible(user: AuthUser, id: string, staffMay: boolean): Promise<ReservationRow> {
    const row = await app.reservations.get(id);
    if (row === null) throw notFound(id);
    if (user.role === 'admin' || row.user_id === user.id) return row;
    if (staffMay && (await app.canActOnLot(user, row.lot_id))) return row;
    throw notFound(id);
  }

  app.post(
    '/v1/reservations',
    {
      config: {
        access: ['driver', 'partner', 'operator', 'admin'],
        idempotent: true,
        rateLimit: {
          max: app.config.rateLimits.reservePerLotPerMinute,
          timeWindow: 60_000,
          hook: 'preValidation',
          keyGenerator: (req) => {
            const lotId = (req.body as { lotId?: unknown } | undefined)?.lotId;
            return typeof lotId === 'string' ? `reserve:${lotId.slice(0, 64)}` : `reserve-ip:${req.ip}`;
          },
        },
      },
      schema: {
        tags: ['reservations'],
        summary: 'Hold a spot (TENTATIVE) and get a payment URL',
        description:
          '409 `no_spot_free` when the lot is full for the window, `plate_overlap` when the car already holds an overlapping reservation.',
        headers: IdempotencyHeaders,
        body: CreateReservationBody,
        response: { 201: ReservationCreated, ...errors, 429: ErrorBody, 502: ErrorBody },
      },
    },
    async (req, reply) => reply.code(201).send(unwrap(await app.reservations.reserve(req.user, req.body))),
  );

  app.post(
    '/v1/reservations/:id/complete',
    {
      config: { access: ['driver', 'partner', 'operator', 'admin'], idempotent: true },
      schema: {
        tags: ['reservations'],
        summary: 'Pay: verify the payment token, confirm, and get the signed QR credential',
        description: '402 `payment_invalid` leaves the hold in place; 410 `hold_expired` charges nothing.',
        headers: IdempotencyHeaders,
        params: ReservationParams,
        body: CompleteBody,
        response: { 200: ReservationView, ...errors, 402: ErrorBody, 410: ErrorBody },
      },
    },
    async (req) => {
      const row = await accessible(req.user, req.params.id, false);
      return unwrap(await app.reservations.complete(req.params.id, req.body.paymentToken, row));
    },
  );

  app.post(
    '/v1/reservations/:id/cancel',
    {
      config: { access: ['driver', 'partner', 'operator', 'admin'], idempotent: true },
      schema: {
        tags: ['reservations'],
        summary: 'Cancel; slots are released and the refund follows the lot policy',
        headers: IdempotencyHeaders,
        params: ReservationParams,
        response: { 200: CancelResponse, ...errors },
      },
    },
    async (req) => {
      await accessible(req.user, req.params.id, true);
      return unwrap(await app.reservations.cancel(req.params.id));
    },
  );

  app.get(
    '/v1/reservations/:id',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['reservations'],
        summary: 'One reservation',
        params: ReservationParams,
        response: { 200: ReservationView, ...errors },
      },
    },
    async (req) => toView(await accessible(req.user, req.params.id, true)),
  );

  app.get(
    '/v1/reservations',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['reservations'],
        summary: 'Your reservations; operators and attendants: by lot and status',
        querystring: ReservationListQuery,
        response: { 200: ReservationListResponse, ...errors },
      },
    },
    async (req) => {
      const { user } = req;
      const { lotId, status, limit, cursor } = req.query;
      const page = { lotId, status, limit, cursor };
      if (user.role === 'admin') return app.reservations.list({ ...page, lotIds: 'all' });
      if (user.role === 'operator' || user.role === 'attendant') {
        if (lotId !== undefined) {
          if (!(await app.canActOnLot(user, lotId))) {
            throw new HttpError({
              status: 404,
              error: 'lot_not_found',
              message: `lot ${lotId} not found`,
              field: 'query.lotId',
            });
          }
          return app.reservations.list({ ...page, lotIds: 'all' });
        }
        const me = await app.users.byId(user.id);
        return app.reservations.list({ ...page, lotIds: me?.lotIds ?? [] });
      }
      return app.reservations.list({ ...page, userId: user.id, lotIds: 'all' });
    },
  );

  app.get(
    '/v1/reservations/:id/qr',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['reservations'],
        summary: 'The signed credential as a QR code image',
        params: ReservationParams,
        querystring: QrQuery,
        response: {
          200: {
            description: 'PNG or SVG image',
            content: { 'image/png': { schema: z.string() }, 'image/svg+xml': { schema: z.string() } },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const row = await accessible(req.user, req.params.id, true);
      if (row.credential === null || (row.status !== 'CONFIRMED' && row.status !== 'CHECKED_IN')) {
        throw new HttpError({
          status: 409,
          error: 'no_credential',
          message: `a ${row.status} reservation has no valid credential`,
        });
      }
      reply.header('cache-control', 'private, no-store');
      if (req.query.format === 'svg') {
        const svg = await QRCode.toString(row.credential, { type: 'svg', errorCorrectionLevel: 'M' });
        // Buffers skip the serializer; the schema's string type is only there for the OpenAPI document.
        return reply.type('image/svg+xml').send(Buffer.from(svg) as unknown as string);
      }
      const png = await QRCode.toBuffer(row.credential, {
        type: 'png',
        errorCorrectionLevel: 'M',
        margin: 2,
        scale: 6,
      });
      return reply.type('image/png').send(png as unknown as string);
    },
  );
};
