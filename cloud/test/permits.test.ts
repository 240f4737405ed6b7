import t from 'tap';
import { verifyCredential } from '../../protocol/credential.js';
import { permitCredential } from '../routes/permits.js';
import { buildTestCloud, HOUR, iso, lotBody, T0, type TestCloud } from './helpers.js';

/** Permits in the cloud (docs/permits.md): issue, allocation, one permit per plate, change log, QR. */

const DAY = 24 * HOUR;

async function setup(cloud: TestCloud, oversellPct = 150) {
  const lotId = `permits-${Math.floor(Math.random() * 1e9)}`;
  const body = lotBody({ id: lotId }, 4);
  body.policy = { ...body.policy, permitOversellPct: oversellPct };
  body.spots = [
    ...body.spots,
    { id: 'p1', label: 'P-1', level: '0', type: 'car', pool: 'permit' },
    { id: 'p2', label: 'P-2', level: '0', type: 'car', pool: 'permit' },
  ];
  const admin = await cloud.userWithToken('admin');
  const created = await cloud.call('POST', '/v1/lots', { token: admin.token, body });
  if (created.status !== 201) throw new Error(`lot: ${created.status} ${JSON.stringify(created.body)}`);
  const operator = await cloud.userWithToken('operator', [lotId]);
  return { lotId, operator };
}

const permitBody = (plates: string[], over: Record<string, unknown> = {}) => ({
  holder: 'Acme GmbH',
  plates,
  validFrom: iso(T0),
  validTo: iso(T0 + 30 * DAY),
  accessHours: [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '19:00' }],
  maxInside: 1,
  price: { amount: 9000, currency: 'EUR' },
  period: 'month',
  ...over,
});

t.test(
  'issuing permits: allocation × oversell, one permit per plate, the change log carries them',
  async (t) => {
    const cloud = await buildTestCloud();
    t.teardown(() => cloud.close());
    const { lotId, operator } = await setup(cloud);
    const post = (body: unknown, key: string) =>
      cloud.call('POST', `/v1/lots/${lotId}/permits`, {
        token: operator.token,
        body,
        headers: { 'idempotency-key': key },
      });

    const a = await post(permitBody(['B-AC 101', 'b ac 102'], { maxInside: 2 }), 'k1');
    t.equal(a.status, 201, JSON.stringify(a.body));
    t.same(a.body.plates, ['BAC101', 'BAC102'], 'plates are stored normalised');
    t.equal(a.body.status, 'active');

    const dup = await post(permitBody(['BAC-102']), 'k2');
    t.equal(dup.status, 409);
    t.equal(dup.body.error, 'plate_has_permit');
    t.match(dup.body.message, /BAC102/);

    const b = await post(permitBody(['B-AC 201']), 'k3');
    t.equal(b.status, 201, 'the third vehicle fits: 2 spots × 150% = 3');
    const full = await post(permitBody(['B-AC 301']), 'k4');
    t.equal(full.status, 409);
    t.equal(full.body.error, 'permit_allocation_full');
    t.match(full.body.message, /2 spots × 150% = 3 vehicles; 3 are already sold/);

    const later = await post(
      permitBody(['B-AC 301'], { validFrom: iso(T0 + 40 * DAY), validTo: iso(T0 + 70 * DAY) }),
      'k5',
    );
    t.equal(later.status, 201, 'a permit for dates nobody else holds fits');

    const replay = await post(permitBody(['B-AC 201']), 'k3');
    t.equal(replay.status, 201, 'the same Idempotency-Key answers the first response again');
    t.equal(replay.body.id, b.body.id);

    const list = await cloud.call('GET', `/v1/lots/${lotId}/permits`, { token: operator.token });
    t.equal(list.status, 200);
    t.equal(list.body.permits.length, 3);

    const changes = await cloud.app.changes.changesSince(lotId, 0, 100);
    t.same(
      changes.map((c) => ('permit' in c ? [c.reason, c.permit.id] : [c.reason, null])),
      [
        ['permit_issued', a.body.id],
        ['permit_issued', b.body.id],
        ['permit_issued', later.body.id],
      ],
    );
  },
);

