import { z } from 'zod';
import { Id, IsoTimestamp, MoneySchema } from './domain.js';

/**
 * MQTT `down/money`: the lot's whole money state (open debts by plate, stays paid online), retained
 * and replaced on every change, so a lot that reconnects has the latest at once and needs no log.
 */
export const MoneyStateBody = z.object({
  /** Open debts by plate, every lot's (a debt follows the car), newest first; capped. */
  debts: z
    .array(z.object({ plate: z.string().max(16), amount: MoneySchema, count: z.number().int().positive() }))
    .max(5000),
  /** Stays of this lot paid online, not yet seen leaving by the cloud: the total paid per session. */
  paidSessions: z.array(z.object({ sessionId: Id, paid: MoneySchema, coversUntil: IsoTimestamp })).max(5000),
  /** Where a driver pays: `<payUrl>?plate=…` is the public pay page of this lot. */
  payUrl: z.string().max(300),
  at: IsoTimestamp,
});
export type MoneyStateBody = z.infer<typeof MoneyStateBody>;
