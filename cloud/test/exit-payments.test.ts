import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { gateEventEffects } from '../sync/effects.js';
import type { ReservationEffects, Sql } from '../sync/ports.js';
import { moneyState } from '../exit-payments/money-state.js';
import { buildTestCloud, iso, lotBody, MIN, payCheckout, T0, type TestCloud } from './helpers.js';

/**
 * Exit fees paid online: quoted by the cloud from the lot's uploaded session data, a checkout for
 * exactly that (never a client's amount), one payment per capture, the paid stay shipped to the lot,
 * and time after the payment still due at the exit.
 */

async function entered(
  cloud: TestCloud,
  lotId: string,
  e: { id: number; session: string; plate: string; at: number },
) {
  await cloud.db.rows(
    `insert into gate_events (lot_id, event_id, kind, at, body) values ($1, $2, 'entry', $3, $4)`,
    [lotId, e.id, iso(e.at), JSON.stringify({ sessionId: e.session, plate: e.plate, reservationId: null })],
  );
}

t.test('quote, pay before walking back, pay the extra, refuse what is not owed', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  // 400/h: every started 15 minutes costs 1.00.
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'xp' }, 2) });
  await entered(cloud, 'xp', { id: 1, session: 'sess-1', plate: 'WALK1', at: T0 });
  cloud.clock.set(T0 + 50 * MIN);

  const quote = await cloud.call('GET', '/v1/lots/xp/exit-fee?plate=walk-1');
  t.equal(quote.status, 200);
  t.match(quote.body, {
    sessionId: 'sess-1',
    plate: 'WALK1',
    fee: { amount: 400, currency: 'EUR' },
    paid: { amount: 0 },
    due: { amount: 400 },
  });
  t.equal((await cloud.call('GET', '/v1/lots/xp/exit-fee?plate=NOBODY1')).status, 404, 'no stay: 404');
  t.equal((await cloud.call('GET', '/v1/lots/nolot/exit-fee?plate=WALK1')).status, 404);

  const withAmount = await cloud.call('POST', '/v1/lots/xp/exit-payments', {
    body: { plate: 'WALK1', amount: { amount: 1, currency: 'EUR' } },
  });
  t.equal(withAmount.status, 400, 'the client names no amount');
  const checkout = await cloud.call('POST', '/v1/lots/xp/exit-payments', { body: { plate: 'WALK1' } });
  t.equal(checkout.status, 201);
  t.equal(checkout.body.reference, 'exit:xp:sess-1');
  t.same(checkout.body.amount, { amount: 400, currency: 'EUR' });

  // A token for the same reference at another amount is refused; nothing is recorded.
  const cheap = await cloud.app.payments.createCheckout({
    reference: 'exit:xp:sess-1',
    amount: { amount: 100, currency: 'EUR' },
    description: 'tampered',
  });
  const refused = await cloud.call('POST', '/v1/pay/complete', {
    body: { reference: 'exit:xp:sess-1', paymentToken: await payCheckout(cloud, cheap.paymentUrl) },
  });
  t.equal(refused.status, 402);
  t.equal((await cloud.db.rows(`select 1 from payments where kind = 'exit'`)).length, 0);
  const unknown = await cloud.call('POST', '/v1/pay/complete', {
    body: { reference: 'exit:xp:other', paymentToken: 'x' },
  });
  t.equal(unknown.status, 404);

  const token = await payCheckout(cloud, checkout.body.paymentUrl);
  const [a, b] = await Promise.all([
    cloud.call('POST', '/v1/pay/complete', {
      body: { reference: checkout.body.reference, paymentToken: token },
    }),
    cloud.call('POST', '/v1/pay/complete', {
      body: { reference: checkout.body.reference, paymentToken: token },
    }),
  ]);
  // Paying raised the provider's webhook, which applied the payment; both returns find it done.
  t.same([a.body.outcome, b.body.outcome], ['duplicate', 'duplicate'], 'a double click pays once');
  const rows = await cloud.db.rows<{ kind: string; amount: number; lot_id: string; status: string }>(
    `select kind, amount, lot_id, status from payments where reference = 'exit:xp:sess-1'`,
  );
  t.same(rows, [{ kind: 'exit', amount: 400, lot_id: 'xp', status: 'succeeded' }]);

  const state = await moneyState(cloud.db.pooled, 'xp', 'http://pay.test', cloud.clock.now());
  t.match(
    state.paidSessions,
    [{ sessionId: 'sess-1', paid: { amount: 400 } }],
    'the lot learns the stay is paid',
  );
  t.equal(state.payUrl, 'http://pay.test/pay/xp');
  const nothing = await cloud.call('POST', '/v1/lots/xp/exit-payments', { body: { plate: 'WALK1' } });
  t.equal(nothing.status, 409);
  t.equal(nothing.body.error, 'nothing_due');

  // Stayed 30 minutes more: only the extra is due.
  cloud.clock.set(T0 + 80 * MIN);
  const later = await cloud.call('GET', '/v1/lots/xp/exit-fee?plate=WALK1');
  t.match(later.body, { fee: { amount: 600 }, paid: { amount: 400 }, due: { amount: 200 } });
  const extra = await cloud.call('POST', '/v1/lots/xp/exit-payments', { body: { plate: 'WALK1' } });
  t.same(extra.body.amount, { amount: 200, currency: 'EUR' });
  const extraToken = await payCheckout(cloud, extra.body.paymentUrl);
  const paidExtra = await cloud.call('POST', '/v1/pay/complete', {
    body: { reference: extra.body.reference, paymentToken: extraToken },
  });
  t.equal(paidExtra.body.outcome, 'duplicate', 'the webhook applied it');
  const after = await moneyState(cloud.db.pooled, 'xp', 'http://pay.test', cloud.clock.now());
  t.match(after.paidSessions, [{ sessionId: 'sess-1', paid: { amount: 600 } }]);

  // Once the lot reports the exit, the stay is no longer quoted nor shipped.
  await cloud.db.rows(
    `insert into gate_events (lot_id, event_id, kind, at, body) values ('xp', 2, 'exit', $1, $2)`,
    [iso(T0 + 81 * MIN), JSON.stringify({ sessionId: 'sess-1', plate: 'WALK1' })],
  );
  t.equal((await cloud.call('GET', '/v1/lots/xp/exit-fee?plate=WALK1')).status, 404);
  t.same((await moneyState(cloud.db.pooled, 'xp', 'http://pay.test', cloud.clock.now())).paidSessions, []);
});

