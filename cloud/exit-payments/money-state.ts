import type { MoneyStateBody } from '../../protocol/money-sync.js';
import { toIso } from '../../protocol/slots.js';
import type { Queryable } from '../db/database.js';

/** The most open-debt plates a lot is sent (largest first). */
const MAX_DEBTS = 5000;

/**
 * A lot's money state as shipped on down/money: every plate with open debt (at any lot: a debt
 * follows the car) and this lot's stays paid online that the cloud has not yet seen leave.
 */
export async function moneyState(
  q: Queryable,
  lotId: string,
  payBaseUrl: string,
  nowMs: number,
): Promise<MoneyStateBody> {
  const debts = await q.query<{ plate: string; amount: number; currency: string; n: number }>(
    `select plate, sum(amount)::bigint as amount, currency, count(*)::int as n
       from debts where status = 'open' group by plate, currency order by 2 desc, plate limit $1`,
    [MAX_DEBTS],
  );
  const paid = await q.query<{ session_id: string; amount: number; currency: string; covers_until: Date }>(
    `select c.session_id, sum(c.amount)::bigint as amount, min(c.currency) as currency,
            max(c.covers_until) as covers_until
       from exit_checkouts c
       left join gate_sessions s on s.lot_id = c.lot_id and s.session_id = c.session_id
      where c.lot_id = $1 and c.status = 'paid' and s.exited_at is null
      group by c.session_id order by c.session_id limit $2`,
    [lotId, MAX_DEBTS],
  );
  return {
    debts: debts.rows.map((d) => ({
      plate: d.plate,
      amount: { amount: d.amount, currency: d.currency },
      count: d.n,
    })),
    paidSessions: paid.rows.map((p) => ({
      sessionId: p.session_id,
      paid: { amount: p.amount, currency: p.currency },
      coversUntil: p.covers_until.toISOString(),
    })),
    payUrl: `${payBaseUrl}/pay/${lotId}`,
    at: toIso(nowMs),
  };
}

/** The money state of every lot of the app, pushed when its purposes or staff change it. */
export function moneySourceOver(app: {
  db: { pooled: Queryable; rows<R extends Record<string, unknown>>(t: string, v?: unknown[]): Promise<R[]> };
  config: { publicUrl: string };
  clock: { now(): number };
  moneySignals?: {
    on(e: 'changed', f: (lotId: string | null) => void): unknown;
    off(e: 'changed', f: (lotId: string | null) => void): unknown;
  };
}) {
  return {
    async lots() {
      return (await app.db.rows<{ id: string }>('select id from lots order by id')).map((r) => r.id);
    },
    state: (lotId: string) => moneyState(app.db.pooled, lotId, app.config.publicUrl, app.clock.now()),
    watch(onChange: (lotId: string | null) => void) {
      const signals = app.moneySignals;
      if (!signals) return () => {};
      signals.on('changed', onChange);
      return () => void signals.off('changed', onChange);
    },
  };
}
