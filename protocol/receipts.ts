import { z } from 'zod';
import { Currency, Id, IsoTimestamp, LotId, MinorUnits } from './domain.js';
import { ReservationView } from './http.js';

/**
 * Operators (the legal entity that owns lots and issues receipts), receipts and the reconciliation
 * report (docs/money.md). Money is integer minor units; VAT rates are basis points (2000 = 20 %).
 */

export const OperatorId = Id;
export const OperatorParams = z.object({ id: OperatorId });

/** A VAT rate in basis points: 0 … 10000 (0 % … 100 %). */
export const VatRateBp = z.number().int().min(0).max(10_000);

const LegalName = z.string().trim().min(1).max(200);
const VatIdText = z
  .string()
  .trim()
  .max(32)
  .regex(/^[A-Za-z0-9 .-]*$/, 'letters, digits, spaces, . and - only');
const AddressText = z.string().trim().max(500);
export const ReceiptPrefix = z
  .string()
  .regex(/^[A-Z0-9]{1,10}$/, '1 to 10 capital letters or digits')
  .describe('Printed before every receipt number of the operator, e.g. `PE` → `PE-000042`.');

export const OperatorLot = z.object({ lotId: LotId, name: z.string(), vatRateBp: VatRateBp });

export const OperatorView = z
  .object({
    id: OperatorId,
    legalName: z.string(),
    vatId: z.string().nullable(),
    address: z.string().nullable(),
    receiptPrefix: ReceiptPrefix,
    /** Its lots with their VAT rates. */
    lots: z.array(OperatorLot),
    updatedAt: IsoTimestamp,
  })
  .meta({ id: 'Operator' });
export type OperatorView = z.infer<typeof OperatorView>;

export const OperatorList = z.object({ operators: z.array(OperatorView) });

export const PatchOperatorBody = z
  .strictObject({
    legalName: LegalName.optional(),
    /** null clears it. */
    vatId: VatIdText.nullable().optional(),
    address: AddressText.nullable().optional(),
    receiptPrefix: ReceiptPrefix.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, {
    message: 'give at least one of legalName, vatId, address, receiptPrefix',
  });
export type PatchOperatorBody = z.infer<typeof PatchOperatorBody>;

export const LotVatBody = z.strictObject({ vatRateBp: VatRateBp });
export const LotVatView = z.object({ lotId: LotId, operatorId: OperatorId, vatRateBp: VatRateBp });

/** What a receipt paid for. */
export const ReceiptPurpose = z.enum(['capture', 'overstay', 'exit', 'debt', 'refund']);
export type ReceiptPurpose = z.infer<typeof ReceiptPurpose>;

export const ReceiptFormat = z.object({
  format: z.enum(['pdf', 'html']).default('pdf'),
  /** The receipt link's signed token: lets whoever holds the link read the receipt without an account. */
  t: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,100}$/, 'the token from the receipt link')
    .optional(),
});

export const ReceiptParams = z.object({ paymentId: Id });

/** The link to a receipt, as a booking's view carries it once paid. */
export const ReceiptLink = z.object({ number: z.string(), url: z.string() });

/** A booking as `GET /v1/reservations/{id}` answers it: with its receipt link once paid. */
export const ReservationWithReceipt = ReservationView.extend({ receipt: ReceiptLink.nullable() });

/** A receipt as stored (the data the PDF and HTML render). */
export interface Receipt {
  paymentId: string;
  /** `<prefix>-<number, 6 digits at least>`. */
  number: string;
  kind: 'receipt' | 'credit_note';
  /** The number of the receipt a credit note credits. */
  credits: string | null;
  issuedAt: string;
  operator: { legalName: string; vatId: string | null; address: string | null };
  lot: { id: string; name: string; timeZone: string };
  vatRateBp: number;
  currency: string;
  gross: number;
  vat: number;
  net: number;
  purpose: ReceiptPurpose;
  method: string;
  reservationId: string | null;
  plate: string | null;
  periodStart: string | null;
  periodEnd: string | null;
}

/** A receipt's printed number: the operator's prefix, then the number padded to 6 digits. */
export function receiptNumber(prefix: string, n: number): string {
  return `${prefix}-${String(n).padStart(6, '0')}`;
}

/** VAT included in a gross amount (the database computes the same: cloud migration receipts). */
export function vatIncluded(gross: number, rateBp: number): number {
  const v = Math.round((Math.abs(gross) * rateBp) / (10_000 + rateBp));
  return gross < 0 ? -v : v;
}

const LocalDate = z.iso.date();

/** The longest range a reconciliation covers, in days. */
export const RECONCILIATION_MAX_DAYS = 400;

export const ReconciliationQuery = z
  .object({
    /** First lot-local day. */
    from: LocalDate,
    /** Last lot-local day (inclusive). */
    to: LocalDate,
    format: z.enum(['json', 'csv']).default('json'),
  })
  .superRefine((q, ctx) => {
    const days = (Date.parse(q.to) - Date.parse(q.from)) / 86_400_000;
    if (days < 0) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must not be before from' });
    } else if (days >= RECONCILIATION_MAX_DAYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `a reconciliation covers at most ${RECONCILIATION_MAX_DAYS} days`,
      });
    }
  });

/** One lot-local day's money (docs/money.md, "Reconciliation"). */
export const ReconciliationDay = z.object({
  /** The lot-local date. */
  day: LocalDate,
  /** Fees due: confirmed booking prices (less refunds their policy gave back), overstay, exit fees. */
  due: MinorUnits,
  dueBookings: MinorUnits,
  dueOverstay: MinorUnits,
  dueExit: MinorUnits,
  /** Captured: succeeded payments (provider and cash). */
  captured: MinorUnits,
  capturedProvider: MinorUnits,
  capturedCash: MinorUnits,
  refunded: MinorUnits,
  /** Open debts for fees of the day. */
  owed: MinorUnits,
  writtenOff: MinorUnits,
  /** due − captured + refunded − owed − writtenOff: money unaccounted for (0 when everything closes). */
  difference: MinorUnits,
});
export type ReconciliationDay = z.infer<typeof ReconciliationDay>;

export const ReconciliationReport = z
  .object({
    lotId: LotId,
    timeZone: z.string(),
    currency: Currency,
    from: LocalDate,
    to: LocalDate,
    days: z.array(ReconciliationDay),
    totals: ReconciliationDay.omit({ day: true }),
  })
  .meta({ id: 'Reconciliation' });
export type ReconciliationReport = z.infer<typeof ReconciliationReport>;
