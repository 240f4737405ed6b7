import fc from 'fast-check';
import t from 'tap';
import { seededRandom } from '../../protocol/random.js';
import { occupancyBuckets, type Stay } from '../reports/occupancy.js';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0, type TestCloud } from './helpers.js';
import { type SeededStay, seedLotHistory } from './report-seed.js';

/**
 * The reports API on a seeded history that crosses the October DST change (Europe/London), on
 * PostgreSQL when DATABASE_URL is set, else PGlite: the JSON, the CSV and the payments agree to the
 * minor unit; buckets are right across DST in two time zones; ranges are checked; access is staff's.
 */

const DAY = 24 * HOUR;
const SEED_START = Date.UTC(2024, 9, 25);
const SEED_DAYS = 5;

interface Bucket {
  start: string;
  end: string;
  hours: number;
  // biome-ignore lint/suspicious/noExplicitAny: report rows are checked field by field
  [k: string]: any;
}

function parseCsv(text: string): string[][] {
  if (!text.endsWith('\r\n')) throw new Error('CSV lines end in CRLF');
  return text
    .trimEnd()
    .split('\r\n')
    .map((l) => l.split(','));
}

/** What a correct report says, computed straight from the stays (a different algorithm). */
function oracle(stays: readonly SeededStay[], start: number, end: number) {
  const inside = (at: number) =>
    stays.filter((s) => s.entered <= at && (s.exited === null || s.exited > at)).length;
  const instants = [start];
  for (const s of stays) {
    if (s.entered > start && s.entered < end) instants.push(s.entered);
    if (s.exited !== null && s.exited > start && s.exited < end) instants.push(s.exited);
  }
  const area = stays.reduce((a, s) => {
    const from = Math.max(s.entered, start);
    const to = Math.min(s.exited ?? Number.POSITIVE_INFINITY, end);
    return a + Math.max(0, to - from);
  }, 0);
  return {
    max: Math.max(...instants.map(inside)),
    average: Math.round((area / (end - start)) * 100) / 100,
    atEnd: stays.filter((s) => s.entered < end && (s.exited === null || s.exited >= end)).length,
  };
}

