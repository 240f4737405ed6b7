import fc from 'fast-check';
import t, { type Test } from 'tap';
import { vatIncluded } from '../../protocol/receipts.js';
import { toIso } from '../../protocol/slots.js';
import { issueReceipt } from '../receipts/issue.js';
import { numberReceiptsNow } from '../receipts/numbering.js';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0, type TestCloud } from './helpers.js';

/**
 * Receipt numbers are gapless and never repeat per operator, under concurrency (50 payments
 * succeeding at once on the real PostgreSQL, numberers running while they commit), and a payment
 * rolled back gives its number back. Numbers are given after commit (migration 017).
 * Every payment that becomes succeeded gets its receipt, whoever wrote it.
 */

async function succeededPayment(cloud: TestCloud, lotId: string, id: string, amount: number, hold = 0) {
  await cloud.db.tx(async (q) => {
    await q.query(
      `insert into payments (id, lot_id, reference, kind, amount, currency, status, method, created_at, updated_at)
       values ($1, $2, $3, 'exit', $4, 'EUR', 'succeeded', 'cash', $5, $5)`,
      [id, lotId, `exit:${lotId}:${id}`, amount, toIso(T0)],
    );
    // Hold the transaction open a little so that they overlap.
    if (hold > 0 && cloud.kind === 'postgres') await q.query('select pg_sleep($1)', [hold / 1000]);
  });
}

/** The operator's receipt numbers, once every committed receipt is numbered. */
async function numbers(cloud: TestCloud, operatorId: string): Promise<number[]> {
  await numberReceiptsNow(cloud.db.pooled);
  const rows = await cloud.db.rows<{ number: string }>(
    'select number from receipts where operator_id = $1 order by number',
    [operatorId],
  );
  return rows.map((r) => Number(r.number));
}

/** A lot created by a new admin, and the operator it got. */
async function lotOfNewAdmin(t: Test, cloud: TestCloud) {
  const admin = await cloud.userWithToken('admin');
  const lot = lotBody({}, 2);
  t.equal((await cloud.call('POST', '/v1/lots', { token: admin.token, body: lot })).status, 201);
  const [row] = await cloud.db.rows<{ operator_id: string }>('select operator_id from lots where id = $1', [
    lot.id,
  ]);
  return { admin, lot, operatorId: row!.operator_id };
}

t.test('50 concurrent payments get numbers 1..50; a rolled-back one leaves no gap', async (t) => {
  const cloud = await buildTestCloud({ poolSize: 25 });
  t.teardown(() => cloud.close());
  t.comment(`database: ${cloud.kind}`);
  const { admin, lot, operatorId } = await lotOfNewAdmin(t, cloud);
  t.equal(operatorId, `op-${admin.user.id}`, "a new lot gets its creator's default operator");

  // A payment that succeeds and is then rolled back: its number is given back.
  await t.rejects(
    cloud.db.tx(async (q) => {
      await q.query(
        `insert into payments (id, lot_id, reference, kind, amount, currency, status, method, created_at, updated_at)
         values ('rolled-back', $1, 'exit:x:y', 'exit', 100, 'EUR', 'succeeded', 'cash', $2, $2)`,
        [lot.id, toIso(T0)],
      );
      await issueReceipt(q, 'rolled-back', T0);
      throw new Error('crash before commit');
    }),
  );
  t.same(await numbers(cloud, operatorId), [], 'the rolled-back payment has no receipt and used no number');

  await Promise.all(
    Array.from({ length: 50 }, (_, i) => succeededPayment(cloud, lot.id!, `pay-${i}`, 100 + i, 20)),
  );
  const got = await numbers(cloud, operatorId);
  t.same(
    got,
    Array.from({ length: 50 }, (_, i) => i + 1),
    'numbers 1..50, no gap, no repeat',
  );
  const receipts = await cloud.db.rows<{ payment_id: string }>('select payment_id from receipts');
  t.equal(new Set(receipts.map((r) => r.payment_id)).size, 50, 'one receipt per payment');

  // Issuing again (an explicit call after the trigger) changes nothing.
  await cloud.db.tx((q) => issueReceipt(q, 'pay-0', T0 + HOUR));
  t.equal((await numbers(cloud, operatorId)).length, 50, 'idempotent per payment');

  // The next one continues the sequence.
  await succeededPayment(cloud, lot.id!, 'pay-next', 300);
  t.same((await numbers(cloud, operatorId)).slice(-1), [51]);
});

