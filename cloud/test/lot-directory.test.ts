import t from 'tap';
import { distanceKm, searchLots } from '../repositories/lot-directory.js';
import { buildTestCloud, lotBody } from './helpers.js';

/**
 * The lot search from memory (cloud/repositories/lot-directory.ts): this instance's own new or
 * changed lots show at once, a change written by someone else within one second, never later; and
 * the answer is the one the SQL search gave (same distance formula, order and radius filter).
 */

t.test('search answers: own changes at once, others within a second', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  const driver = await cloud.userWithToken('driver');
  const search = async () => {
    const r = await cloud.call('GET', '/v1/lots?lat=52.52&lng=13.405&radiusKm=50', { token: driver.token });
    t.equal(r.status, 200);
    return (r.body.lots as { id: string; bookableSpots: number }[]).map((l) => `${l.id}:${l.bookableSpots}`);
  };
  t.same(await search(), [], 'no lots yet');
  await cloud.call('POST', '/v1/lots', {
    token: op.token,
    body: lotBody({ id: 'mitte', location: { lat: 52.52, lng: 13.405 } }, 3),
  });
  t.same(await search(), ['mitte:3'], 'an own new lot shows at once');

  // Another instance moves a spot out of the bookable pool (written straight to the database).
  await cloud.db.pooled.query(
    `update spots set pool = 'driveup' where lot_id = 'mitte' and id = (
       select id from spots where lot_id = 'mitte' order by id limit 1)`,
  );
  t.same(await search(), ['mitte:3'], 'another instance’s change may be up to a second old…');
  cloud.clock.advance(999);
  t.same(await search(), ['mitte:3']);
  cloud.clock.advance(1);
  t.same(await search(), ['mitte:2'], '…and never older than a second');

  await cloud.db.pooled.query('update spots set pool = $1 where lot_id = $2', ['bookable', 'mitte']);
  await cloud.call('POST', '/v1/lots', {
    token: op.token,
    body: lotBody({ id: 'potsdam', name: 'Potsdam', location: { lat: 52.39, lng: 13.06 } }, 1),
  });
  t.same(await search(), ['mitte:3', 'potsdam:1'], 'an own new lot reloads the rest too, nearest first');

  // A change this instance writes outside the lot repository (spots, pools) is announced by forget().
  await cloud.db.pooled.query(`update spots set pool = 'driveup' where lot_id = 'potsdam'`);
  t.same(await search(), ['mitte:3', 'potsdam:1']);
  cloud.app.lots.forget('potsdam');
  t.same(await search(), ['mitte:3', 'potsdam:0'], 'forget() shows it at once');
});

t.test('the distance is the SQL search’s haversine, to the metre', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const points = [
    [52.52, 13.405, 52.39, 13.06],
    [0, 0, 0, 180],
    [-33.86, 151.21, 51.5, -0.12],
    [89.9, 10, -89.9, -170],
    [48.1, 11.5, 48.1, 11.5],
  ] as const;
  for (const [lat0, lng0, lat, lng] of points) {
    const [row] = await cloud.db.rows<{ d: number }>(
      `select 2 * 6371.0088 * asin(least(1, sqrt(
         power(sin(radians($3::float8 - $1::float8) / 2), 2) +
         cos(radians($1::float8)) * cos(radians($3::float8)) * power(sin(radians($4::float8 - $2::float8) / 2), 2)))) as d`,
      [lat0, lng0, lat, lng],
    );
    t.ok(Math.abs(distanceKm({ lat: lat0, lng: lng0 }, { lat, lng }) - row!.d) < 1e-6, `${lat0},${lng0}`);
  }
});

t.test('search: radius, nearest first, then name and id; limit; no point, no distance', async (t) => {
  const at = (lat: number, lng: number) => ({ lat, lng });
  const lot = (id: string, name: string, location: { lat: number; lng: number }) => ({
    id,
    name,
    timeZone: 'Europe/Berlin',
    location,
    rates: { currency: 'EUR', perSlot: 100 } as never,
    bookableSpots: 1,
  });
  const lots = [
    lot('c', 'B', at(52.6, 13.4)),
    lot('b', 'B', at(52.6, 13.4)),
    lot('a', 'A', at(52.6, 13.4)),
    lot('near', 'Z', at(52.5, 13.4)),
    lot('far', 'F', at(48.1, 11.5)),
  ];
  const ids = (q: Parameters<typeof searchLots>[1]) => searchLots(lots, q).map((l) => l.id);
  t.same(ids({ lat: 52.5, lng: 13.4, radiusKm: 50, limit: 20 }), ['near', 'a', 'b', 'c']);
  t.same(ids({ lat: 52.5, lng: 13.4, limit: 2 }), ['near', 'a']);
  t.same(ids({ limit: 20 }), ['a', 'b', 'c', 'far', 'near'], 'by name, then id');
  t.equal(searchLots(lots, { limit: 1 })[0]!.distanceKm, null);
  t.equal(searchLots(lots, { lat: 52.5, lng: 13.4, limit: 1 })[0]!.distanceKm, 0);
  const far = searchLots(lots, { lat: 52.5, lng: 13.4, limit: 5 }).find((l) => l.id === 'far')!;
  t.equal(far.distanceKm, Math.round(far.distanceKm! * 1000) / 1000, 'rounded to the metre');
});
