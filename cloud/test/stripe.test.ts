import t, { type Test } from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, MIN, T0, type TestCloud } from './helpers.js';
import { type StripeStandin, startStripeStandin } from './stripe-api-standin.js';

/**
 * The Stripe adapter: the real `stripe` client against the local stand-in of the Stripe API
 * (`stripe-api-standin.ts`), webhooks signed with Stripe's documented scheme.
 */

const WEBHOOK_SECRET = 'whsec_standin_test_secret';

async function stripeCloud(t: Test): Promise<{ cloud: TestCloud; standin: StripeStandin }> {
  const standin = await startStripeStandin();
  const cloud = await buildTestCloud({
    config: {
      payments: {
        provider: 'stripe',
        sandboxSecret: 'unused-sandbox-secret-of-32-characters!',
        stripe: {
          secretKey: 'sk_test_standin',
          webhookSecret: WEBHOOK_SECRET,
          apiBase: standin.url,
          timeoutMs: 300,
          returnUrl: 'http://localhost:3000/console/',
        },
      },
    },
  });
  t.teardown(async () => {
    await cloud.close();
    await standin.close();
  });
  return { cloud, standin };
}

async function setup(t: Test) {
  const { cloud, standin } = await stripeCloud(t);
  const op = await cloud.userWithToken('operator');
  const lot = await cloud.call('POST', '/v1/lots', {
    token: op.token,
    body: lotBody({ id: 'stripe-lot' }, 3),
  });
  if (lot.status !== 201) throw new Error(`lot ${lot.status}`);
  const driver = await cloud.userWithToken('driver');
  const reserve = (plate: string, headers: Record<string, string> = {}) =>
    cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      headers,
      body: {
        lotId: 'stripe-lot',
        vehicleType: 'car',
        plate,
        start: iso(T0 + HOUR),
        end: iso(T0 + 2 * HOUR),
      },
    });
  const webhook = (body: string, signature: string) =>
    cloud.app.inject({
      method: 'POST',
      url: '/v1/payments/stripe/webhook',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      payload: body,
    });
  /** The payer pays on Stripe's page; Stripe sends checkout.session.completed. */
  const payAndNotify = (paymentUrl: string) => {
    const session = standin.pay(paymentUrl.slice(paymentUrl.lastIndexOf('/') + 1));
    return standin.signedEvent('checkout.session.completed', session, WEBHOOK_SECRET, cloud.clock.now());
  };
  const status = async (id: string) =>
    (await cloud.call('GET', `/v1/reservations/${id}`, { token: driver.token })).body.status as string;
  const captures = (id: string) =>
    cloud.db.rows<{ id: string; provider_ref: string; status: string }>(
      `select id, provider_ref, status from payments where reference = $1 and kind = 'capture'`,
      [id],
    );
  return { cloud, standin, op, driver, reserve, webhook, payAndNotify, status, captures };
}

t.test(
  'a booking is confirmed by the webhook, without /complete; replays have no second effect',
  async (t) => {
    const { cloud, standin, driver, reserve, webhook, payAndNotify, status, captures } = await setup(t);
    const r = await reserve('ST1');
    t.equal(r.status, 201);
    t.match(r.body.paymentUrl, `${standin.url}/pay/cs_test_`, 'a hosted Checkout Session');
    const session = [...standin.sessions.values()][0]!;
    t.equal(session.client_reference_id, r.body.id, 'client_reference_id is the reservation');
    t.same((session.payment_intent_data as Record<string, unknown>).setup_future_usage, 'off_session');

    const event = payAndNotify(r.body.paymentUrl);
    const first = await webhook(event.body, event.signature);
    t.equal(first.statusCode, 200);
    t.equal(first.json().outcome, 'applied');
    t.equal(await status(r.body.id), 'CONFIRMED', 'confirmed though the driver never came back');
    const [pi] = [...standin.intents.values()];
    const [row] = await cloud.db.rows<{ payment_ref: string; stored_method_ref: string }>(
      'select payment_ref, stored_method_ref from reservations where id = $1',
      [r.body.id],
    );
    t.equal(row?.payment_ref, pi?.id);
    t.equal(row?.stored_method_ref, `${pi?.customer}/${pi?.payment_method}`, 'card saved for overstay');

    const replay = await webhook(event.body, event.signature);
    t.equal(replay.json().outcome, 'replayed', 'same event again: no effect');
    const again = standin.signedEvent(
      'checkout.session.completed',
      standin.sessions.get(session.id as string)!,
      WEBHOOK_SECRET,
      cloud.clock.now(),
    );
    t.equal(
      (await webhook(again.body, again.signature)).json().outcome,
      'duplicate',
      'same capture, new event id',
    );
    const done = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken: session.id },
    });
    t.equal(done.status, 200, 'the driver returning later is fine');
    t.equal(done.body.status, 'CONFIRMED');
    t.equal((await captures(r.body.id)).length, 1, 'one capture row');
    t.equal(standin.refunds.size, 0, 'nothing refunded');
  },
);