t.test(
  'suspend, resume, cancel: each a change; a cancelled permit frees its plates and is final',
  async (t) => {
    const cloud = await buildTestCloud();
    t.teardown(() => cloud.close());
    const { lotId, operator } = await setup(cloud);
    const a = await cloud.call('POST', `/v1/lots/${lotId}/permits`, {
      token: operator.token,
      body: permitBody(['M-XY 1']),
    });
    t.equal(a.status, 201);
    const id = a.body.id as string;
    const patch = (body: unknown) =>
      cloud.call('PATCH', `/v1/permits/${id}`, { token: operator.token, body });

    const s = await patch({ status: 'suspended' });
    t.equal(s.body.status, 'suspended');
    t.equal(s.body.version, 2);
    const r = await patch({ status: 'active', maxInside: 2 });
    t.equal(r.body.status, 'active');
    t.equal(r.body.maxInside, 2);
    const tooMany = await patch({ maxInside: 4 });
    t.equal(tooMany.status, 409, 'a change is held to the allocation too');
    t.equal(tooMany.body.error, 'permit_allocation_full');
    const bad = await patch({ validTo: iso(T0 - DAY) });
    t.equal(bad.status, 400);
    t.equal(bad.body.field, 'body.validTo');

    const gone = await cloud.call('DELETE', `/v1/permits/${id}`, { token: operator.token });
    t.equal(gone.status, 200);
    t.equal(gone.body.status, 'cancelled');
    t.equal((await patch({ status: 'active' })).status, 409, 'a cancelled permit cannot be revived');
    const again = await cloud.call('POST', `/v1/lots/${lotId}/permits`, {
      token: operator.token,
      body: permitBody(['MXY1']),
    });
    t.equal(again.status, 201, 'the plate may hold a new permit');

    const reasons = (await cloud.app.changes.changesSince(lotId, 0, 100))
      .filter((c) => 'permit' in c && c.permit.id === id)
      .map((c) => c.reason);
    t.same(reasons, ['permit_issued', 'permit_suspended', 'permit_resumed', 'permit_cancelled']);
  },
);

t.test('who may: the lot’s operator and admins; others see nothing', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const { lotId, operator } = await setup(cloud);
  const stranger = await cloud.userWithToken('operator', []);
  const driver = await cloud.userWithToken('driver');
  const body = permitBody(['K-AB 9']);
  t.equal(
    (await cloud.call('POST', `/v1/lots/${lotId}/permits`, { token: stranger.token, body })).status,
    404,
  );
  t.equal((await cloud.call('POST', `/v1/lots/${lotId}/permits`, { token: driver.token, body })).status, 403);
  const a = await cloud.call('POST', `/v1/lots/${lotId}/permits`, { token: operator.token, body });
  t.equal((await cloud.call('GET', `/v1/permits/${a.body.id}`, { token: stranger.token })).status, 404);
  t.equal((await cloud.call('DELETE', `/v1/permits/${a.body.id}`, { token: stranger.token })).status, 404);
  const wrongCurrency = await cloud.call('POST', `/v1/lots/${lotId}/permits`, {
    token: operator.token,
    body: permitBody(['K-AB 10'], { price: { amount: 100, currency: 'USD' } }),
  });
  t.equal(wrongCurrency.status, 400);
  t.equal(wrongCurrency.body.field, 'body.price.currency');
  const sixPlates = await cloud.call('POST', `/v1/lots/${lotId}/permits`, {
    token: operator.token,
    body: permitBody(['A1', 'A2', 'A3', 'A4', 'A5', 'A6']),
  });
  t.equal(sixPlates.status, 400);
  t.match(sixPlates.body.field, /plates/);
});

t.test('bookings never take a permit spot; the permit QR is signed with the permit prefix', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const { lotId, operator } = await setup(cloud);
  const driver = await cloud.userWithToken('driver');
  const window = { start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) };
  const cap = await cloud.call(
    'GET',
    `/v1/lots/${lotId}/capacity?vehicleType=car&start=${window.start}&end=${window.end}`,
    { token: driver.token },
  );
  t.equal(cap.body.available, 4, 'only the 4 bookable spots are offered');
  const spots: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await cloud.call('POST', '/v1/reservations', {
      token: driver.token,
      headers: { 'idempotency-key': `pb-${i}` },
      body: { lotId, vehicleType: 'car', plate: `B-PB ${i + 1}`, ...window },
    });
    if (r.status === 201) spots.push(r.body.spot);
    else t.equal(r.body.error, 'no_spot_free', 'the fifth booking finds no spot');
  }
  t.equal(spots.length, 4);
  t.notOk(
    spots.some((l) => l.startsWith('P-')),
    'no booking landed on a permit spot',
  );

  const a = await cloud.call('POST', `/v1/lots/${lotId}/permits`, {
    token: operator.token,
    body: permitBody(['B-QR 1']),
  });
  const text = permitCredential(cloud.app, a.body);
  t.match(text, /^PP1\./);
  const v = verifyCredential(text, cloud.app.signingKeys.publicKeys(T0), {
    lotId,
    nowMs: T0 + HOUR,
    earlyArrivalMinutes: 0,
  });
  t.ok(v.ok);
  if (v.ok)
    t.same(v.value, {
      rid: a.body.id,
      lot: lotId,
      plate: 'BQR1',
      start: T0,
      end: T0 + 30 * 86_400_000,
      kind: 'permit',
    });
  const png = await cloud.call('GET', `/v1/permits/${a.body.id}/qr`, { token: operator.token });
  t.equal(png.status, 200);
  t.equal(png.headers['content-type'], 'image/png');
});
