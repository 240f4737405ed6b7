import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0 } from './helpers.js';

/**
 * Paying the same hold twice with the same payment token (a double submit, or two tabs racing):
 * the second complete finds the booking already confirmed by that very payment and answers it as
 * is — it must not give the capture back (which would leave a confirmed booking unpaid).
 */
t.test('a second complete with the same payment does not void the capture that confirmed it', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  const driver = await cloud.userWithToken('driver');
  await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'twice' }, 2) });
  const held = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: {
      lotId: 'twice',
      vehicleType: 'car',
      plate: 'TW1',
      start: iso(T0 + HOUR),
      end: iso(T0 + 3 * HOUR),
    },
  });
  t.equal(held.status, 201);
  const id = held.body.id as string;
  // What the racing request read before the payment confirmed it: the live hold.
  const stale = await cloud.app.reservations.get(id);
  t.equal(stale?.status, 'TENTATIVE');
  // Paying confirms the booking already (the provider's webhook); /complete then answers it.
  const paymentToken = await payCheckout(cloud, held.body.paymentUrl);

  const first = await cloud.call('POST', `/v1/reservations/${id}/complete`, {
    token: driver.token,
    body: { paymentToken },
  });
  t.equal(first.status, 200);
  t.equal(first.body.status, 'CONFIRMED');

  const refunds: unknown[] = [];
  const refund = cloud.app.payments.refund.bind(cloud.app.payments);
  cloud.app.payments.refund = async (r) => {
    refunds.push(r);
    return refund(r);
  };
  const second = await cloud.app.reservations.complete(id, paymentToken, stale!);
  t.ok(second.ok && second.value.status === 'CONFIRMED', 'answered as confirmed');
  t.same(refunds, [], 'the capture that confirmed the booking is kept');
  const row = await cloud.app.reservations.get(id);
  t.equal(row?.status, 'CONFIRMED');
});
