import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { seededRandom } from '../../protocol/random.js';
import { buildApp } from '../app.js';
import { ephemeralConfig } from '../config.js';
import { buildTestCloud, HOUR, iso, lotBody, T0 } from './helpers.js';

/** Abuse limits (cloud/plugins/throttle.ts): per user and per lot after validation; sign-in throttles. */

const window = { start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) };
const limits = (over: Partial<ReturnType<typeof ephemeralConfig>['rateLimits']>) => ({
  ...ephemeralConfig().rateLimits,
  ...over,
});

t.test('one abusive account cannot block bookings at a lot for others', async (t) => {
  const cloud = await buildTestCloud({
    config: { rateLimits: limits({ reservePerLotPerMinute: 20, reservePerUserPerMinute: 5 }) },
  });
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'busy' }, 40) });
  const abuser = await cloud.userWithToken('driver');

  const invalid = await Promise.all(
    Array.from({ length: 100 }, () =>
      cloud.call('POST', '/v1/reservations', {
        token: abuser.token,
        body: { lotId: 'busy', vehicleType: 'car', plate: '', ...window },
      }),
    ),
  );
  t.ok(
    invalid.every((r) => r.status === 400),
    '100 invalid bodies are refused by validation (and counted against nobody)',
  );
  const valid = [];
  for (let i = 0; i < 30; i++)
    valid.push(
      await cloud.call('POST', '/v1/reservations', {
        token: abuser.token,
        body: { lotId: 'busy', vehicleType: 'car', plate: `AB${i}`, ...window },
      }),
    );
  t.same(
    valid.map((r) => r.status),
    [...Array(5).fill(201), ...Array(25).fill(429)],
    'the abuser gets its own 5 per minute, then 429',
  );
  t.equal(valid[5]!.body.error, 'rate_limited');
  t.ok(Number(valid[5]!.headers['retry-after']) >= 1, 'with Retry-After');

  for (let u = 0; u < 3; u++) {
    const other = await cloud.userWithToken('driver');
    const r = await cloud.call('POST', '/v1/reservations', {
      token: other.token,
      body: { lotId: 'busy', vehicleType: 'car', plate: `OK${u}`, ...window },
    });
    t.equal(r.status, 201, `another driver (${u + 1}) still books at the lot`);
  }
});

t.test('1,000 bad logins get 429s while /health and bookings stay fast', async (t) => {
  const cloud = await buildTestCloud({
    config: {
      rateLimits: limits({ authPerAddressPerMinute: 30, authPerAccountPerMinute: 10, hashConcurrency: 4 }),
    },
  });
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'calm' }, 10) });
  const driver = await cloud.userWithToken('driver');
  const victim = driver.user.email;

  const login = (email: string, password: string, remoteAddress = '203.0.113.7') =>
    cloud.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { email, password },
      remoteAddress,
    });

  const timed = async <T>(p: () => Promise<T>) => {
    const t0 = Date.now();
    const value = await p();
    return { value, ms: Date.now() - t0 };
  };
  // A booking with no storm, for scale (PGlite runs in this process and is slower than PostgreSQL).
  const quiet = await timed(() =>
    cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      body: { lotId: 'calm', vehicleType: 'car', plate: 'CALM0', ...window },
    }),
  );
  t.equal(quiet.value.status, 201);

  // The attacker keeps 20 requests in flight (a connection pool) until 1,000 are sent; once 200 are
  // answered, a health check and a booking are timed in the middle of the storm.
  const statusesOut: number[] = [];
  let next = 0;
  let midStorm: () => void = () => {};
  const reached = new Promise<void>((resolve) => {
    midStorm = resolve;
  });
  const started = Date.now();
  const storm = Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < 1000) {
        const i = next++;
        statusesOut.push((await login(victim, `wrong password ${i}`)).statusCode);
        if (statusesOut.length === 200) midStorm();
      }
    }),
  );
  await reached;
  const [health, booking] = await Promise.all([
    timed(() => cloud.app.inject({ method: 'GET', url: '/health' })),
    timed(() =>
      cloud.call('POST', '/v1/reservations', {
        token: driver.token,
        body: { lotId: 'calm', vehicleType: 'car', plate: 'CALM1', ...window },
      }),
    ),
  ]);
  await storm;
  const statuses = statusesOut;
  const stormMs = Date.now() - started;
  const count = (s: number) => statuses.filter((x) => x === s).length;
  t.ok(count(401) <= 10, `at most 10 passwords checked for the account (${count(401)})`);
  t.equal(count(401) + count(429) + count(503), 1000, 'every other attempt refused');
  t.ok(count(429) >= 985, `the rest get 429 (${count(429)}; ${count(503)} busy; 1,000 in ${stormMs} ms)`);
  t.equal(health.value.statusCode, 200);
  t.ok(health.ms < 500, `/health answered in ${health.ms} ms during the storm (${stormMs} ms)`);
  t.equal(booking.value.status, 201);
  // PGlite runs in this process, so its queries share the CPU with the attacker's requests here.
  const bound = cloud.kind === 'postgres' ? 500 + 3 * quiet.ms : 3000;
  t.ok(
    booking.ms < bound,
    `a booking went through in ${booking.ms} ms during the storm (${quiet.ms} ms without)`,
  );

  // From another address the account is still throttled in this window; after it, the owner logs in.
  const during = await login(victim, 'correct horse battery', '198.51.100.1');
  t.equal(during.statusCode, 429, 'the account itself is throttled for the window');
  cloud.clock.advance(61_000);
  const after = await login(victim, 'correct horse battery', '198.51.100.1');
  t.equal(after.statusCode, 200, 'after the window the owner logs in');
});

