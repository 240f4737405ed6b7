import type Database from 'better-sqlite3';
import type { Money } from '../../protocol/money.js';
import type { MoneyStateBody } from '../../protocol/money-sync.js';

export interface OwedDebt {
  plate: string;
  amount: Money;
  count: number;
}

/**
 * The lot's local copy of its money state (edge/store/migrations/004_money.sql): replaced whole,
 * in one transaction, by each down/money message; read by the lanes with indexed point reads.
 */
export class MoneyStore {
  readonly #db: Database.Database;
  readonly #q;
  readonly #replace: (body: MoneyStateBody) => void;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#q = {
      debt: db.prepare<[string], { plate: string; amount: number; currency: string; count: number }>(
        'SELECT plate, amount, currency, count FROM money_debts WHERE plate = ?',
      ),
      debts: db.prepare<[], { plate: string; amount: number; currency: string; count: number }>(
        'SELECT plate, amount, currency, count FROM money_debts ORDER BY amount DESC, plate',
      ),
      paid: db.prepare<[string], number>('SELECT paid FROM money_paid_sessions WHERE session_id = ?').pluck(),
      payUrl: db.prepare<[], string>('SELECT pay_url FROM money_meta WHERE id = 1').pluck(),
      insertDebt: db.prepare('INSERT INTO money_debts (plate, amount, currency, count) VALUES (?, ?, ?, ?)'),
      insertPaid: db.prepare(
        'INSERT OR REPLACE INTO money_paid_sessions (session_id, paid, currency, covers_until) VALUES (?, ?, ?, ?)',
      ),
      setMeta: db.prepare('INSERT OR REPLACE INTO money_meta (id, pay_url, as_of) VALUES (1, ?, ?)'),
    };
    const q = this.#q;
    this.#replace = db.transaction((body: MoneyStateBody) => {
      db.prepare('DELETE FROM money_debts').run();
      db.prepare('DELETE FROM money_paid_sessions').run();
      for (const d of body.debts) q.insertDebt.run(d.plate, d.amount.amount, d.amount.currency, d.count);
      for (const p of body.paidSessions)
        q.insertPaid.run(p.sessionId, p.paid.amount, p.paid.currency, Date.parse(p.coversUntil));
      q.setMeta.run(body.payUrl, Date.parse(body.at));
    });
  }

  replace(body: MoneyStateBody): void {
    this.#replace(body);
  }

  /** What a plate owes in open debts, per the last state from the cloud; null when nothing. */
  debtOf(plate: string | null): OwedDebt | null {
    if (plate === null) return null;
    const r = this.#q.debt.get(plate);
    return r ? { plate: r.plate, amount: { amount: r.amount, currency: r.currency }, count: r.count } : null;
  }

  debts(): OwedDebt[] {
    return this.#q.debts
      .all()
      .map((r) => ({ plate: r.plate, amount: { amount: r.amount, currency: r.currency }, count: r.count }));
  }

  /** Minor units paid online for a stay (walked back and paid, or the lane's QR). */
  paidFor(sessionId: string): number {
    return this.#q.paid.get(sessionId) ?? 0;
  }

  /** The lot's public pay page, once the cloud has said where it is. */
  payUrl(): string | null {
    return this.#q.payUrl.get() ?? null;
  }

  get open(): boolean {
    return this.#db.open;
  }
}
