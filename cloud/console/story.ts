import type { ReservationRow } from '../repositories/reservations/rows.js';

/** A booking's story from its row, payments and gate facts: pure functions, oldest first. */

export interface PaymentRow {
  id: string;
  kind: 'capture' | 'overstay' | 'refund' | 'change';
  amount: string | number;
  currency: string;
  status: 'pending' | 'succeeded' | 'failed';
  detail: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface FactRow {
  kind: string;
  at: Date;
  fact_key: string;
}

type What =
  | 'created'
  | 'paid'
  | 'arrived'
  | 'left'
  | 'charged'
  | 'refunded'
  | 'cancelled'
  | 'gate'
  | 'payment_failed';

export interface StoryLine {
  at: string;
  what: What;
  detail: string;
}

export function paymentView(p: PaymentRow) {
  return {
    id: p.id,
    kind: p.kind,
    amount: Number(p.amount),
    currency: p.currency,
    status: p.status,
    detail: p.detail,
    createdAt: p.created_at.toISOString(),
  };
}

/** Captured (booking and overstay) minus refunded or pending refunds, minor units. */
export function refundable(payments: readonly PaymentRow[]): number {
  let total = 0;
  for (const p of payments) {
    if (p.kind === 'refund' && p.status !== 'failed') total -= Number(p.amount);
    else if (p.kind !== 'refund' && p.status === 'succeeded') total += Number(p.amount);
  }
  return Math.max(0, total);
}

const money = (amount: string | number, currency: string) =>
  `${(Number(amount) / 100).toFixed(2)} ${currency}`;

export function storyOf(
  row: ReservationRow,
  payments: readonly PaymentRow[],
  facts: readonly FactRow[],
  updatedAt: Date,
): StoryLine[] {
  const lines: StoryLine[] = [];
  const add = (at: Date | null, what: What, detail: string) => {
    if (at !== null) lines.push({ at: at.toISOString(), what, detail });
  };
  add(row.created_at, 'created', `${row.kind} for ${row.plate}, spot ${row.spot_label}`);
  for (const p of payments) {
    const sum = money(p.amount, p.currency);
    if (p.status === 'failed')
      add(p.updated_at, 'payment_failed', `${p.kind} ${sum}: ${p.detail ?? 'failed'}`);
    else if (p.kind === 'capture')
      add(p.created_at, 'paid', `${sum}${p.status === 'pending' ? ' (pending)' : ''}`);
    else if (p.kind === 'overstay' || p.kind === 'change')
      add(
        p.created_at,
        'charged',
        `${p.kind === 'change' ? 'booking change' : 'overstay'} ${sum}${p.status === 'pending' ? ' (pending)' : ''}`,
      );
    else
      add(
        p.updated_at,
        'refunded',
        `${sum}${p.status === 'pending' ? ' (pending)' : ''}${p.detail ? ` — ${p.detail}` : ''}`,
      );
  }
  add(row.checked_in_at, 'arrived', 'entered the lot');
  add(row.checked_out_at, 'left', 'left the lot');
  for (const f of facts) add(f.at, 'gate', `${f.kind} reported by the lot`);
  if (row.status === 'CANCELLED') add(updatedAt, 'cancelled', 'cancelled');
  return lines.sort((a, b) => a.at.localeCompare(b.at));
}
