import type { DebtView } from '../../protocol/debts.js';
import type { Money } from '../../protocol/money.js';
import type { Queryable } from '../db/database.js';

/** Reads of the debts table, scoped by who asks (cloud/debts/routes.ts decides the scope). */

export interface DebtRow {
  id: string;
  plate: string;
  lot_id: string;
  source: DebtView['source'];
  source_key: string;
  reservation_id: string | null;
  lane_id: string | null;
  entered_at: Date | null;
  exited_at: Date | null;
  amount: number;
  currency: string;
  status: DebtView['status'];
  settled_by: string | null;
  settled_reason: string | null;
  settled_at: Date | null;
  created_at: Date;
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function toDebtView(r: DebtRow): DebtView {
  return {
    id: r.id,
    plate: r.plate,
    lotId: r.lot_id,
    source: r.source,
    amount: { amount: r.amount, currency: r.currency },
    status: r.status,
    reservationId: r.reservation_id,
    laneId: r.lane_id,
    enteredAt: iso(r.entered_at),
    exitedAt: iso(r.exited_at),
    createdAt: r.created_at.toISOString(),
    settledBy: r.settled_by,
    settledReason: r.settled_reason,
    settledAt: iso(r.settled_at),
  };
}

export interface DebtFilter {
  plate?: string | undefined;
  lotId?: string | undefined;
  status?: DebtView['status'] | undefined;
  limit: number;
  /** Only these lots (staff); null = every lot (admin). */
  lotScope: string[] | null;
  /** Only these plates (a driver's own); null = any plate. */
  plateScope: string[] | null;
}

export async function listDebts(q: Queryable, f: DebtFilter): Promise<DebtRow[]> {
  const r = await q.query<DebtRow>(
    `select * from debts
      where ($1::text is null or plate = $1)
        and ($2::text is null or lot_id = $2)
        and ($3::text is null or status = $3)
        and ($4::text[] is null or lot_id = any($4))
        and ($5::text[] is null or plate = any($5))
      order by created_at desc, id
      limit $6`,
    [f.plate ?? null, f.lotId ?? null, f.status ?? null, f.lotScope, f.plateScope, f.limit],
  );
  return r.rows;
}

export async function debtById(q: Queryable, id: string, lock = false): Promise<DebtRow | null> {
  const r = await q.query<DebtRow>(`select * from debts where id = $1${lock ? ' for update' : ''}`, [id]);
  return r.rows[0] ?? null;
}

/** The plates a user has booked with: a driver's own plates. */
export async function platesOfUser(q: Queryable, userId: string): Promise<string[]> {
  const r = await q.query<{ plate: string }>('select distinct plate from reservations where user_id = $1', [
    userId,
  ]);
  return r.rows.map((x) => x.plate);
}

/** The lots a staff member acts on. */
export async function lotsOfStaff(q: Queryable, userId: string): Promise<string[]> {
  const r = await q.query<{ lot_id: string }>('select lot_id from lot_staff where user_id = $1', [userId]);
  return r.rows.map((x) => x.lot_id);
}

/** What a plate owes in open debts, per currency (one currency in practice), or null. */
export async function openDebtTotal(
  q: Queryable,
  plate: string,
): Promise<{ total: Money; oldestId: string; count: number } | null> {
  const r = await q.query<{ amount: number; currency: string; oldest: string; n: number }>(
    `select sum(amount)::bigint as amount, currency, (array_agg(id order by created_at, id))[1] as oldest,
            count(*)::int as n
       from debts where plate = $1 and status = 'open' group by currency order by 1 desc limit 1`,
    [plate],
  );
  const row = r.rows[0];
  if (row === undefined) return null;
  return { total: { amount: row.amount, currency: row.currency }, oldestId: row.oldest, count: row.n };
}