t.test(
  'a sign-in flood from many addresses: argon2 work is bounded, the excess gets 503 at once',
  async (t) => {
    const cloud = await buildTestCloud({
      config: { rateLimits: limits({ hashConcurrency: 2, hashQueue: 4 }) },
    });
    t.teardown(() => cloud.close());
    const replies = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        cloud.app.inject({
          method: 'POST',
          url: '/v1/auth/token',
          payload: { email: `nobody${i}@test.example`, password: 'guess guess guess' },
          remoteAddress: `10.0.${i >> 8}.${i & 255}`,
        }),
      ),
    );
    const statuses = replies.map((r) => r.statusCode);
    const busy = statuses.filter((s) => s === 503).length;
    const checked = statuses.filter((s) => s === 401).length;
    t.equal(busy + checked, 120);
    t.ok(checked >= 6, `the slots and the queue were served (${checked} checked)`);
    t.ok(busy >= 60, `the excess was turned away (${busy} × 503)`);
    const refused = replies.find((r) => r.statusCode === 503)!;
    t.equal(refused.json().error, 'busy');
    t.equal(refused.headers['retry-after'], '1');
  },
);

t.test('limits hold across instances with RATE_LIMIT_STORE=postgres (per instance in memory)', async (t) => {
  for (const store of ['postgres', 'memory'] as const) {
    const cloud = await buildTestCloud({
      config: { rateLimits: limits({ reservePerUserPerMinute: 3, authPerAddressPerMinute: 4, store }) },
    });
    t.teardown(() => cloud.close());
    // A second instance on the same database.
    const second = await buildApp({
      config: cloud.config,
      logger: silentLogger(),
      clock: cloud.clock,
      random: seededRandom(7),
      db: cloud.db,
    });
    await second.ready();
    t.teardown(() => second.close());
    const op = await cloud.userWithToken('operator');
    await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: `two-${store}` }, 10) });
    const driver = await cloud.userWithToken('driver');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const app = i % 2 === 0 ? cloud.app : second;
      const r = await app.inject({
        method: 'POST',
        url: '/v1/reservations',
        headers: { authorization: `Bearer ${driver.token}` },
        payload: { lotId: `two-${store}`, vehicleType: 'car', plate: `TW${i}`, ...window },
      });
      statuses.push(r.statusCode);
    }
    const logins: number[] = [];
    for (let i = 0; i < 6; i++) {
      const app = i % 2 === 0 ? cloud.app : second;
      const r = await app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        payload: { email: `x${i}@test.example`, password: 'guess guess guess' },
        remoteAddress: '192.0.2.9',
      });
      logins.push(r.statusCode);
    }
    if (store === 'postgres') {
      t.same(statuses, [201, 201, 201, 429, 429, 429], 'postgres: 3 per user in total over both instances');
      t.same(logins, [401, 401, 401, 401, 429, 429], 'postgres: 4 per address in total');
    } else {
      t.same(statuses, [201, 201, 201, 201, 201, 201], 'memory: each instance counts its own 3');
      t.same(logins, [401, 401, 401, 401, 401, 401], 'memory: each instance counts its own 4');
    }
  }
});