t.test('/complete with the Checkout Session id confirms too; then the webhook is a duplicate', async (t) => {
  const { standin, driver, reserve, webhook, payAndNotify, status, cloud, captures } = await setup(t);
  const r = await reserve('ST2');
  const event = payAndNotify(r.body.paymentUrl);
  const sessionId = r.body.paymentUrl.slice(r.body.paymentUrl.lastIndexOf('/') + 1);
  const [a, b] = await Promise.all([
    cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken: sessionId },
    }),
    cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token: driver.token,
      body: { paymentToken: sessionId },
    }),
  ]);
  t.same([a.status, b.status], [200, 200], 'a double click confirms once');
  t.equal(await status(r.body.id), 'CONFIRMED');
  t.equal((await webhook(event.body, event.signature)).json().outcome, 'duplicate');
  t.equal((await captures(r.body.id)).length, 1);
  t.equal(standin.refunds.size, 0, 'the same capture is never refunded as a stray');
  const wrong = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
    token: driver.token,
    body: { paymentToken: 'cs_test_unknown' },
  });
  t.equal(wrong.status, 200, 'already confirmed: answered from the row');
});

t.test('bad signature → 400 and nothing changes; unknown reference → acknowledged and ignored', async (t) => {
  const { cloud, reserve, webhook, payAndNotify, status, standin } = await setup(t);
  const r = await reserve('ST3');
  const event = payAndNotify(r.body.paymentUrl);
  const forged = standin.signedEvent(
    'checkout.session.completed',
    JSON.parse(event.body).data.object,
    'whsec_wrong',
    cloud.clock.now(),
  );
  const bad = await webhook(forged.body, forged.signature);
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error, 'invalid_signature');
  const tampered = await webhook(event.body.replace('"paid"', '"paid" '), event.signature);
  t.equal(tampered.statusCode, 400, 'a changed body fails the signature');
  const missing = await cloud.app.inject({
    method: 'POST',
    url: '/v1/payments/stripe/webhook',
    payload: event.body,
    headers: { 'content-type': 'application/json' },
  });
  t.equal(missing.statusCode, 400);
  const stale = standin.signedEvent(
    'checkout.session.completed',
    JSON.parse(event.body).data.object,
    WEBHOOK_SECRET,
    cloud.clock.now() - 10 * MIN,
  );
  t.equal((await webhook(stale.body, stale.signature)).statusCode, 400, 'outside the replay window');
  t.equal(await status(r.body.id), 'TENTATIVE', 'nothing changed');
  t.same(await cloud.db.rows('select * from payment_events'), [], 'nothing recorded');

  const stray = standin.signedEvent(
    'checkout.session.completed',
    { ...JSON.parse(event.body).data.object, client_reference_id: 'no-such-booking' },
    WEBHOOK_SECRET,
    cloud.clock.now(),
  );
  const ignored = await webhook(stray.body, stray.signature);
  t.equal(ignored.statusCode, 200);
  t.equal(ignored.json().outcome, 'unknown');
  const other = standin.signedEvent('customer.created', { id: 'cus_1' }, WEBHOOK_SECRET, cloud.clock.now());
  t.equal((await webhook(other.body, other.signature)).json().outcome, 'ignored');
});