t.test('reports over a seeded history across the October DST change', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  const lot = lotBody(
    {
      id: 'london',
      timeZone: 'Europe/London',
      rates: { currency: 'GBP', hourlyRate: 400, dailyMax: null, dynamicPricing: null },
    },
    2,
  );
  lot.spots.push({ id: 'd1', label: 'D-1', level: '0', type: 'car', pool: 'driveup' });
  t.equal((await cloud.call('POST', '/v1/lots', { token: admin.token, body: lot })).status, 201);
  const operator = await cloud.userWithToken('operator', ['london']);
  const seed = await seedLotHistory(cloud.db.pooled, {
    lotId: 'london',
    currency: 'GBP',
    bookableSpot: 's1',
    startMs: SEED_START,
    days: SEED_DAYS,
    sessionsPerDay: 80,
    random: seededRandom(20241027),
  });
  const get = (kind: string, query: string, token = operator.token) =>
    cloud.call('GET', `/v1/lots/london/reports/${kind}?${query}`, { token });
  const range = 'from=2024-10-23&to=2024-11-01';

  t.test('revenue: JSON, CSV and the payments agree to the minor unit', async (t) => {
    const r = await get('revenue', `${range}&bucket=day`);
    t.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
    const days: Bucket[] = r.body.buckets;
    t.equal(days.length, 9);
    const dst = days.find((b) => b.start === '2024-10-27T00:00:00+01:00')!;
    t.same(
      [dst.end, dst.hours],
      ['2024-10-28T00:00:00+00:00', 25],
      'the day the clocks go back has 25 hours',
    );
    t.equal(days.find((b) => b.start === '2024-10-26T00:00:00+01:00')?.hours, 24);
    t.equal(r.body.from, '2024-10-23T00:00:00+01:00');
    t.equal(r.body.to, '2024-11-01T00:00:00+00:00');
    const [total] = r.body.totals;
    t.same(
      total,
      {
        currency: 'GBP',
        bookings: seed.bookings,
        overstay: seed.overstay,
        cash: seed.cash,
        refunds: seed.refunds,
        net: seed.bookings + seed.overstay + seed.cash - seed.refunds,
        gateCharges: seed.gateCharges,
        owed: seed.owed,
      },
      'totals are what the seed paid',
    );
    t.ok(seed.bookings > 0 && seed.overstay > 0 && seed.cash > 0 && seed.refunds > 0 && seed.owed > 0);
    // Straight from the payments table and the cash the gates took, by a query of the test's own.
    const [paid] = await cloud.db.rows<{ net: number }>(
      `select (select coalesce(sum(case p.kind when 'refund' then -p.amount else p.amount end), 0)
                 from payments p join reservations r on r.id = p.reservation_id
                where r.lot_id = 'london' and p.status = 'succeeded')
            + (select coalesce(sum(amount_minor), 0) from lot_cash_payments where lot_id = 'london') as net`,
    );
    t.equal(total.net, Number(paid!.net), 'net equals the sum of succeeded payments and cash');
    for (const k of ['bookings', 'overstay', 'cash', 'refunds', 'net', 'gateCharges', 'owed'] as const) {
      t.equal(
        days.reduce((a, b) => a + b.currencies[0][k], 0),
        total[k],
        `${k}: buckets add up to the total`,
      );
    }
    const csv = await get('revenue', `${range}&bucket=day&format=csv`);
    t.equal(csv.status, 200);
    t.match(String(csv.headers['content-type']), /^text\/csv/);
    const [head, ...rows] = parseCsv(csv.body);
    t.same(head, [
      'start',
      'end',
      'hours',
      'currency',
      'bookings',
      'overstay',
      'cash',
      'refunds',
      'net',
      'gate_charges',
      'owed',
    ]);
    t.equal(rows.length, days.length, 'one row per bucket (one currency)');
    rows.forEach((row, i) => {
      const b = days[i]!;
      const c = b.currencies[0];
      t.same(row, [
        b.start,
        b.end,
        String(b.hours),
        'GBP',
        ...[c.bookings, c.overstay, c.cash, c.refunds, c.net, c.gateCharges, c.owed].map(String),
      ]);
    });
    t.equal(
      rows.reduce((a, row) => a + Number(row[8]), 0),
      total.net,
      'the CSV net column adds up to the same net',
    );
  });

  t.test('occupancy: per bucket and pool, as a brute-force count of the stays says', async (t) => {
    for (const bucket of ['day', 'hour'] as const) {
      const r = await get('occupancy', `from=2024-10-25&to=2024-10-31&bucket=${bucket}`);
      t.equal(r.status, 200);
      const buckets: Bucket[] = r.body.buckets;
      t.equal(buckets.length, bucket === 'day' ? 6 : 6 * 24 + 1);
      for (const b of buckets) {
        const start = Date.parse(b.start);
        const end = Date.parse(b.end);
        t.same(b.vehicles, oracle(seed.stays, start, end), `${bucket} ${b.start}`);
        t.same(
          b.pools.driveup,
          oracle(
            seed.stays.filter((s) => s.pool === 'driveup'),
            start,
            end,
          ),
        );
        t.equal(b.vehicles.atEnd, b.pools.bookable.atEnd + b.pools.driveup.atEnd + b.pools.unknown.atEnd);
      }
      const csv = parseCsv(
        (await get('occupancy', `from=2024-10-25&to=2024-10-31&bucket=${bucket}&format=csv`)).body,
      );
      t.equal(csv.length, buckets.length + 1);
      t.same(csv[1]!.slice(0, 6), [
        buckets[0]!.start,
        buckets[0]!.end,
        String(buckets[0]!.hours),
        ...[buckets[0]!.vehicles.max, buckets[0]!.vehicles.average, buckets[0]!.vehicles.atEnd].map(String),
      ]);
    }
    const hours = await get(
      'occupancy',
      'from=2024-10-27T00:00:00%2B01:00&to=2024-10-27T03:00:00Z&bucket=hour',
    );
    t.same(
      hours.body.buckets.map((b: Bucket) => b.start),
      [
        '2024-10-27T00:00:00+01:00',
        '2024-10-27T01:00:00+01:00',
        '2024-10-27T01:00:00+00:00',
        '2024-10-27T02:00:00+00:00',
      ],
      'the repeated hour is two buckets',
    );
  });

  t.test('usage and no-shows add up to the seeded facts', async (t) => {
    const usage = await get('usage', `${range}&bucket=day`);
    t.equal(usage.status, 200);
    const buckets: Bucket[] = usage.body.buckets;
    t.equal(
      buckets.reduce((a, b) => a + b.arrivals, 0),
      seed.entries,
    );
    t.equal(
      buckets.reduce((a, b) => a + b.departures, 0),
      seed.exits,
    );
    for (const b of buckets) {
      const left = seed.staysMs.filter(
        (s) => s.exited >= Date.parse(b.start) && s.exited < Date.parse(b.end),
      );
      const avg = left.length
        ? Math.round((left.reduce((a, s) => a + s.ms, 0) / 60_000 / left.length) * 100) / 100
        : null;
      t.equal(b.averageStayMinutes, avg, `average stay ${b.start}`);
    }
    // `to` is exclusive: 2024-11-02 reaches into November, so two month buckets.
    const noShows = await get('no-shows', 'from=2024-10-23&to=2024-11-02&bucket=month');
    t.equal(noShows.status, 200);
    t.same(
      noShows.body.buckets.map((b: Bucket) => [b.start, b.hours]),
      [
        ['2024-10-01T00:00:00+01:00', 31 * 24 + 1],
        ['2024-11-01T00:00:00+00:00', 30 * 24],
      ],
    );
    const sum = (k: 'noShows' | 'forfeited') =>
      noShows.body.buckets.reduce((a: number, b: Bucket) => a + b.currencies[0][k], 0);
    t.same([sum('noShows'), sum('forfeited')], [seed.noShows, seed.forfeited]);
    const csv = parseCsv((await get('no-shows', `${range}&bucket=month&format=csv`)).body);
    t.same(csv[0], ['start', 'end', 'hours', 'currency', 'no_shows', 'forfeited']);
    t.equal(
      csv.slice(1).reduce((a, r) => a + Number(r[5]), 0),
      seed.forfeited,
    );
  });

  t.test('bad ranges are refused, naming the field', async (t) => {
    const cases: Array<[string, string, string]> = [
      ['from=2024-10-27&to=2024-10-27', 'query.to', 'range_reversed'],
      ['from=2024-10-28&to=2024-10-27', 'query.to', 'range_reversed'],
      ['from=2023-01-01&to=2024-02-06', 'query.to', 'range_too_long'],
      ['from=yesterday&to=2024-10-27', 'query.from', ''],
      ['from=2024-10-20&to=2024-10-27&bucket=week', 'query.bucket', ''],
      ['from=2024-10-20&to=2024-10-27&format=xml', 'query.format', ''],
      ['to=2024-10-27', 'query.from', ''],
    ];
    for (const [q, field, rule] of cases) {
      const r = await get('usage', q);
      t.equal(r.status, 400, q);
      t.equal(r.body.field, field, q);
      if (rule) t.equal(r.body.rule, rule, q);
    }
    t.equal((await get('usage', 'from=2023-10-01&to=2024-11-04')).status, 200, '400 days is allowed');
  });

  t.test('operators see their own lots, admins every lot', async (t) => {
    const other = await cloud.userWithToken('operator', []);
    const attendant = await cloud.userWithToken('attendant', ['london']);
    const driver = await cloud.userWithToken('driver');
    t.equal((await get('usage', range, admin.token)).status, 200);
    t.equal((await get('usage', range, other.token)).status, 404);
    t.equal((await get('usage', range, attendant.token)).status, 403);
    t.equal((await get('usage', range, driver.token)).status, 403);
    t.equal((await cloud.call('GET', `/v1/lots/london/reports/usage?${range}`)).status, 401);
    t.equal(
      (await cloud.call('GET', `/v1/lots/nowhere/reports/usage?${range}`, { token: admin.token })).status,
      404,
    );
  });
});

