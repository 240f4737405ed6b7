import t from 'tap';
import { toIso } from '../../protocol/slots.js';
import { buildTestCloud, HOUR, lotBody, T0, type TestCloud } from './helpers.js';

/**
 * The reconciliation report on seeded facts whose figures were worked out by hand. T0 is
 * 2030-01-07 09:00 in Berlin (the lot's zone); 23:30 UTC that day is already the 8th there.
 */

const DAY1 = T0; // 2030-01-07 09:00 +01:00
const DAY2_EARLY = Date.UTC(2030, 0, 7, 23, 30); // 2030-01-08 00:30 +01:00

async function seed(cloud: TestCloud, lotId: string): Promise<void> {
  const at = (ms: number) => toIso(ms);
  const q = (sql: string, values: unknown[]) => cloud.db.rows(sql, values);
  let n = 0;
  const booking = async (o: {
    status: string;
    price: number;
    refund?: number;
    overstay?: number;
    checkedOut?: number;
    paid?: boolean;
  }) => {
    const id = `res-${++n}`;
    await q(
      `insert into reservations (id, lot_id, spot_id, spot_label, kind, vehicle_type, plate, start_at, end_at, status,
         price_amount, currency, payment_ref, refund_amount, overstay_amount, checked_out_at, created_at, updated_at)
       values ($1, $2, 's1', 'A-1', 'booking', 'car', $3, $4, $5, $6, $7, 'EUR', $8, $9, $10, $11, $12, $12)`,
      [
        id,
        lotId,
        `PLATE${n}`,
        at(DAY1 + HOUR * n * 10),
        at(DAY1 + HOUR * (n * 10 + 2)),
        o.status,
        o.price,
        o.paid === false ? null : `pay-ref-${n}`,
        o.refund ?? null,
        o.overstay ?? null,
        o.checkedOut === undefined ? null : at(o.checkedOut),
        at(DAY1),
      ],
    );
    return id;
  };
  const payment = (
    id: string,
    o: { reservation?: string; kind: string; amount: number; status?: string; at?: number },
  ) =>
    q(
      `insert into payments (id, reservation_id, lot_id, reference, kind, amount, currency, status, method, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, 'EUR', $7, 'provider', $8, $8)`,
      [
        id,
        o.reservation ?? null,
        lotId,
        o.reservation ?? id,
        o.kind,
        o.amount,
        o.status ?? 'succeeded',
        at(o.at ?? DAY1),
      ],
    );
  const gateCharge = (event: number, amount: number, ms = DAY1) =>
    q(
      `insert into lot_gate_charges (lot_id, event_id, session_id, plate, kind, amount_minor, currency, settlement, at)
       values ($1, $2, $3, 'DRIVEUP', 'driveup', $4, 'EUR', 'none', $5)`,
      [lotId, event, `sess-${event}`, amount, at(ms)],
    );
  const debt = (id: string, amount: number, status: string, source: string) =>
    q(
      `insert into debts (id, plate, lot_id, source, source_key, amount, currency, status, exited_at, created_at)
       values ($1, 'DEBTOR', $2, $3, $1, $4, 'EUR', $5, $6, $7)`,
      [id, lotId, source, amount, status, at(DAY1 + HOUR), at(DAY1 + 2 * HOUR)],
    );

  // Day 1. A booking paid 1200.
  const a = await booking({ status: 'COMPLETED', price: 1200 });
  await payment('p-a', { reservation: a, kind: 'capture', amount: 1200 });
  // A booking of 800 paid, then cancelled and refunded in full by policy: nothing due.
  const b = await booking({ status: 'CANCELLED', price: 800, refund: 800 });
  await payment('p-b', { reservation: b, kind: 'capture', amount: 800 });
  await payment('p-b-refund', { reservation: b, kind: 'refund', amount: 800 });
  // A booking of 400 paid, left late: 300 overstay, the charge failed, a debt is open.
  const c = await booking({ status: 'COMPLETED', price: 400, overstay: 300, checkedOut: DAY1 + 3 * HOUR });
  await payment('p-c', { reservation: c, kind: 'capture', amount: 400 });
  await payment('p-c-over', { reservation: c, kind: 'overstay', amount: 300, status: 'failed' });
  await debt('debt-c', 300, 'open', 'failed_overstay');
  // Drive-ups: 500 paid in cash, 250 written off, 600 nowhere (the missing money).
  await gateCharge(1, 500);
  await q(
    `insert into lot_cash_payments (lot_id, event_id, session_id, amount_minor, currency, attendant, at)
     values ($1, 2, 'sess-1', 500, 'EUR', 'att', $2)`,
    [lotId, at(DAY1)],
  );
  await gateCharge(3, 250);
  await debt('debt-w', 250, 'written_off', 'unable_to_collect');
  await gateCharge(4, 600);
  // A hold never paid: not due.
  await booking({ status: 'TENTATIVE', price: 999, paid: false });
  // A paid debt settles in full: neither owed nor due again.
  await debt('debt-paid', 111, 'paid', 'unpaid_exit');

  // Day 2 (local): a drive-up of 900 paid at the exit through the provider, just after midnight.
  await gateCharge(5, 900, DAY2_EARLY);
  await payment('p-exit', { kind: 'exit', amount: 900, at: DAY2_EARLY });
}

