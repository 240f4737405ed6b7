import type { ReconciliationDay, ReconciliationReport } from '../../protocol/receipts.js';
import type { Queryable } from '../db/database.js';
import { reportBuckets } from './buckets.js';

/**
 * Reconciliation (docs/money.md): per lot-local day, the fees that fell due against what was
 * captured, refunded, is still owed or was written off, in the lot's currency, from the facts —
 * reservations, payments, the lot's gate charges and cash events, debts. `difference` is the money
 * nobody can account for: due − captured + refunded − owed − written off.
 */

export interface ReconciliationLot {
  id: string;
  timeZone: string;
  currency: string;
}

type Line = Exclude<keyof ReconciliationDay, 'day' | 'due' | 'captured' | 'difference'>;

/** $1 lot, $2 day boundaries, $3 first, $4 last, $5 currency. Every fact dated when it happened. */
const RECONCILIATION_SQL = `
  select i - 1 as i, line, sum(amount)::bigint as amount from (
    -- Booking prices confirmed (paid), less what a cancellation gave back by policy.
    select width_bucket(r.created_at, $2::timestamptz[]) as i, 'dueBookings' as line,
           r.price_amount - coalesce(r.refund_amount, 0) as amount
      from reservations r
     where r.lot_id = $1 and r.kind = 'booking' and r.currency = $5
       and r.created_at >= $3::timestamptz and r.created_at < $4::timestamptz
       and (r.status in ('CONFIRMED', 'CHECKED_IN', 'COMPLETED', 'NO_SHOW')
            or (r.status = 'CANCELLED' and r.payment_ref is not null))
    union all
    select width_bucket(r.checked_out_at, $2::timestamptz[]), 'dueOverstay', r.overstay_amount
      from reservations r
     where r.lot_id = $1 and r.currency = $5 and r.overstay_amount > 0
       and r.checked_out_at >= $3::timestamptz and r.checked_out_at < $4::timestamptz
    union all
    -- Drive-up fees at the exit (a booking's overstay is counted above, from the booking).
    select width_bucket(g.at, $2::timestamptz[]), 'dueExit', g.amount_minor
      from lot_gate_charges g
     where g.lot_id = $1 and g.kind = 'driveup' and g.currency = $5
       and g.at >= $3::timestamptz and g.at < $4::timestamptz
    union all
    select width_bucket(p.created_at, $2::timestamptz[]),
           case when p.kind = 'refund' then 'refunded' when p.method = 'cash' then 'capturedCash'
                else 'capturedProvider' end,
           p.amount
      from payments p
     where p.status = 'succeeded' and p.currency = $5
       -- Rows from before payments named their lot belong to their booking's lot.
       and (p.lot_id = $1 or (p.lot_id is null and p.reservation_id in (select id from reservations where lot_id = $1)))
       and p.created_at >= $3::timestamptz and p.created_at < $4::timestamptz
    union all
    -- Cash the attendants took at the gate, as the lot reported it.
    select width_bucket(c.at, $2::timestamptz[]), 'capturedCash', c.amount_minor
      from lot_cash_payments c
     where c.lot_id = $1 and c.currency = $5 and c.at >= $3::timestamptz and c.at < $4::timestamptz
    union all
    -- Debts on the day their fee arose (the exit), still open or written off.
    select width_bucket(coalesce(d.exited_at, d.created_at), $2::timestamptz[]),
           case d.status when 'open' then 'owed' else 'writtenOff' end, d.amount
      from debts d
     where d.lot_id = $1 and d.status in ('open', 'written_off') and d.currency = $5
       and coalesce(d.exited_at, d.created_at) >= $3::timestamptz
       and coalesce(d.exited_at, d.created_at) < $4::timestamptz
  ) facts group by 1, 2`;

const LINES: readonly Line[] = [
  'dueBookings',
  'dueOverstay',
  'dueExit',
  'capturedProvider',
  'capturedCash',
  'refunded',
  'owed',
  'writtenOff',
];

/** A day's figures from its lines, with the sums and the difference. */
function figures(lines: Record<Line, number>): Omit<ReconciliationDay, 'day'> {
  const due = lines.dueBookings + lines.dueOverstay + lines.dueExit;
  const captured = lines.capturedProvider + lines.capturedCash;
  return {
    due,
    ...pick(lines, ['dueBookings', 'dueOverstay', 'dueExit']),
    captured,
    ...pick(lines, ['capturedProvider', 'capturedCash', 'refunded', 'owed', 'writtenOff']),
    difference: due - captured + lines.refunded - lines.owed - lines.writtenOff,
  };
}

function pick<K extends Line>(lines: Record<Line, number>, keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, lines[k]])) as Record<K, number>;
}

const zero = (): Record<Line, number> => Object.fromEntries(LINES.map((l) => [l, 0])) as Record<Line, number>;

/** The day after a calendar date (YYYY-MM-DD). */
function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

export async function reconciliationReport(
  q: Queryable,
  lot: ReconciliationLot,
  range: { from: string; to: string },
): Promise<ReconciliationReport> {
  const { bounds } = await reportBuckets(q, lot.timeZone, range.from, nextDate(range.to), 'day');
  const b = bounds.map((x) => new Date(x.ms).toISOString());
  const { rows } = await q.query<{ i: number; line: Line; amount: string }>(RECONCILIATION_SQL, [
    lot.id,
    b,
    b[0],
    b[b.length - 1],
    lot.currency,
  ]);
  const perDay = bounds.slice(0, -1).map(zero);
  const total = zero();
  for (const r of rows) {
    const day = perDay[r.i];
    if (day === undefined) continue;
    day[r.line] += Number(r.amount);
    total[r.line] += Number(r.amount);
  }
  return {
    lotId: lot.id,
    timeZone: lot.timeZone,
    currency: lot.currency,
    from: range.from,
    to: range.to,
    days: perDay.map((lines, i) => ({ day: bounds[i]!.label.slice(0, 10), ...figures(lines) })),
    totals: figures(total),
  };
}

const CSV_COLUMNS: readonly (keyof ReconciliationDay)[] = [
  'day',
  'due',
  'dueBookings',
  'dueOverstay',
  'dueExit',
  'captured',
  'capturedProvider',
  'capturedCash',
  'refunded',
  'owed',
  'writtenOff',
  'difference',
];

/** As CSV (RFC 4180, CRLF): a header row, one row per day (money in minor units), then `total`. */
export function reconciliationCsv(report: ReconciliationReport): string {
  const rows = [
    [...CSV_COLUMNS, 'currency'],
    ...report.days.map((d) => [...CSV_COLUMNS.map((c) => d[c]), report.currency]),
    [
      'total',
      ...CSV_COLUMNS.slice(1).map((c) => report.totals[c as Exclude<typeof c, 'day'>]),
      report.currency,
    ],
  ];
  return `${rows.map((r) => r.join(',')).join('\r\n')}\r\n`;
}
