import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import QRCode from 'qrcode';
import { z } from 'zod';
import { signCredential } from '../../protocol/credential.js';
import { ErrorBody, IdempotencyHeaders, LotParams, QrQuery } from '../../protocol/http.js';
import {
  CreatePermitBody,
  PatchPermitBody,
  type Permit,
  PermitListQuery,
  PermitListResponse,
  PermitParams,
  PermitSchema,
} from '../../protocol/permits.js';
import { HttpError, lotNotFound, unwrap } from '../errors.js';
import type { AuthUser } from '../plugins/auth.js';
import type { CloudApi } from './api.js';

/**
 * Permits (docs/permits.md): the lot's operators (and admins) issue, list, change, suspend, resume
 * and cancel them, and fetch a permit's signed QR. Others get a 404, not a hint.
 */
export const permitRoutes: FastifyPluginAsyncZod = async (app) => {
  createPermitRoute(app);
  listPermitsRoute(app);
  getPermitRoute(app);
  patchPermitRoute(app);
  cancelPermitRoute(app);
  permitQrRoute(app);
};

const STAFF = ['operator', 'admin'] as const;
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

const permitNotFound = (id: string) =>
  new HttpError({
    status: 404,
    error: 'permit_not_found',
    message: `permit ${id} not found`,
    field: 'params.id',
  });

async function permitOfStaff(app: CloudApi, user: AuthUser, id: string): Promise<Permit> {
  const permit = await app.permits.get(id);
  if (permit === null || !(await app.canActOnLot(user, permit.lotId))) throw permitNotFound(id);
  return permit;
}

function createPermitRoute(app: CloudApi): void {
  app.post(
    '/v1/lots/:lotId/permits',
    {
      config: { access: [...STAFF], idempotent: true },
      schema: {
        tags: ['permits'],
        summary: 'Issue a permit: holder, plates, validity, access hours, vehicles inside at once, price',
        description:
          '409 `permit_allocation_full` when the lot’s permit pool (times its `permitOversellPct`) is sold for ' +
          'overlapping dates; 409 `plate_has_permit` when a plate already holds a permit here.',
        headers: IdempotencyHeaders,
        params: LotParams,
        body: CreatePermitBody,
        response: { 201: PermitSchema, ...errors, 409: ErrorBody, 422: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!(await app.canActOnLot(req.user, req.params.lotId))) throw lotNotFound(req.params.lotId);
      const permit = unwrap(await app.permits.create(req.user.id, req.params.lotId, req.body));
      return reply.code(201).send(permit);
    },
  );
}

function listPermitsRoute(app: CloudApi): void {
  app.get(
    '/v1/lots/:lotId/permits',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['permits'],
        summary: 'The permits of a lot you operate',
        params: LotParams,
        querystring: PermitListQuery,
        response: { 200: PermitListResponse, ...errors },
      },
    },
    async (req) => {
      if (!(await app.canActOnLot(req.user, req.params.lotId))) throw lotNotFound(req.params.lotId);
      return { permits: await app.permits.list(req.params.lotId, req.query) };
    },
  );
}

function getPermitRoute(app: CloudApi): void {
  app.get(
    '/v1/permits/:id',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['permits'],
        summary: 'One permit',
        params: PermitParams,
        response: { 200: PermitSchema, ...errors },
      },
    },
    async (req) => permitOfStaff(app, req.user, req.params.id),
  );
}

function patchPermitRoute(app: CloudApi): void {
  app.patch(
    '/v1/permits/:id',
    {
      config: { access: [...STAFF], idempotent: true },
      schema: {
        tags: ['permits'],
        summary: 'Change a permit; `status` suspends (`suspended`) or resumes (`active`) it',
        description:
          'Reaches the lot’s gates in seconds online, on reconnect offline. A cancelled permit is 409.',
        headers: IdempotencyHeaders,
        params: PermitParams,
        body: PatchPermitBody,
        response: { 200: PermitSchema, ...errors, 409: ErrorBody, 422: ErrorBody },
      },
    },
    async (req) => {
      await permitOfStaff(app, req.user, req.params.id);
      return unwrap(await app.permits.patch(req.params.id, req.body));
    },
  );
}

function cancelPermitRoute(app: CloudApi): void {
  app.delete(
    '/v1/permits/:id',
    {
      config: { access: [...STAFF], idempotent: true },
      schema: {
        tags: ['permits'],
        summary: 'Cancel a permit: its plates and QR stop opening the gates; its plates are free again',
        headers: IdempotencyHeaders,
        params: PermitParams,
        response: { 200: PermitSchema, ...errors, 422: ErrorBody },
      },
    },
    async (req) => {
      await permitOfStaff(app, req.user, req.params.id);
      return unwrap(await app.permits.cancel(req.params.id));
    },
  );
}

/** The signed permit QR (`PP1`, protocol/credential.ts): validity as its window, first plate. */
function permitQrRoute(app: CloudApi): void {
  app.get(
    '/v1/permits/:id/qr',
    {
      config: { access: [...STAFF] },
      schema: {
        tags: ['permits'],
        summary: 'The permit’s signed credential as a QR code image (PNG, or SVG with format=svg)',
        params: PermitParams,
        querystring: QrQuery,
        response: {
          200: {
            description: 'PNG or SVG image',
            content: { 'image/png': { schema: z.string() }, 'image/svg+xml': { schema: z.string() } },
          },
          ...errors,
          409: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const permit = await permitOfStaff(app, req.user, req.params.id);
      if (permit.status === 'cancelled')
        throw new HttpError({
          status: 409,
          error: 'permit_cancelled',
          message: `permit ${permit.id} is cancelled`,
        });
      const text = permitCredential(app, permit);
      reply.header('cache-control', 'private, no-store');
      if (req.query.format === 'svg') {
        const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M' });
        return reply.type('image/svg+xml').send(Buffer.from(svg) as unknown as string);
      }
      const png = await QRCode.toBuffer(text, {
        type: 'png',
        errorCorrectionLevel: 'M',
        margin: 2,
        scale: 6,
      });
      return reply.type('image/png').send(png as unknown as string);
    },
  );
}

export function permitCredential(app: Pick<CloudApi, 'signingKeys'>, permit: Permit): string {
  return signCredential(
    {
      kind: 'permit',
      rid: permit.id,
      lot: permit.lotId,
      plate: permit.plates[0] ?? null,
      start: Date.parse(permit.validFrom),
      end: Date.parse(permit.validTo),
    },
    app.signingKeys.signer,
  );
}