t.test(
  'provider down or slow on reserve → 502, the hold is kept; a retry pays for the same hold',
  async (t) => {
    const { cloud, reserve, standin } = await setup(t);
    standin.mode = 'down';
    const down = await reserve('ST4');
    t.equal(down.status, 502);
    t.equal(down.body.error, 'payment_unavailable');
    standin.mode = 'error';
    t.equal((await reserve('ST4')).status, 502, 'a 500 from the provider too');
    standin.mode = 'up';
    standin.slowMs = 1000;
    const started = Date.now();
    const slow = await reserve('ST4');
    t.equal(slow.status, 502, 'slower than STRIPE_TIMEOUT_MS');
    t.ok(Date.now() - started < 5000, 'answered within the timeout (plus one retry)');
    standin.slowMs = 0;
    const held = await cloud.db.rows<{ id: string }>(
      `select id from reservations where plate = 'ST4' and status = 'TENTATIVE'`,
    );
    t.equal(held.length, 1, 'one hold, kept across the failed tries');
    t.match(down.body.message, /hold on spot .* is kept until/, 'the answer says the hold is kept');
    const retry = await reserve('ST4');
    t.equal(retry.status, 201, 'a retry succeeds');
    t.equal(retry.body.id, held[0]!.id, 'for the same hold');
    const keys = standin.requests
      .filter((r) => r.path === '/v1/checkout/sessions')
      .map((r) => r.idempotencyKey);
    t.ok(
      keys.every((k) => k !== null),
      'every checkout carries an idempotency key',
    );
  },
);

t.test('a webhook after the hold expired refunds the capture automatically', async (t) => {
  const { cloud, reserve, webhook, payAndNotify, status, standin } = await setup(t);
  const r = await reserve('ST5');
  const event = payAndNotify(r.body.paymentUrl);
  cloud.clock.advance(16 * MIN);
  await cloud.app.reservations.expireHolds(cloud.clock.now());
  t.equal(await status(r.body.id), 'EXPIRED');
  const late = standin.signedEvent(
    'checkout.session.completed',
    JSON.parse(event.body).data.object,
    WEBHOOK_SECRET,
    cloud.clock.now(),
  );
  t.equal((await webhook(late.body, late.signature)).json().outcome, 'applied');
  const refunds = [...standin.refunds.values()];
  t.equal(refunds.length, 1, 'refunded at Stripe');
  t.equal(refunds[0]?.amount, 400, 'in full');
  const rows = await cloud.db.rows<{ kind: string; status: string; amount: string }>(
    `select kind, status, amount from payments where reference = $1 order by kind`,
    [r.body.id],
  );
  t.same(
    rows.map((x) => [x.kind, x.status, Number(x.amount)]),
    [
      ['capture', 'succeeded', 400],
      ['refund', 'succeeded', 400],
    ],
  );
  const again = standin.signedEvent(
    'checkout.session.completed',
    JSON.parse(event.body).data.object,
    WEBHOOK_SECRET,
    cloud.clock.now(),
  );
  await webhook(again.body, again.signature);
  t.equal(standin.refunds.size, 1, 'a second delivery refunds nothing more');
});

t.test('operator refunds, partial and full, never more than captured; idempotent', async (t) => {
  const { cloud, op, driver, reserve, webhook, payAndNotify, standin } = await setup(t);
  const r = await reserve('ST6');
  const event = payAndNotify(r.body.paymentUrl);
  await webhook(event.body, event.signature);
  const [capture] = await cloud.db.rows<{ id: string }>(
    `select id from payments where reference = $1 and kind = 'capture'`,
    [r.body.id],
  );
  const url = `/v1/payments/${capture!.id}/refunds`;
  const refund = (amount: number, key: string) =>
    cloud.call('POST', url, {
      token: op.token,
      headers: { 'idempotency-key': key },
      body: { amount, reason: 'gate was broken' },
    });
  const part = await refund(150, 'k1');
  t.equal(part.status, 200);
  t.equal(part.body.refund.status, 'succeeded');
  t.same(part.body.payment.refundable, { amount: 250, currency: 'EUR' });
  t.equal(part.body.refund.actor, op.user.id, 'who refunded is recorded');
  t.equal((await refund(150, 'k1')).status, 200, 'same key replayed');
  t.equal(standin.refunds.size, 1, 'no second refund at Stripe for the same key');
  const over = await refund(300, 'k2');
  t.equal(over.status, 409);
  t.equal(over.body.error, 'over_refund');
  t.equal((await refund(250, 'k3')).body.payment.refundable.amount, 0, 'the rest');
  t.equal(
    [...standin.refunds.values()].reduce((s, x) => s + (x.amount as number), 0),
    400,
  );
  const seen = await cloud.call('GET', `/v1/payments/${capture!.id}`, { token: driver.token });
  t.equal(seen.status, 200, 'the driver sees their payment');
  t.same(seen.body.refunded, { amount: 400, currency: 'EUR' });
  t.equal(seen.body.refunds.length, 2);
  const byDriver = await cloud.call('POST', url, {
    token: driver.token,
    headers: { 'idempotency-key': 'k4' },
    body: { amount: 1, reason: 'please' },
  });
  t.equal(byDriver.status, 403, 'a driver cannot refund');
  const noKey = await cloud.call('POST', url, { token: op.token, body: { amount: 1, reason: 'no key' } });
  t.equal(noKey.status, 400, 'Idempotency-Key is required');
  const stranger = await cloud.userWithToken('driver');
  t.equal((await cloud.call('GET', `/v1/payments/${capture!.id}`, { token: stranger.token })).status, 404);
});

