import QRCode from 'qrcode';
import { z } from 'zod';
import { QrQuery, ReservationParams } from '../../../protocol/http.js';
import { HttpError } from '../../errors.js';
import type { CloudApi } from '../api.js';
import { accessibleReservation, reservationErrors } from './access.js';

/** GET /v1/reservations/:id/qr: the signed credential as a PNG (default) or SVG image. */
export function reservationQrRoute(app: CloudApi): void {
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
          ...reservationErrors,
        },
      },
    },
    async (req, reply) => {
      const row = await accessibleReservation(app, { user: req.user, id: req.params.id, staffMay: true });
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
}