t.test(
  'numberers running while payments commit and abort: every committed receipt numbered once, 1..n',
  async (t) => {
    const cloud = await buildTestCloud({ poolSize: 30 });
    t.teardown(() => cloud.close());
    const { lot, operatorId } = await lotOfNewAdmin(t, cloud);
    const aborted = async (i: number) =>
      cloud.db
        .tx(async (q) => {
          await q.query(
            `insert into payments (id, lot_id, reference, kind, amount, currency, status, method, created_at, updated_at)
           values ($1, $2, $3, 'exit', 100, 'EUR', 'succeeded', 'cash', $4, $4)`,
            [`abort-${i}`, lot.id, `exit:${lot.id}:abort-${i}`, toIso(T0)],
          );
          await issueReceipt(q, `abort-${i}`, T0);
          throw new Error('rolled back');
        })
        .catch(() => undefined);
    // Three waves of writers, each wave racing numberers, the last wave with aborting writers.
    for (let wave = 0; wave < 3; wave++) {
      await Promise.all([
        ...Array.from({ length: 20 }, (_, i) =>
          succeededPayment(cloud, lot.id!, `w${wave}-${i}`, 100 + i, (i % 4) * 5),
        ),
        ...Array.from({ length: 6 }, () => numberReceiptsNow(cloud.db.pooled)),
        ...(wave === 2 ? Array.from({ length: 10 }, (_, i) => aborted(i)) : []),
      ]);
    }
    const got = await numbers(cloud, operatorId);
    t.same(
      got,
      Array.from({ length: 60 }, (_, i) => i + 1),
      '60 committed payments: numbers 1..60, no gap, no repeat',
    );
    const [counter] = await cloud.db.rows<{ last_number: string }>(
      'select last_number from receipt_counters where operator_id = $1',
      [operatorId],
    );
    t.equal(Number(counter!.last_number), 60, 'the counter agrees');
    const [aborts] = await cloud.db.rows<{ n: number }>(
      "select count(*)::int as n from receipts where payment_id like 'abort-%'",
    );
    t.equal(aborts!.n, 0, 'aborted payments left no receipt');
    // Numbered in issue order within a run: a later payment never gets a smaller number in one batch.
    await succeededPayment(cloud, lot.id!, 'z-late', 1);
    t.same((await numbers(cloud, operatorId)).slice(-1), [61], 'the next payment continues the sequence');
  },
);

t.test('a booking paid and refunded: receipt, then credit note with VAT split', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  const driver = await cloud.userWithToken('driver');
  const lot = lotBody({ policy: { ...lotBody().policy, refund: 'full_before_start' } }, 2);
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lot });
  await cloud.db.rows('update lots set vat_rate_bp = 1900 where id = $1', [lot.id]);
  await cloud.db.rows(
    `update operators set legal_name = 'Parkhaus Mitte GmbH', vat_id = 'DE123456789', receipt_prefix = 'PM'
      where id = (select operator_id from lots where id = $1)`,
    [lot.id],
  );
  // 3 hours at 400/h = 1200 gross; VAT 19 % included: round(1200 × 1900 / 11900) = round(191.596…) = 192.
  const r = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: {
      lotId: lot.id,
      vehicleType: 'car',
      plate: 'B-RC 1',
      start: iso(T0 + HOUR),
      end: iso(T0 + 4 * HOUR),
    },
  });
  t.equal(r.status, 201);
  const token = await payCheckout(cloud, r.body.paymentUrl);
  await numberReceiptsNow(cloud.db.pooled);
  const done = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
    token: driver.token,
    body: { paymentToken: token },
  });
  t.equal(done.status, 200);
  const [receipt] = await cloud.db.rows<Record<string, unknown>>(
    `select r.* from receipts r join payments p on p.id = r.payment_id where p.reservation_id = $1`,
    [r.body.id],
  );
  t.match(receipt, {
    number: '1',
    kind: 'receipt',
    operator_legal_name: 'Parkhaus Mitte GmbH',
    operator_vat_id: 'DE123456789',
    receipt_prefix: 'PM',
    vat_rate_bp: 1900,
    gross: '1200',
    vat: '192',
    net: '1008',
    purpose: 'capture',
    plate: 'BRC1',
  });
  t.equal((receipt!.period_start as Date).getTime(), T0 + HOUR, 'the booked window');

  const cancelled = await cloud.call('POST', `/v1/reservations/${r.body.id}/cancel`, { token: driver.token });
  t.equal(cancelled.status, 200);
  t.equal(cancelled.body.refund.amount, 1200);
  await numberReceiptsNow(cloud.db.pooled);
  const rows = await cloud.db.rows<Record<string, unknown>>(
    `select r.* from receipts r join payments p on p.id = r.payment_id
      where p.reservation_id = $1 order by r.number`,
    [r.body.id],
  );
  t.equal(rows.length, 2, 'the refund got a credit note');
  t.match(rows[1], {
    number: '2',
    kind: 'credit_note',
    credits_payment_id: receipt!.payment_id,
    gross: '-1200',
    vat: '-192',
    net: '-1008',
    purpose: 'refund',
  });
});

t.test(
  'VAT included: the database and protocol/receipts.ts round alike, halves away from zero',
  async (t) => {
    const cloud = await buildTestCloud();
    t.teardown(() => cloud.close());
    const hand: [number, number, number][] = [
      [1200, 1900, 192], // 191.596… → 192
      [1200, 2000, 200],
      [5, 2000, 1], // 0.833… → 1
      [21, 10_000, 11], // 10.5 → 11
      [-21, 10_000, -11], // a credit note mirrors its receipt
      [-1200, 1900, -192],
      [999, 0, 0],
    ];
    const pairs = [
      ...hand.map(([g, r]) => [g, r] as const),
      ...fc.sample(
        fc.tuple(fc.integer({ min: -10_000_000, max: 10_000_000 }), fc.integer({ min: 0, max: 10_000 })),
        {
          numRuns: 300,
          seed: 11,
        },
      ),
    ];
    const rows = await cloud.db.rows<{ vat: string }>(
      'select receipt_vat(g, r)::text as vat from unnest($1::bigint[], $2::int[]) with ordinality as x(g, r, n) order by n',
      [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    );
    for (const [i, [g, r, want]] of hand.entries()) t.equal(Number(rows[i]!.vat), want, `${g} at ${r} bp`);
    const disagree = pairs.filter(([g, r], i) => vatIncluded(g, r) !== Number(rows[i]!.vat));
    t.same(disagree, [], 'SQL and TypeScript agree');
  },
);
