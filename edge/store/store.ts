import type Database from 'better-sqlite3';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { Unsubscribe } from '../devices/types.js';
import { AttendantStore } from './attendant-store.js';
import { openDatabase } from './database.js';
import { Journal } from './journal.js';
import { gateView } from './gate-view.js';
import { ValidationStore } from './validations.js';
import { GateLedger } from './ledger.js';
import { type LotFileConfig, MirrorStore } from './mirror.js';
import { MoneyStore } from './money.js';
import type { CommitNotice, StoreView } from './types.js';

export interface OpenStoreOptions {
  /** SQLite file, or ':memory:'. */
  path: string;
  lotId: string;
  clock: Clock;
  logger: Logger;
  /** The lot config from the local file (version 0); used until the cloud delivers a newer one. */
  fileConfig: LotFileConfig;
}

/**
 * The edge's durable state in one SQLite file, opened once and shared by three parts:
 *   mirror     the cloud's bookings: lot config, spot index, reservations, change cursor, bitmap
 *   ledger     what happened at the gates: sessions, passback, alarms, cash, and the outbox
 *   attendant  accounts, audit, look-ups, reports, occupancy
 *   money      open debts by plate and stays paid online, from the cloud
 * plus `gateView`, the gate decision's reads over mirror and ledger. A write that spans parts (an
 * entry's session and its outbox event) is one transaction. Callers take the part they need.
 */
export class EdgeStore {
  readonly db: Database.Database;
  readonly lotId: string;
  readonly mirror: MirrorStore;
  readonly ledger: GateLedger;
  readonly attendants: AttendantStore;
  /** Open debts by plate and stays paid online, from the cloud (down/money). */
  readonly money: MoneyStore;
  /** Merchant validations redeemed here (single use). */
  readonly validations: ValidationStore;
  readonly gateView: StoreView;
  readonly #journal: Journal;

  private constructor(journal: Journal, opts: OpenStoreOptions) {
    this.db = journal.db;
    this.lotId = opts.lotId;
    this.#journal = journal;
    const { clock, logger } = opts;
    this.mirror = new MirrorStore({ journal, lotId: opts.lotId, clock, logger, fileConfig: opts.fileConfig });
    this.ledger = new GateLedger({ journal, clock, logger });
    this.attendants = new AttendantStore({ journal, mirror: this.mirror, ledger: this.ledger, clock });
    this.money = new MoneyStore(journal.db);
    this.validations = new ValidationStore(journal);
    this.gateView = gateView(this.mirror, this.ledger, this.validations);
  }

  /** Opens (creating if needed) the file, applies pragmas and migrations, loads config, rebuilds the bitmap. */
  static open(opts: OpenStoreOptions): EdgeStore {
    const db = openDatabase(opts.path, opts.clock.now());
    try {
      return new EdgeStore(new Journal(db, opts.logger), opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Called after every commit that appended events, raised or acknowledged alarms, or audited. */
  onCommit(listener: (notice: CommitNotice) => void): Unsubscribe {
    return this.#journal.onCommit(listener);
  }
}
