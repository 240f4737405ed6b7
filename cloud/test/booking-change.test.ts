import t from 'tap';
import { decodeCredential } from '../../protocol/credential.js';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0, type TestCloud } from './helpers.js';

/**
 * Changing a booking (docs/permits.md#changing-a-booking): extend or shorten, same spot when free,
 * else another, else 409; the difference charged or refunded; a new QR; the edges see it.
 */

async function setup(cloud: TestCloud) {
  const lotId = `change-${Math.floor(Math.random() * 1e9)}`;
  const operator = await cloud.userWithToken('operator');
  const created = await cloud.call('POST', '/v1/lots', {
    token: operator.token,
    body: lotBody({ id: lotId }, 2),
  });
  if (created.status !== 201) throw new Error(`lot: ${created.status}`);
  const driver = await cloud.userWithToken('driver');
  let n = 0;
  const book = async (start: number, end: number) => {
    const r = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      headers: { 'idempotency-key': `chg-${lotId}-${++n}` },
      body: { lotId, vehicleType: 'car', plate: `B-CH ${n}`, start: iso(start), end: iso(end) },
    });
    if (r.status !== 201) throw new Error(`reserve: ${r.status} ${JSON.stringify(r.body)}`);
    const token = await payCheckout(cloud, r.body.paymentUrl);
    const done = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken: token },
    });
    return done.body as { id: string; spotId: string; credential: string; price: { amount: number } };
  };
  const change = (id: string, body: unknown, key: string) =>
    cloud.call('PATCH', `/v1/reservations/${id}`, {
      token: driver.token,
      body,
      headers: { 'idempotency-key': key },
    });
  return { lotId, driver, book, change };
}

t.test(
  'extend: same spot or another, the difference charged, a new QR, a change for the edges',
  async (t) => {
    const cloud = await buildTestCloud();
    t.teardown(() => cloud.close());
    const { lotId, book, change } = await setup(cloud);
    const a = await book(T0 + HOUR, T0 + 3 * HOUR);
    const b = await book(T0 + 3 * HOUR, T0 + 5 * HOUR);
    t.equal(a.price.amount, 800, '2 hours at 4.00');

    const longer = await change(a.id, { endAt: iso(T0 + 5 * HOUR) }, 'ext-1');
    t.equal(longer.status, 200, JSON.stringify(longer.body));
    t.same(longer.body.difference, { amount: 800, currency: 'EUR' });
    t.equal(longer.body.reservation.end, iso(T0 + 5 * HOUR));
    t.equal(longer.body.reservation.price.amount, 1600);
    if (b.spotId === a.spotId)
      t.not(longer.body.reservation.spotId, a.spotId, 'its spot was taken later: moved');
    const claims = decodeCredential(longer.body.reservation.credential);
    t.ok(claims.ok && claims.value.claims.end === T0 + 5 * HOUR, 'the QR is signed over the new window');
    t.not(longer.body.reservation.credential, a.credential, 'the old QR is replaced');
    t.same(await cloud.bitmapMismatches(), []);

    const again = await change(a.id, { endAt: iso(T0 + 5 * HOUR) }, 'ext-1');
    t.same(again.body, longer.body, 'the same Idempotency-Key answers the first result; charged once');
    const payments = await cloud.db.rows<{ kind: string; amount: string; status: string }>(
      `select kind, amount::text, status from payments where reservation_id = $1 order by created_at, kind`,
      [a.id],
    );
    t.same(
      payments.map((p) => [p.kind, Number(p.amount), p.status]),
      [
        ['capture', 800, 'succeeded'],
        ['change', 800, 'succeeded'],
      ],
    );
    const last = (await cloud.app.changes.changesSince(lotId, 0, 100)).at(-1)!;
    t.match(last, { reason: 'updated', reservation: { id: a.id, end: iso(T0 + 5 * HOUR) } });

    const shorter = await change(a.id, { endAt: iso(T0 + 2 * HOUR) }, 'short-1');
    t.equal(shorter.status, 200);
    t.same(shorter.body.difference, { amount: -1200, currency: 'EUR' });
    const refund = await cloud.db.rows<{ amount: string; status: string; of: string }>(
      `select r.amount::text, r.status, o.kind as of from payments r join payments o on o.id = r.refund_of
        where r.reservation_id = $1 and r.kind = 'refund' order by o.kind`,
      [a.id],
    );
    t.same(
      refund.map((r) => [r.of, Number(r.amount), r.status]),
      [
        ['capture', 400, 'succeeded'],
        ['change', 800, 'succeeded'],
      ],
      'refunded through the provider, split over the payments it took: the extension, then the capture',
    );
    t.same(await cloud.bitmapMismatches(), []);
  },
);

t.test('no spot for the new window: 409 saying why, nothing changed, nothing kept', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const { book, change } = await setup(cloud);
  const a = await book(T0 + HOUR, T0 + 2 * HOUR);
  await book(T0 + 2 * HOUR, T0 + 3 * HOUR);
  await book(T0 + 2 * HOUR, T0 + 3 * HOUR);
  const r = await change(a.id, { endAt: iso(T0 + 3 * HOUR) }, 'full-1');
  t.equal(r.status, 409);
  t.equal(r.body.error, 'no_spot_free');
  const now = await cloud.db.rows<{ end_at: Date; price_amount: string }>(
    'select end_at, price_amount::text from reservations where id = $1',
    [a.id],
  );
  t.equal(now[0]!.end_at.getTime(), T0 + 2 * HOUR);
  t.same(await cloud.bitmapMismatches(), [], 'the released bits came back');
  const charges = await cloud.db.rows(
    `select 1 from payments where reservation_id = $1 and kind = 'change'`,
    [a.id],
  );
  t.equal(charges.length, 0, 'no charge row');

  const unaligned = await change(a.id, { startAt: iso(T0 + HOUR + 60_000) }, 'bad-1');
  t.equal(unaligned.status, 400);
  t.equal(unaligned.body.field, 'body.startAt');
  const empty = await change(a.id, {}, 'bad-2');
  t.equal(empty.status, 400);
});