t.test('bucket boundaries in a second time zone (America/New_York), both DST changes', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  const body = lotBody({ id: 'nyc', timeZone: 'America/New_York' }, 1);
  t.equal((await cloud.call('POST', '/v1/lots', { token: admin.token, body })).status, 201);
  const get = async (q: string) => {
    const r = await cloud.call('GET', `/v1/lots/nyc/reports/usage?${q}`, { token: admin.token });
    t.equal(r.status, 200, q);
    return r.body.buckets.map((b: Bucket) => [b.start, b.hours]);
  };
  t.same(await get('from=2024-11-02&to=2024-11-05'), [
    ['2024-11-02T00:00:00-04:00', 24],
    ['2024-11-03T00:00:00-04:00', 25],
    ['2024-11-04T00:00:00-05:00', 24],
  ]);
  t.same(
    await get('from=2024-03-09T12:00:00Z&to=2024-03-11T04:00:00Z'),
    [
      ['2024-03-09T00:00:00-05:00', 24],
      ['2024-03-10T00:00:00-05:00', 23],
    ],
    'from rounds down, to rounds up, in the lot’s zone',
  );
  t.same(
    await get('from=2024-03-10T01:00:00-05:00&to=2024-03-10T04:00:00-04:00&bucket=hour'),
    [
      ['2024-03-10T01:00:00-05:00', 1],
      ['2024-03-10T03:00:00-04:00', 1],
    ],
    'the skipped hour has no bucket',
  );
  t.same(await get('from=2024-03-01&to=2024-04-01&bucket=month'), [
    ['2024-03-01T00:00:00-05:00', 31 * 24 - 1],
  ]);
});

