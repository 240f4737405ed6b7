import t from 'tap';
import { buildTestCloud, HOUR, iso, lotBody, MIN, T0 } from './helpers.js';

/** Rate plans through the API: operators set them, anyone prices a stay, the edge's config carries them. */

// T0 is Monday 2030-01-07 08:00Z = 09:00 in Berlin.
const PLAN = {
  currency: 'EUR',
  hourlyRate: 200,
  dailyMax: 2400,
  lostTicketFee: 5000,
  rules: [
    {
      kind: 'band',
      name: 'Day',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      from: '08:00',
      to: '18:00',
      hourlyRate: 400,
    },
    {
      kind: 'early_bird',
      name: 'Early bird',
      enterFrom: '06:00',
      enterBefore: '09:30',
      leaveAfter: '16:00',
      price: 1000,
    },
    { kind: 'evening', name: 'Evening', enterFrom: '18:00', leaveBefore: '08:00', price: 600 },
  ],
};

t.test('operators read and replace a lot plan; the edge config carries it with a new version', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  t.equal(
    (await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'rp' }) })).status,
    201,
  );
  const other = await cloud.userWithToken('operator');
  const driver = await cloud.userWithToken('driver');

  const before = await cloud.call('GET', '/v1/lots/rp/rate-plan', { token: op.token });
  t.equal(before.status, 200);
  t.equal(before.body.ratePlan, null, 'no plan yet');
  t.match(
    before.body.effective,
    { currency: 'EUR', hourlyRate: 400, dailyMax: null, rules: [] },
    'the card as a plan',
  );

  const put = await cloud.call('PUT', '/v1/lots/rp/rate-plan', { token: op.token, body: PLAN });
  t.equal(put.status, 200);
  t.equal(put.body.version, before.body.version + 1, 'config version bumped');
  t.equal(put.body.ratePlan.rules.length, 3);
  const config = await cloud.app.lots.config('rp');
  t.equal(config?.version, put.body.version);
  t.equal(config?.lot.ratePlan?.rules[1]?.name, 'Early bird', 'what the edge receives');

  t.equal(
    (await cloud.call('GET', '/v1/lots/rp/rate-plan', { token: other.token })).status,
    404,
    'not their lot',
  );
  t.equal(
    (await cloud.call('PUT', '/v1/lots/rp/rate-plan', { token: driver.token, body: PLAN })).status,
    403,
  );
  t.equal((await cloud.call('PUT', '/v1/lots/rp/rate-plan', { body: PLAN })).status, 401);

  const overlapping = {
    ...PLAN,
    rules: [
      ...PLAN.rules,
      { kind: 'band', name: 'Lunch', days: ['wed'], from: '12:00', to: '14:00', hourlyRate: 500 },
    ],
  };
  const bad = await cloud.call('PUT', '/v1/lots/rp/rate-plan', { token: op.token, body: overlapping });
  t.equal(bad.status, 400);
  t.match(bad.body, {
    field: 'body.rules.3',
    message: /rule 'Lunch': overlaps rule 'Day' on wed from 12:00 to 14:00/,
  });
  const gbp = await cloud.call('PUT', '/v1/lots/rp/rate-plan', {
    token: op.token,
    body: { ...PLAN, currency: 'GBP' },
  });
  t.match(gbp, { status: 400, body: { field: 'body.currency' } });
  const unchanged = await cloud.call('GET', '/v1/lots/rp/rate-plan', { token: op.token });
  t.equal(unchanged.body.version, put.body.version, 'a refused plan changes nothing');

  // Quotes follow the plan at once: 09:00–11:00 local on a Monday is two Day hours.
  const q = `vehicleType=car&start=${iso(T0)}&end=${iso(T0 + 2 * HOUR)}`;
  t.same((await cloud.call('GET', `/v1/lots/rp/capacity?${q}`, { token: driver.token })).body.price, {
    amount: 800,
    currency: 'EUR',
  });
  const booked = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'rp', vehicleType: 'car', plate: 'RP1', start: iso(T0 + HOUR), end: iso(T0 + 9 * HOUR) },
  });
  t.equal(booked.status, 201);
  t.same(
    booked.body.price,
    { amount: 2400, currency: 'EUR' },
    '10:00–18:00: eight Day hours, capped (too late for the early bird)',
  );

  const otherCurrency = await cloud.call('PATCH', '/v1/lots/rp', {
    token: op.token,
    body: { rates: { currency: 'GBP', hourlyRate: 400 } },
  });
  t.match(
    otherCurrency,
    { status: 400, body: { field: 'body.rates.currency' } },
    'the card cannot leave the plan behind',
  );
  t.match(
    (await cloud.call('GET', '/v1/lots/rp')).body,
    { ratePlan: { rules: [{ name: 'Day' }, {}, {}] } },
    'the lot shows its plan',
  );
  const back = await cloud.call('PUT', '/v1/lots/rp/rate-plan', {
    token: op.token,
    body: { ratePlan: null },
  });
  t.match(back, { status: 200, body: { ratePlan: null, version: put.body.version + 1 } });
});

