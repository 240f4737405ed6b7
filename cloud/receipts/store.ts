import { type Receipt, type ReceiptPurpose, receiptNumber } from '../../protocol/receipts.js';
import type { Queryable } from '../db/database.js';
import { numberReceiptsNow } from './numbering.js';

/** A stored receipt with who may read it (the booking's driver, the lot's staff). */
export interface StoredReceipt {
  receipt: Receipt;
  lotId: string;
  /** The driver whose booking it paid, if any. */
  ownerId: string | null;
}

interface ReceiptRow {
  payment_id: string;
  number: string | null;
  receipt_prefix: string;
  kind: 'receipt' | 'credit_note';
  credits_payment_id: string | null;
  credits_number: string | null;
  credits_prefix: string | null;
  issued_at: Date;
  operator_legal_name: string;
  operator_vat_id: string | null;
  operator_address: string | null;
  lot_id: string;
  lot_name: string;
  time_zone: string;
  vat_rate_bp: number;
  currency: string;
  gross: string;
  vat: string;
  net: string;
  purpose: ReceiptPurpose;
  method: string;
  reservation_id: string | null;
  plate: string | null;
  period_start: Date | null;
  period_end: Date | null;
  owner_id: string | null;
}

const RECEIPT_SQL = `
  select r.*, o.number as credits_number, o.receipt_prefix as credits_prefix, res.user_id as owner_id
    from receipts r
    left join receipts o on o.payment_id = r.credits_payment_id
    left join reservations res on res.id = r.reservation_id
   where r.payment_id = $1`;

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/**
 * A receipt row read once more after numbering, when it was committed but not numbered yet (numbers
 * come after commit, migration 017): nobody is shown a receipt without its number.
 */
async function readNumbered<R extends { number: string | null }>(
  q: Queryable,
  read: () => Promise<R | undefined>,
  unnumbered: (r: R) => boolean = (r) => r.number === null,
): Promise<(R & { number: string }) | null> {
  let r = await read();
  if (r !== undefined && unnumbered(r)) {
    await numberReceiptsNow(q);
    r = await read();
  }
  return r === undefined || r.number === null ? null : (r as R & { number: string });
}

/** The receipt of a payment, or null when it has none (not succeeded, or unknown). */
export async function findReceipt(q: Queryable, paymentId: string): Promise<StoredReceipt | null> {
  const r = await readNumbered(
    q,
    async () => (await q.query<ReceiptRow>(RECEIPT_SQL, [paymentId])).rows[0],
    (row) => row.number === null || (row.credits_payment_id !== null && row.credits_number === null),
  );
  return r === null ? null : toStored(r, r.number);
}

function toStored(r: ReceiptRow, number: string): StoredReceipt {
  return {
    lotId: r.lot_id,
    ownerId: r.owner_id,
    receipt: {
      paymentId: r.payment_id,
      number: receiptNumber(r.receipt_prefix, Number(number)),
      kind: r.kind,
      credits:
        r.credits_number === null ? null : receiptNumber(r.credits_prefix ?? '', Number(r.credits_number)),
      issuedAt: r.issued_at.toISOString(),
      operator: { legalName: r.operator_legal_name, vatId: r.operator_vat_id, address: r.operator_address },
      lot: { id: r.lot_id, name: r.lot_name, timeZone: r.time_zone },
      vatRateBp: r.vat_rate_bp,
      currency: r.currency,
      gross: Number(r.gross),
      vat: Number(r.vat),
      net: Number(r.net),
      purpose: r.purpose,
      method: r.method,
      reservationId: r.reservation_id,
      plate: r.plate,
      periodStart: iso(r.period_start),
      periodEnd: iso(r.period_end),
    },
  };
}

/** The receipt of a booking's capture: its payment id and printed number, or null before it is paid. */
export async function bookingReceipt(
  q: Queryable,
  reservationId: string,
): Promise<{ paymentId: string; number: string } | null> {
  const r = await readNumbered(q, async () => {
    const { rows } = await q.query<{ payment_id: string; number: string | null; receipt_prefix: string }>(
      `select r.payment_id, r.number, r.receipt_prefix from receipts r join payments p on p.id = r.payment_id
        where p.reservation_id = $1 and p.kind = 'capture'`,
      [reservationId],
    );
    return rows[0];
  });
  return r === null
    ? null
    : { paymentId: r.payment_id, number: receiptNumber(r.receipt_prefix, Number(r.number)) };
}