t.test('a booking paid through the API shows in the revenue report and the business metrics', async (t) => {
  const cloud: TestCloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  const driver = await cloud.userWithToken('driver');
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'berlin' }, 2) });
  const reserved = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    headers: { 'idempotency-key': 'k1' },
    body: {
      lotId: 'berlin',
      vehicleType: 'car',
      plate: 'B123',
      start: iso(T0 + HOUR),
      end: iso(T0 + 3 * HOUR),
    },
  });
  t.equal(reserved.status, 201, JSON.stringify(reserved.body));
  const paymentToken = await payCheckout(cloud, reserved.body.paymentUrl);
  const done = await cloud.call('POST', `/v1/reservations/${reserved.body.id}/complete`, {
    token: driver.token,
    headers: { 'idempotency-key': 'k2' },
    body: { paymentToken },
  });
  t.equal(done.status, 200, JSON.stringify(done.body));
  const price: number = reserved.body.price.amount;
  const day = new Date(T0).toISOString().slice(0, 10);
  const r = await cloud.call('GET', `/v1/lots/berlin/reports/revenue?from=${day}&to=${iso(T0 + DAY)}`, {
    token: admin.token,
  });
  t.equal(r.body.totals[0].bookings, price);
  await cloud.db.rows(
    `insert into lot_presence (lot_id, state, last_seen, outbox_depth, occupancy)
     values ('berlin', 'online', $1, 3, '{"bookable":{"held":1,"total":2},"driveup":{"held":0,"total":0}}')`,
    [iso(T0 - 30_000)],
  );
  const metrics = String((await cloud.app.inject({ method: 'GET', url: '/metrics' })).body);
  t.match(metrics, `parkedge_cloud_revenue_minor_total{kind="capture",currency="EUR"} ${price}`);
  t.match(metrics, 'parkedge_cloud_bookings{lot="berlin",status="CONFIRMED"} 1');
  t.match(metrics, 'parkedge_cloud_bookings{lot="berlin",status="TENTATIVE"} 0');
  t.match(metrics, 'parkedge_cloud_lot_online{lot="berlin"} 1');
  t.match(metrics, 'parkedge_cloud_lot_last_seen_seconds{lot="berlin"} 30');
  t.match(metrics, 'parkedge_cloud_lot_outbox_depth{lot="berlin"} 3');
  t.match(metrics, 'parkedge_cloud_lot_occupancy{lot="berlin",pool="bookable"} 1');
  t.match(metrics, 'parkedge_cloud_lot_spots{lot="berlin",pool="bookable"} 2');
});

t.test('occupancy sweep matches a brute-force count (property)', async (t) => {
  const base = Date.UTC(2024, 0, 1);
  const bounds = [0, 10, 25, 60, 61, 100].map((m) => ({ ms: base + m * 60_000, label: '' }));
  const stay = fc
    .record({
      entered: fc.integer({ min: -30, max: 120 }),
      length: fc.option(fc.integer({ min: 1, max: 90 }), { nil: null }),
      pool: fc.constantFrom('bookable' as const, 'driveup' as const),
    })
    .map((s) => ({
      entered: base + s.entered * 60_000,
      exited: s.length === null ? null : base + (s.entered + s.length) * 60_000,
      pool: s.pool,
    }));
  fc.assert(
    fc.property(fc.array(stay, { maxLength: 40 }), (stays: Stay[]) => {
      const got = occupancyBuckets(bounds, stays);
      for (let i = 0; i < bounds.length - 1; i++) {
        const want = oracle(stays as SeededStay[], bounds[i]!.ms, bounds[i + 1]!.ms);
        if (JSON.stringify(got[i]!.vehicles) !== JSON.stringify(want)) return false;
      }
      return true;
    }),
    { seed: 42, numRuns: 300 },
  );
  t.pass('300 random histories agree');
});
