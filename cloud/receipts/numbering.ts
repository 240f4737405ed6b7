import { type BatchRunner, createBatchRunner } from '../db/batch-runner.js';
import type { Queryable } from '../db/database.js';
import { definePlugin } from '../plugin.js';

/**
 * Receipt numbers are given after the paying transaction commits (migration 017,
 * `number_receipts()`): gapless per operator, in batches, so no payment waits on its operator's
 * counter. Every instance numbers on a short poll; a reader that finds a receipt without its number
 * numbers first (`numberReceiptsNow`), so nobody is ever shown a receipt without one.
 */

export const NUMBER_RECEIPTS_SQL = 'select number_receipts()';

/** How often an instance numbers the receipts committed since its last run. */
const RECEIPT_NUMBERING_POLL_MS = 1000;

/** Number every committed receipt that has none, now (waits for a concurrent numberer). */
export async function numberReceiptsNow(q: Queryable): Promise<void> {
  await q.query(NUMBER_RECEIPTS_SQL);
}

declare module 'fastify' {
  interface FastifyInstance {
    receiptNumbering: BatchRunner;
  }
}

export const receiptNumberingPlugin = definePlugin(
  async (app) => {
    const runner = createBatchRunner(app.db, app.log.child({ component: 'receipt-numbering' }), {
      sql: NUMBER_RECEIPTS_SQL,
      pollMs: RECEIPT_NUMBERING_POLL_MS,
      what: 'numbering receipts',
    });
    app.decorate('receiptNumbering', runner);
    app.addHook('onReady', async () => runner.start());
    app.addHook('onClose', async () => runner.stop());
  },
  { name: 'receipt-numbering', dependencies: ['db'] },
);