t.test('anyone can browse lots and prices without an account, rate limited per address', async (t) => {
  const cloud = await buildTestCloud({
    config: {
      rateLimits: {
        capacityPerUserPerMinute: 1000,
        reservePerLotPerMinute: 1000,
        authPerAddressPerMinute: 1000,
        browsePerAddressPerMinute: 5,
      },
    },
  });
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'open' }) });
  await cloud.call('PUT', '/v1/lots/open/rate-plan', { token: op.token, body: PLAN });

  t.match(await cloud.call('GET', '/v1/lots'), { status: 200, body: { lots: [{ id: 'open' }] } });
  t.match(await cloud.call('GET', '/v1/lots/open'), {
    status: 200,
    body: { id: 'open', spots: [{}, {}, {}, {}] },
  });
  t.match(
    await cloud.call('GET', `/v1/lots/open/capacity?vehicleType=car&start=${iso(T0)}&end=${iso(T0 + HOUR)}`),
    {
      status: 200,
      body: { available: 4, price: { amount: 400, currency: 'EUR' } },
    },
  );
  // 08:00–17:30 local: in before 09:30, out after 16:00.
  const window = `start=${iso(T0 - HOUR)}&end=${iso(T0 + 8 * HOUR + 30 * MIN)}`;
  const price = await cloud.call('GET', `/v1/lots/open/price?${window}`);
  t.equal(price.status, 200);
  t.same(price.body, {
    total: { amount: 1000, currency: 'EUR' },
    lines: [
      { label: 'Early bird: Early bird', rule: 'Early bird', day: '2030-01-07', units: 0, amount: 1000 },
    ],
  });
  const lost = await cloud.call('GET', `/v1/lots/open/price?${window}&lostTicket=true`);
  t.same(
    lost.body.lines,
    [{ label: 'Lost ticket', rule: null, day: null, units: 0, amount: 5000 }],
    'a lost ticket',
  );
  t.equal(
    (await cloud.call('GET', '/v1/lots/open/price?start=x&end=y')).status,
    400,
    'checked before the limit',
  );
  for (let i = 2; i <= 5; i++) t.equal((await cloud.call('GET', '/v1/lots/open')).status, 200, `call ${i}`);
  t.equal(
    (await cloud.call('GET', '/v1/lots/open')).status,
    429,
    'the sixth call from the address in a minute',
  );
  const driver = await cloud.userWithToken('driver');
  t.equal(
    (await cloud.call('GET', '/v1/lots/open', { token: driver.token })).status,
    200,
    'a signed-in user has their own budget',
  );
  t.equal(
    (await cloud.call('GET', '/v1/lots/open', { token: 'not-a-token' })).status,
    401,
    'a bad token is still refused',
  );
  const anonymousBooking = await cloud.call('POST', '/v1/reservations', {
    body: {
      lotId: 'open',
      vehicleType: 'car',
      plate: 'ANON1',
      start: iso(T0 + HOUR),
      end: iso(T0 + 2 * HOUR),
    },
  });
  t.equal(anonymousBooking.status, 401, 'booking still needs an account');
});
