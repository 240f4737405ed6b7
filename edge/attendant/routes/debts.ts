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

/** Debts the lot knows of, so the booth can tell a driver what the plate owes (offline too). */
export function debtRoutes(api: AttendantApi, { edge }: RouteDeps): void {
  api.get('/api/debts', { schema: { response: { 200: DebtsReply } } }, async () => ({
    debts: edge.store.money.debts(),
    payUrl: edge.store.money.payUrl(),
    debtPolicy: edge.store.mirror.config().lot.policy.debtPolicy ?? 'warn',
  }));
}