t.test('reconciliation per lot-local day, figures checked by hand', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  const lot = lotBody({}, 2);
  const lotId = lot.id!;
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lot });
  const other = lotBody({}, 1);
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: other });
  await seed(cloud, lotId);
  // Another lot's money is not this lot's.
  await cloud.db.rows(
    `insert into lot_gate_charges (lot_id, event_id, session_id, kind, amount_minor, currency, settlement, at)
     values ($1, 1, 'x', 'driveup', 7777, 'EUR', 'none', $2)`,
    [other.id, toIso(DAY1)],
  );

  const op = await cloud.userWithToken('operator', [lotId]);
  const url = `/v1/lots/${lotId}/reconciliation?from=2030-01-07&to=2030-01-08`;
  const r = await cloud.call('GET', url, { token: op.token });
  t.equal(r.status, 200);
  t.match(r.body, {
    lotId,
    timeZone: 'Europe/Berlin',
    currency: 'EUR',
    from: '2030-01-07',
    to: '2030-01-08',
  });
  t.same(r.body.days[0], {
    day: '2030-01-07',
    due: 3250, // 1200 + 0 + 400 bookings, 300 overstay, 500 + 250 + 600 drive-ups
    dueBookings: 1600,
    dueOverstay: 300,
    dueExit: 1350,
    captured: 2900,
    capturedProvider: 2400, // 1200 + 800 + 400
    capturedCash: 500,
    refunded: 800,
    owed: 300,
    writtenOff: 250,
    difference: 600, // 3250 − 2900 + 800 − 300 − 250: the drive-up nobody collected
  });
  t.same(r.body.days[1], {
    day: '2030-01-08',
    due: 900,
    dueBookings: 0,
    dueOverstay: 0,
    dueExit: 900,
    captured: 900,
    capturedProvider: 900,
    capturedCash: 0,
    refunded: 0,
    owed: 0,
    writtenOff: 0,
    difference: 0,
  });
  t.equal(r.body.totals.due, 4150);
  t.equal(r.body.totals.difference, 600);

  const csv = await cloud.call('GET', `${url}&format=csv`, { token: op.token });
  t.equal(csv.status, 200);
  t.match(csv.headers['content-type'], /^text\/csv/);
  const lines = String(csv.body).split('\r\n');
  t.equal(
    lines[0],
    'day,due,dueBookings,dueOverstay,dueExit,captured,capturedProvider,capturedCash,refunded,owed,writtenOff,difference,currency',
  );
  t.equal(lines[1], '2030-01-07,3250,1600,300,1350,2900,2400,500,800,300,250,600,EUR');
  t.equal(lines[3], 'total,4150,1600,300,2250,3800,3300,500,800,300,250,600,EUR');

  // Only the lot's operator and admins; bad ranges named.
  const stranger = await cloud.userWithToken('operator');
  t.equal((await cloud.call('GET', url, { token: stranger.token })).status, 404);
  const attendant = await cloud.userWithToken('attendant', [lotId]);
  t.equal((await cloud.call('GET', url, { token: attendant.token })).status, 403);
  const reversed = await cloud.call('GET', `/v1/lots/${lotId}/reconciliation?from=2030-01-08&to=2030-01-07`, {
    token: op.token,
  });
  t.equal(reversed.status, 400);
  t.match(reversed.body, { field: 'query.to' });
});
