import QRCode from 'qrcode';
import { z } from 'zod';
import { MoneySchema } from '../../../protocol/domain.js';
import type { AttendantApi, RouteDeps } from '../context.js';

export const DebtsReply = z.object({
  /** Plates with open debt (any lot's), from the cloud's last money state; largest first. */
  debts: z.array(z.object({ plate: z.string(), amount: MoneySchema, count: z.number() })),
  /** The lot's public pay page (drivers pay debts and exit fees there), once known. */
  payUrl: z.string().nullable(),
  /** What the entry lanes do with a plate that owes: admit and show it, or refuse. */
  debtPolicy: z.enum(['warn', 'refuse']),
});

const PayQrQuery = z.object({ link: z.string().min(1).max(400) });
const LaneParams = z.object({ laneId: z.string().min(1).max(64) });

/**
 * Debts the lot knows of, so the booth can tell a driver what the plate owes (offline too); and the
 * QR of a lane's pay link (the console shows it with the lane display; a display driver can too).
 */
export function debtRoutes(api: AttendantApi, { edge }: RouteDeps): void {
  api.get(
    '/api/lanes/:laneId/pay-qr.svg',
    { schema: { params: LaneParams, querystring: PayQrQuery } },
    async (request, reply) => {
      const base = edge.store.money.payUrl();
      const { link } = request.query;
      // Only the lot's own pay page: the route never draws an arbitrary text.
      if (base === null || !(link === base || link.startsWith(`${base}?`)))
        return reply.code(404).send({ error: 'not_found', message: 'not this lot’s pay link' });
      const svg = await QRCode.toString(link, { type: 'svg', margin: 1 });
      return reply.type('image/svg+xml').header('cache-control', 'private, max-age=300').send(svg);
    },
  );

  api.get('/api/debts', { schema: { response: { 200: DebtsReply } } }, async () => ({
    debts: edge.store.money.debts(),
    payUrl: edge.store.money.payUrl(),
    debtPolicy: edge.store.mirror.config().lot.policy.debtPolicy ?? 'warn',
  }));
}
