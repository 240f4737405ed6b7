import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { openDatabase } from '../db/database.js';

/**
 * Transactions on a connection that does not pipeline (PGlite, and any plain pg client): statements
 * issued at once still run in order, and never as a query queued on a busy client — pg deprecates
 * that (removed in pg 9); the test runner turns the warning into a failure (--throw-deprecation).
 */

t.test('concurrent statements in one transaction, on PGlite', async (t) => {
  const db = await openDatabase({ kind: 'pglite', dir: null }, silentLogger());
  t.teardown(() => db.close());
  await db.pooled.query('create table tx_probe (n integer)');
  const r = await db.tx(
    async (q) => {
      await Promise.all([1, 2, 3].map((n) => q.query('insert into tx_probe values ($1)', [n])));
      return q.commitWith('select array_agg(n order by n)::text as ns from tx_probe');
    },
    { advisoryLock: { classId: 1, objectId: 2 } },
  );
  t.equal(r.rows[0]?.ns, '{1,2,3}', 'every statement ran, in the transaction');
  await t.rejects(
    db.tx(async (q) => {
      await Promise.all([q.query('insert into tx_probe values (4)'), q.query('select 1/0')]);
    }),
    /division by zero/,
  );
  const left = await db.rows<{ n: number }>('select n from tx_probe order by n');
  t.same(
    left.map((x) => x.n),
    [1, 2, 3],
    'a failed transaction kept nothing',
  );
});