t.test(
  'paid online more than the lane charged (a validation redeemed after the quote): the excess is refunded once',
  async (t) => {
    const cloud = await buildTestCloud();
    t.teardown(() => cloud.close());
    const admin = await cloud.userWithToken('admin');
    await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'xo' }, 2) });
    await entered(cloud, 'xo', { id: 1, session: 'sess-o', plate: 'OVER1', at: T0 });
    cloud.clock.set(T0 + 50 * MIN);
    const checkout = await cloud.call('POST', '/v1/lots/xo/exit-payments', { body: { plate: 'OVER1' } });
    t.same(checkout.body.amount, { amount: 400, currency: 'EUR' });
    await payCheckout(cloud, checkout.body.paymentUrl);

    // The lane charged 300 (a merchant took 100 off at the booth after the quote).
    const effects = gateEventEffects(
      {} as ReservationEffects,
      cloud.db.pooled as unknown as Sql,
      silentLogger(),
    );
    const exit = {
      v: 1,
      eventId: 2,
      kind: 'exit',
      at: iso(T0 + 52 * MIN),
      laneId: 'exit-1',
      correlationId: null,
      sessionId: 'sess-o',
      reservationId: null,
      plate: 'OVER1',
      charge: { amount: 300, currency: 'EUR' },
      overstayMinutes: 0,
      settlement: 'cloud',
    };
    await effects.apply('xo', exit);
    await effects.apply('xo', exit);
    const refunds = () =>
      cloud.db.rows<{ amount: string; status: string; of: string }>(
        `select r.amount::text, r.status, o.kind as of from payments r join payments o on o.id = r.refund_of
        where r.kind = 'refund' and r.lot_id = 'xo'`,
      );
    t.same(
      (await refunds()).map((r) => [r.of, Number(r.amount), r.status]),
      [['exit', 100, 'pending']],
      'the excess, once, against the exit payment',
    );
    cloud.clock.set(T0 + 60 * MIN);
    await cloud.app.reservations.settlePendingPayments(cloud.clock.now());
    t.same(
      (await refunds()).map((r) => [Number(r.amount), r.status]),
      [[100, 'succeeded']],
      'refunded through the provider by the payments sweeper',
    );
  },
);