t.test('off-session overstay charge on the saved card; declines and down are told apart', async (t) => {
  const { cloud, reserve, webhook, payAndNotify, standin } = await setup(t);
  const r = await reserve('ST7');
  const event = payAndNotify(r.body.paymentUrl);
  await webhook(event.body, event.signature);
  const [row] = await cloud.db.rows<{ stored_method_ref: string }>(
    'select stored_method_ref from reservations where id = $1',
    [r.body.id],
  );
  const charge = (storedMethodRef: string, key: string) =>
    cloud.app.payments.chargeStoredMethod({
      storedMethodRef,
      amount: { amount: 250, currency: 'EUR' },
      idempotencyKey: key,
      description: 'overstay',
    });
  const ok1 = await charge(row!.stored_method_ref, 'ov-1');
  t.ok(ok1.ok, 'charged off-session');
  const twice = await charge(row!.stored_method_ref, 'ov-1');
  t.same(twice, ok1, 'same key: the same charge, not a second one');
  const pis = [...standin.intents.values()].filter(
    (p) => (p.metadata as Record<string, unknown>).key === 'ov-1',
  );
  t.equal(pis.length, 1);
  const declined = await charge('cus_x/pm_unknown', 'ov-2');
  t.same(declined.ok ? null : declined.error.reason, 'declined');
  standin.mode = 'down';
  await t.rejects(charge(row!.stored_method_ref, 'ov-3'), 'unreachable throws (the sweeper retries)');
  standin.mode = 'up';
  const over = await cloud.app.payments.refund({
    paymentRef: ok1.ok ? ok1.value.chargeRef : '',
    amount: { amount: 251, currency: 'EUR' },
    idempotencyKey: 'r-x',
  });
  t.notOk(over.ok, 'never refunds more than charged');
});

t.test('crash between capture and confirmation: recovered from Stripe', async (t) => {
  const { cloud, reserve, payAndNotify, status } = await setup(t);
  const r = await reserve('ST8');
  payAndNotify(r.body.paymentUrl); // paid at Stripe; the webhook never arrives (we were down)
  cloud.clock.advance(2 * MIN);
  t.equal(await status(r.body.id), 'TENTATIVE');
  await cloud.app.sweepers.runHoldExpiry();
  t.equal(await status(r.body.id), 'CONFIRMED', 'the sweeper found the capture by reference');
});

