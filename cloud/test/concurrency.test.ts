import t, { type Test } from 'tap';
import { seededRandom } from '../../protocol/random.js';
import { buildTestCloud, DATABASE_URL, HOUR, iso, lotBody, T0, type TestCloud } from './helpers.js';

/**
 * Hundreds of parallel reserve calls against the real PostgreSQL: exactly as many succeed as there
 * are spots, the rest get a clean 409, the exclusion constraints never have to step in, and every
 * spot's bitmap equals the union of its active reservations.
 */

if (DATABASE_URL === undefined) {
  if (process.env.CI) {
    t.fail('the concurrency test needs the real PostgreSQL: set DATABASE_URL');
  } else {
    t.comment(
      'SKIP concurrency: needs the real PostgreSQL (set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)',
    );
    t.pass('skipped without DATABASE_URL');
  }
} else {
  t.test('concurrency on the real PostgreSQL', async (t) => {
    const cloud = await buildTestCloud({ poolSize: 20 });
    t.teardown(() => cloud.close());
    t.equal(cloud.kind, 'postgres');
    const op = await cloud.userWithToken('operator');
    const drivers = await Promise.all(Array.from({ length: 10 }, () => cloud.userWithToken('driver')));

    const violations = async () => {
      const m = await cloud.metrics.constraintViolations.get();
      return m.values.reduce((n, v) => n + v.value, 0);
    };

    t.test('300 callers, 40 spots, one window', async (t) => {
      await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'rush' }, 40) });
      const window = { start: iso(T0 + HOUR), end: iso(T0 + 3 * HOUR) };
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          cloud.call('POST', '/v1/reservations', {
            token: drivers[i % drivers.length]!.token,
            body: { lotId: 'rush', vehicleType: 'car', plate: `RUSH${i}`, ...window },
          }),
        ),
      );
      const by = (s: number) => results.filter((r) => r.status === s);
      t.equal(by(201).length, 40, 'exactly as many bookings as spots');
      t.equal(by(409).length, 260, 'everyone else: a clean conflict');
      t.ok(
        by(409).every((r) => r.body.error === 'no_spot_free'),
        'with the reason no_spot_free',
      );
      t.equal(new Set(by(201).map((r) => r.body.spot)).size, 40, 'forty different spots');
      t.equal(await violations(), 0, 'the exclusion constraints never fired');
      t.same(await cloud.bitmapMismatches(), [], 'bitmaps equal the union of active reservations');
      const seqs = (await cloud.app.changes.changesSince('rush', 0, 1000)).map((c) => c.seq);
      t.same(
        seqs,
        Array.from({ length: 40 }, (_, i) => i + 1),
        'gapless change log',
      );
    });

    t.test('random overlapping windows, a few spots, many callers', async (t) => {
      await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'mixed' }, 6) });
      const rnd = seededRandom(42);
      const calls = Array.from({ length: 200 }, (_, i) => {
        const startSlot = rnd.int(24);
        const len = 1 + rnd.int(8);
        return {
          lotId: 'mixed',
          vehicleType: rnd.chance(0.2) ? 'ev' : 'car',
          plate: `MIX${i}`,
          start: iso(T0 + HOUR + startSlot * 15 * 60_000),
          end: iso(T0 + HOUR + (startSlot + len) * 15 * 60_000),
        };
      });
      const results = await Promise.all(
        calls.map((body, i) =>
          cloud.call('POST', '/v1/reservations', { token: drivers[i % 10]!.token, body }),
        ),
      );
      t.ok(
        results.every((r) => r.status === 201 || (r.status === 409 && r.body.error === 'no_spot_free')),
        'only bookings and clean conflicts',
      );
      t.ok(results.filter((r) => r.status === 201).length >= 6);
      const overlaps = await cloud.db.rows(
        `select a.id from reservations a join reservations b
           on a.lot_id = b.lot_id and a.spot_id = b.spot_id and a.id < b.id and a.during && b.during
         where a.lot_id = 'mixed' and a.status in ('TENTATIVE','CONFIRMED','CHECKED_IN')
           and b.status in ('TENTATIVE','CONFIRMED','CHECKED_IN')`,
      );
      t.equal(overlaps.length, 0, 'no double booking');
      t.equal(await violations(), 0);
      t.same(await cloud.bitmapMismatches(), []);
      // Each refusal was right: for every refused window, every eligible spot was taken.
      await assertRefusalsJustified(t, cloud, calls, results);
    });

    t.test('one plate, many lots at once: one booking', async (t) => {
      for (const id of ['p1', 'p2', 'p3', 'p4']) {
        await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id }, 3) });
      }
      const window = { start: iso(T0 + 10 * HOUR), end: iso(T0 + 11 * HOUR) };
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          cloud.call('POST', '/v1/reservations', {
            token: drivers[i % 10]!.token,
            body: { lotId: `p${(i % 4) + 1}`, vehicleType: 'car', plate: 'SAME 1', ...window },
          }),
        ),
      );
      t.equal(results.filter((r) => r.status === 201).length, 1);
      t.equal(results.filter((r) => r.status === 409 && r.body.error === 'plate_overlap').length, 39);
      t.equal(await violations(), 0, 'the plate constraint never had to fire');
    });

    t.test('releases and bookings interleaved', async (t) => {
      await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'churn' }, 5) });
      const window = { start: iso(T0 + 20 * HOUR), end: iso(T0 + 22 * HOUR) };
      const first = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          cloud.call('POST', '/v1/reservations', {
            token: drivers[i]!.token,
            body: { lotId: 'churn', vehicleType: 'car', plate: `CH${i}`, ...window },
          }),
        ),
      );
      t.ok(first.every((r) => r.status === 201));
      // Cancel all five while 50 more try to book: at most five can get in, and the books balance.
      const [cancels, rebooks] = await Promise.all([
        Promise.all(
          first.map((r, i) =>
            cloud.call('POST', `/v1/reservations/${r.body.id}/cancel`, { token: drivers[i]!.token }),
          ),
        ),
        Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            cloud.call('POST', '/v1/reservations', {
              token: drivers[i % 10]!.token,
              body: { lotId: 'churn', vehicleType: 'car', plate: `RB${i}`, ...window },
            }),
          ),
        ),
      ]);
      t.ok(cancels.every((r) => r.status === 200));
      t.ok(rebooks.filter((r) => r.status === 201).length <= 5);
      t.ok(rebooks.every((r) => r.status === 201 || r.body.error === 'no_spot_free'));
      t.equal(await violations(), 0);
      t.same(await cloud.bitmapMismatches(), []);
    });
  });
}

async function assertRefusalsJustified(
  t: Test,
  cloud: TestCloud,
  calls: { vehicleType: string; start: string; end: string }[],
  results: { status: number }[],
) {
  const active = await cloud.db.rows<{ spot_id: string; start_at: Date; end_at: Date }>(
    `select spot_id, start_at, end_at from reservations where lot_id = 'mixed' and status = 'TENTATIVE'`,
  );
  let unjustified = 0;
  calls.forEach((c, i) => {
    if (results[i]!.status !== 409) return;
    const s = Date.parse(c.start);
    const e = Date.parse(c.end);
    const busy = new Set(
      active.filter((a) => a.start_at.getTime() < e && s < a.end_at.getTime()).map((a) => a.spot_id),
    );
    if (busy.size < 6) unjustified++;
  });
  t.equal(unjustified, 0, 'every 409 happened when all six spots were busy for that window');
}
