import t, { type Test } from 'tap';
import type { SandboxProvider } from '../payments/sandbox.js';
import { signWebhook } from '../payments/webhook-signature.js';
import { buildTestCloud, HOUR, iso, lotBody, MIN, payCheckout, T0 } from './helpers.js';

/**
 * The sandbox provider has what the Stripe adapter has: paying a checkout raises a
 * `checkout.session.completed` webhook signed with Stripe's scheme through the same verify path,
 * so a booking is confirmed without `/complete`; refunds (partial, several, never over the
 * capture), off-session charges, replays, bad signatures, crash recovery.
 */

async function setup(t: Test, policy: Record<string, unknown> = {}) {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const sandbox = cloud.app.payments as SandboxProvider;
  const op = await cloud.userWithToken('operator');
  const lot = await cloud.call('POST', '/v1/lots', {
    token: op.token,
    body: lotBody({ id: 'sbx', policy: { ...lotBody().policy, ...policy } }, 3),
  });
  if (lot.status !== 201) throw new Error(`lot ${lot.status}`);
  const driver = await cloud.userWithToken('driver');
  const reserve = async (plate: string) => {
    const r = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { lotId: 'sbx', vehicleType: 'car', plate, start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) },
    });
    if (r.status !== 201) throw new Error(`reserve ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as { id: string; paymentUrl: string };
  };
  const status = async (id: string) =>
    (await cloud.call('GET', `/v1/reservations/${id}`, { token: driver.token })).body.status as string;
  const webhook = (body: string, signature: string) =>
    cloud.app.inject({
      method: 'POST',
      url: '/v1/payments/sandbox/webhook',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      payload: body,
    });
  const captureOf = async (id: string) =>
    (
      await cloud.db.rows<{ id: string; provider_ref: string }>(
        `select id, provider_ref from payments where reservation_id = $1 and kind = 'capture'`,
        [id],
      )
    )[0];
  return { cloud, sandbox, op, driver, reserve, status, webhook, captureOf };
}

t.test('paying a sandbox checkout confirms the booking through the signed webhook', async (t) => {
  const { cloud, sandbox, driver, reserve, status, captureOf } = await setup(t);
  const r = await reserve('SB1');
  const token = await payCheckout(cloud, r.paymentUrl);
  t.equal(await status(r.id), 'CONFIRMED', 'no /complete needed');
  const events = await cloud.db.rows<{ provider: string; type: string; outcome: string }>(
    'select provider, type, outcome from payment_events',
  );
  t.same(events, [{ provider: 'sandbox', type: 'checkout_completed', outcome: 'applied' }]);
  await payCheckout(cloud, r.paymentUrl);
  t.equal(sandbox.ledger.filter((e) => e.kind === 'capture').length, 1, 'paying twice captures once');
  const done = await cloud.call('POST', `/v1/reservations/${r.id}/complete`, {
    token: driver.token,
    body: { paymentToken: token },
  });
  t.equal(done.status, 200, '/complete still works (and answers from the row)');
  t.equal(done.body.status, 'CONFIRMED');
  const capture = await captureOf(r.id);
  t.equal(capture?.provider_ref, sandbox.ledger.find((e) => e.kind === 'capture')?.ref, 'one capture row');
});

t.test('the sandbox webhook endpoint: Stripe scheme, bad signature 400, replay no effect', async (t) => {
  const { cloud, sandbox, reserve, status, webhook } = await setup(t);
  const r = await reserve('SB2');
  // The driver pays while in-process delivery is lost (a crash): the capture exists, unapplied.
  const deliveries: { raw: string; sig: string }[] = [];
  sandbox.connectWebhooks?.(async (raw, sig) => {
    deliveries.push({ raw, sig });
  });
  await payCheckout(cloud, r.paymentUrl);
  t.equal(await status(r.id), 'TENTATIVE');
  const [d] = deliveries;
  t.match(d?.sig, /^t=\d+,v1=[0-9a-f]{64}$/, "Stripe's signature scheme");
  const forged = signWebhook(d!.raw, 'whsec_not_ours', cloud.clock.now());
  const bad = await webhook(d!.raw, forged);
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().field, 'headers.stripe-signature');
  t.equal(await status(r.id), 'TENTATIVE', 'nothing changed');
  const good = await webhook(d!.raw, d!.sig);
  t.equal(good.json().outcome, 'applied');
  t.equal(await status(r.id), 'CONFIRMED');
  t.equal((await webhook(d!.raw, d!.sig)).json().outcome, 'replayed');
  const rows = await cloud.db.rows(`select 1 from payments where reservation_id = $1`, [r.id]);
  t.equal(rows.length, 1, 'one payment row after a replay');
});

t.test('crash between capture and confirmation: recovered at start-up or by the sweeper', async (t) => {
  const { cloud, sandbox, reserve, status } = await setup(t);
  sandbox.connectWebhooks?.(async () => {
    throw new Error('cloud crashed before applying');
  });
  const r = await reserve('SB3');
  await payCheckout(cloud, r.paymentUrl);
  t.equal(await status(r.id), 'TENTATIVE', 'paid, not applied');
  t.equal(
    await cloud.app.paymentRecovery.run(cloud.clock.now(), HOUR),
    0,
    'a fresh hold is left to its webhook',
  );
  cloud.clock.advance(2 * MIN);
  await cloud.app.sweepers.runHoldExpiry();
  t.equal(await status(r.id), 'CONFIRMED', 'recovered from the provider ledger');

  const late = await reserve('SB4');
  await payCheckout(cloud, late.paymentUrl);
  cloud.clock.advance(16 * MIN);
  await cloud.app.reservations.expireHolds(cloud.clock.now());
  t.equal(await status(late.id), 'EXPIRED');
  await cloud.app.paymentRecovery.run(cloud.clock.now(), HOUR);
  const refunds = sandbox.ledger.filter((e) => e.kind === 'refund');
  t.equal(refunds.length, 1, 'a capture that confirmed nothing is refunded');
  t.equal(refunds[0]?.amount.amount, 400);
  await cloud.app.paymentRecovery.run(cloud.clock.now(), HOUR);
  t.equal(sandbox.ledger.filter((e) => e.kind === 'refund').length, 1, 'once');
});

t.test('sandbox refunds: partial, several, never over the capture; cancellation by policy', async (t) => {
  const { cloud, sandbox, op, reserve, driver, captureOf } = await setup(t, { refund: 'full_before_start' });
  const r = await reserve('SB5');
  await payCheckout(cloud, r.paymentUrl);
  const capture = await captureOf(r.id);
  const url = `/v1/payments/${capture!.id}/refunds`;
  const refund = (amount: number, key: string) =>
    cloud.call('POST', url, {
      token: op.token,
      headers: { 'idempotency-key': key },
      body: { amount, reason: 'barrier fault' },
    });
  t.equal((await refund(100, 'a')).body.refund.status, 'succeeded');
  t.equal((await refund(50, 'b')).body.payment.refundable.amount, 250);
  const over = await refund(251, 'c');
  t.equal(over.status, 409);
  t.equal(over.body.error, 'over_refund');
  t.same(
    sandbox.ledger.filter((e) => e.kind === 'refund').map((e) => e.amount.amount),
    [100, 50],
    'two refunds at the provider',
  );
  const raced = await Promise.all([refund(200, 'd'), refund(200, 'e')]);
  t.same(
    raced.map((r) => r.status).sort(),
    [200, 409],
    'two concurrent refunds over what is left: one goes through',
  );
  const direct = await sandbox.refund({
    paymentRef: capture!.provider_ref,
    amount: { amount: 51, currency: 'EUR' },
    idempotencyKey: 'direct',
  });
  t.same(direct.ok ? null : direct.error.reason, 'over_refund', 'the sandbox itself refuses too');

  const other = await reserve('SB6');
  await payCheckout(cloud, other.paymentUrl);
  const cancelled = await cloud.call('POST', `/v1/reservations/${other.id}/cancel`, { token: driver.token });
  t.same(cancelled.body.refund, { amount: 400, currency: 'EUR' });
  const otherCapture = await captureOf(other.id);
  t.ok(
    sandbox.ledger.some((e) => e.kind === 'refund' && e.refundOf === otherCapture?.provider_ref),
    'the cancellation refund went to the provider',
  );
});

t.test('sandbox off-session charges: idempotent per key; events settle pending rows', async (t) => {
  const { cloud, sandbox, reserve } = await setup(t);
  const r = await reserve('SB7');
  await payCheckout(cloud, r.paymentUrl);
  const [row] = await cloud.db.rows<{ stored_method_ref: string }>(
    'select stored_method_ref from reservations where id = $1',
    [r.id],
  );
  t.match(row?.stored_method_ref, /^pm_/, 'method saved at checkout');
  const charge = (key: string, method = row!.stored_method_ref) =>
    sandbox.chargeStoredMethod({
      storedMethodRef: method,
      amount: { amount: 300, currency: 'EUR' },
      idempotencyKey: key,
      description: 'overstay',
    });
  const a = await charge('ov-1');
  t.same(await charge('ov-1'), a, 'same key, same charge');
  t.equal(sandbox.ledger.filter((e) => e.kind === 'charge').length, 1);
  const declined = await charge('ov-2', 'card_unknown');
  t.same(declined.ok ? null : declined.error.reason, 'declined');
  sandbox.setDown(true);
  await t.rejects(charge('ov-3'), 'down: the call throws, the sweeper retries');
  sandbox.setDown(false);
});

t.test('provider down on reserve: 502, the hold kept, a retry opens its checkout', async (t) => {
  const { cloud, sandbox, driver } = await setup(t);
  sandbox.setDown(true);
  const body = {
    lotId: 'sbx',
    vehicleType: 'car',
    plate: 'SB8',
    start: iso(T0 + HOUR),
    end: iso(T0 + 2 * HOUR),
  };
  const down = await cloud.call('POST', '/v1/reservations', { token: driver.token, body });
  t.equal(down.status, 502);
  t.equal(down.body.error, 'payment_unavailable');
  const kept = await cloud.db.rows<{ id: string }>(
    `select id from reservations where plate = 'SB8' and status = 'TENTATIVE'`,
  );
  t.equal(kept.length, 1, 'the hold is kept while the provider is down');
  sandbox.setDown(false);
  const retry = await cloud.call('POST', '/v1/reservations', { token: driver.token, body });
  t.equal(retry.status, 201);
  t.equal(retry.body.id, kept[0]!.id, 'the retry pays for the kept hold');
  const other = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { ...body, start: iso(T0 + 90 * 60_000), end: iso(T0 + 3 * HOUR) },
  });
  t.equal(other.status, 409, 'an overlapping but different booking of the plate is still refused');
});

t.test('other purposes register on the registry and get their captures once', async (t) => {
  const { cloud, sandbox } = await setup(t);
  const got: unknown[] = [];
  // A purpose of its own (exit and debt are taken by the exit-payments plugin).
  cloud.app.paymentPurposes.register('parcel', {
    async captured(p) {
      if (got.some((g) => (g as { paymentRef: string }).paymentRef === p.paymentRef)) return 'duplicate';
      got.push(p);
      return 'applied';
    },
  });
  t.throws(() => cloud.app.paymentPurposes.register('parcel', { captured: async () => 'unknown' }), /twice/);
  const amount = { amount: 650, currency: 'EUR' };
  const checkout = await sandbox.createCheckout({
    reference: 'parcel:sbx:session-1',
    amount,
    description: 'a parcel locker fee',
  });
  const paid = await cloud.call('POST', '/v1/sandbox/pay', { body: { checkout: checkout.checkoutId } });
  t.equal(paid.status, 200);
  t.equal(paid.body.reference, 'parcel:sbx:session-1');
  t.notOk('reservationId' in paid.body, 'not a booking');
  t.match(got, [{ reference: 'parcel:sbx:session-1', amount, paymentRef: /^pi_/ }]);
  await cloud.call('POST', '/v1/sandbox/pay', { body: { checkout: checkout.checkoutId } });
  t.equal(got.length, 1, 'paid twice, applied once');
  const stray = await sandbox.createCheckout({ reference: 'nothing:1', amount, description: 'x' });
  await cloud.call('POST', '/v1/sandbox/pay', { body: { checkout: stray.checkoutId } });
  const [event] = await cloud.db.rows<{ outcome: string }>(
    `select outcome from payment_events where reference = 'nothing:1'`,
  );
  t.equal(event?.outcome, 'unknown', 'a reference no purpose knows is recorded and ignored');
});

t.test('applied webhook events are forgotten after 30 days, not before', async (t) => {
  const { cloud, reserve } = await setup(t);
  const r = await reserve('SB9');
  await payCheckout(cloud, r.paymentUrl);
  const count = async () => (await cloud.db.rows('select 1 from payment_events')).length;
  t.equal(await count(), 1);
  t.equal(await cloud.app.paymentWebhooks.prune(cloud.clock.now() + 29 * 24 * HOUR), 0);
  t.equal(await cloud.app.paymentWebhooks.prune(cloud.clock.now() + 31 * 24 * HOUR), 1);
  t.equal(await count(), 0);
});