t.test(
  'overstay at the gate is charged off-session; a late charge webhook settles a timed-out call',
  async (t) => {
    const { cloud, reserve, webhook, payAndNotify, standin } = await setup(t);
    const attendant = await cloud.userWithToken('attendant', ['stripe-lot']);
    const gate = (path: string, id: string) =>
      cloud.call('POST', `/v1/lots/stripe-lot/${path}`, {
        token: attendant.token,
        body: { reservationId: id },
      });
    const overstay = (id: string) =>
      cloud.db.rows<{ id: string; status: string; provider_ref: string | null; amount: string }>(
        `select id, status, provider_ref, amount from payments where reservation_id = $1 and kind = 'overstay'`,
        [id],
      );

    const a = await reserve('ST9');
    const ea = payAndNotify(a.body.paymentUrl);
    await webhook(ea.body, ea.signature);
    cloud.clock.set(T0 + 50 * MIN);
    t.equal((await gate('arrivals', a.body.id)).status, 200);
    cloud.clock.set(T0 + 2 * HOUR + 20 * MIN);
    const left = await gate('departures', a.body.id);
    t.same(left.body.charge, { amount: 200, currency: 'EUR' });
    const [charged] = await overstay(a.body.id);
    t.equal(charged?.status, 'succeeded', 'charged on the saved card');
    const pi = standin.intents.get(charged!.provider_ref!);
    t.equal(pi?.amount, 200);
    t.equal(
      (pi?.metadata as Record<string, unknown> | undefined)?.key,
      charged?.id,
      'the payment row id is the key',
    );
    const call = standin.requests.find((r) => r.path === '/v1/payment_intents');
    t.equal(call?.idempotencyKey, `charge:${charged?.id}`, 'with an idempotency key to Stripe');

    cloud.clock.set(T0);
    const b = await reserve('ST10');
    const eb = payAndNotify(b.body.paymentUrl);
    await webhook(eb.body, eb.signature);
    cloud.clock.set(T0 + 50 * MIN);
    await gate('arrivals', b.body.id);
    cloud.clock.set(T0 + 2 * HOUR + 20 * MIN);
    standin.slowMs = 800; // Stripe charges, but the answer comes after our timeout
    t.equal((await gate('departures', b.body.id)).status, 200, 'the exit is not held up');
    standin.slowMs = 0;
    const [pending] = await overstay(b.body.id);
    t.equal(pending?.status, 'pending', 'unknown outcome: kept pending, not failed');
    const made = [...standin.intents.values()].filter(
      (p) => (p.metadata as Record<string, unknown>).key === pending?.id,
    );
    t.equal(made.length, 1, 'the retry under the same key made no second charge');
    const ev = standin.signedEvent('payment_intent.succeeded', made[0]!, WEBHOOK_SECRET, cloud.clock.now());
    t.equal((await webhook(ev.body, ev.signature)).json().outcome, 'applied');
    t.equal((await overstay(b.body.id))[0]?.status, 'succeeded', 'settled by the late webhook');
    t.equal((await webhook(ev.body, ev.signature)).json().outcome, 'replayed');
  },
);

t.test('PAYMENT_PROVIDER=stripe without keys is refused at start-up, naming them', async (t) => {
  const { parseEnv } = await import('../config.js');
  t.throws(() => parseEnv({ PAYMENT_PROVIDER: 'stripe' }), /STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET/);
  t.throws(
    () => parseEnv({ PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_123456' }),
    /STRIPE_WEBHOOK_SECRET/,
  );
  const ok = parseEnv({
    PAYMENT_PROVIDER: 'stripe',
    STRIPE_SECRET_KEY: 'sk_test_123456',
    STRIPE_WEBHOOK_SECRET: 'whsec_123456',
  });
  t.equal(ok.PAYMENT_PROVIDER, 'stripe');
  t.equal(parseEnv({}).PAYMENT_PROVIDER, 'sandbox', 'the sandbox stays the default');
});

t.test(
  'a refund whose answer timed out stays pending; its late webhook settles it, a stale one does not undo it',
  async (t) => {
    const { cloud, op, reserve, webhook, payAndNotify, standin } = await setup(t);
    const r = await reserve('ST11');
    const paid = payAndNotify(r.body.paymentUrl);
    await webhook(paid.body, paid.signature);
    const [capture] = await cloud.db.rows<{ id: string }>(
      `select id from payments where reference = $1 and kind = 'capture'`,
      [r.body.id],
    );
    standin.slowMs = 800;
    const slow = await cloud.call('POST', `/v1/payments/${capture!.id}/refunds`, {
      token: op.token,
      headers: { 'idempotency-key': 'slow-1' },
      body: { amount: 400, reason: 'lane closed' },
    });
    standin.slowMs = 0;
    t.equal(slow.status, 200);
    t.equal(slow.body.refund.status, 'pending', 'Stripe did not answer in time: pending, not failed');
    t.equal(slow.body.payment.refundable.amount, 0, 'the pending refund counts against what is left');
    const [made] = [...standin.refunds.values()];
    t.equal(standin.refunds.size, 1, 'one refund at Stripe despite the client retry');
    const done = standin.signedEvent('refund.updated', made!, WEBHOOK_SECRET, cloud.clock.now());
    t.equal((await webhook(done.body, done.signature)).json().outcome, 'applied');
    const stale = standin.signedEvent(
      'refund.failed',
      { ...made!, status: 'failed' },
      WEBHOOK_SECRET,
      cloud.clock.now(),
    );
    t.equal(
      (await webhook(stale.body, stale.signature)).json().outcome,
      'duplicate',
      'an out-of-order event changes nothing',
    );
    const seen = await cloud.call('GET', `/v1/payments/${capture!.id}`, { token: op.token });
    t.equal(seen.body.refunds[0]?.status, 'succeeded');
    t.same(seen.body.refunded, { amount: 400, currency: 'EUR' });
  },
);
