import { z } from 'zod';
import { Id, IsoTimestamp, LotId, MoneySchema } from './domain.js';
import { PlateInput } from './http.js';

/**
 * Debts and online payment of what a lot is owed (docs/architecture.md, "Money and pricing"): the
 * HTTP bodies of the debt routes, the exit-fee quote and checkout, the capture return, and the
 * lot-level money state the cloud ships down to each lot over MQTT (`down/money`).
 */

export const DebtSource = z.enum(['unpaid_exit', 'failed_overstay', 'unable_to_collect']);
export const DebtStatus = z.enum(['open', 'paid', 'written_off']);

export const DebtView = z
  .object({
    id: Id,
    plate: z.string(),
    lotId: LotId,
    source: DebtSource,
    amount: MoneySchema,
    status: DebtStatus,
    reservationId: Id.nullable(),
    laneId: z.string().nullable(),
    enteredAt: IsoTimestamp.nullable(),
    exitedAt: IsoTimestamp.nullable(),
    createdAt: IsoTimestamp,
    settledBy: z.string().nullable(),
    settledReason: z.string().nullable(),
    settledAt: IsoTimestamp.nullable(),
  })
  .meta({ id: 'Debt' });
export type DebtView = z.infer<typeof DebtView>;

export const DebtListQuery = z.object({
  plate: PlateInput.optional(),
  lotId: LotId.optional(),
  status: DebtStatus.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const DebtList = z.object({ debts: z.array(DebtView), total: MoneySchema.nullable() });

export const DebtParams = z.object({ id: Id });

export const SettleDebtBody = z.discriminatedUnion('method', [
  z.object({ method: z.literal('provider') }).strict(),
  z
    .object({
      method: z.enum(['cash', 'write_off']),
      reason: z.string().trim().min(3).max(200),
    })
    .strict(),
]);
export type SettleDebtBody = z.infer<typeof SettleDebtBody>;

/** Pay through the provider (a checkout for exactly the debt), or the debt as settled by staff. */
export const SettleDebtResponse = z.object({
  debt: DebtView,
  checkout: z.object({ reference: z.string(), amount: MoneySchema, paymentUrl: z.string() }).nullable(),
});

/** The return from a checkout: the provider's payment token for the reference it was opened with. */
export const PayCompleteBody = z
  .object({
    reference: z
      .string()
      .min(6)
      .max(200)
      .regex(/^(exit|debt):[A-Za-z0-9_:-]+$/, 'exit:<lotId>:<sessionId> or debt:<debtId>'),
    paymentToken: z.string().min(1).max(4096),
  })
  .strict();
export const PayCompleteResponse = z.object({
  reference: z.string(),
  outcome: z.enum(['applied', 'duplicate']),
  amount: MoneySchema,
});

export const ExitFeeQuery = z.object({ plate: PlateInput });

/** What leaving now costs a vehicle inside the lot, from the lot's session data held in the cloud. */
export const ExitFeeQuote = z.object({
  lotId: LotId,
  plate: z.string(),
  sessionId: Id,
  enteredAt: IsoTimestamp,
  /** The fee for the stay up to `quotedAt`. */
  fee: MoneySchema,
  /** Already paid online for this stay. */
  paid: MoneySchema,
  /** What paying now settles (fee − paid); zero when nothing is due. */
  due: MoneySchema,
  quotedAt: IsoTimestamp,
});
export type ExitFeeQuote = z.infer<typeof ExitFeeQuote>;

/** No amount: the cloud computes it. The plate names the stay. */
export const ExitCheckoutBody = z.object({ plate: PlateInput }).strict();
export const ExitCheckoutResponse = z.object({
  reference: z.string(),
  amount: MoneySchema,
  coversUntil: IsoTimestamp,
  paymentUrl: z.string(),
});

export const PayPageParams = z.object({ lotId: LotId });
export const PayPageQuery = z.object({ plate: z.string().max(20).optional() });
