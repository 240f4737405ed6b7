import fc from 'fast-check';
import t from 'tap';
import { bitStringToBits } from '../../protocol/bitmap.js';
import { systemClock, TestClock } from '../../protocol/clock.js';
import { silentLogger } from '../../protocol/logger.js';
import type { LotRecord } from '../repositories/lots.js';
import { CANDIDATES, createCapacityCache } from '../repositories/reservations/capacity.js';
import { varbitWords } from '../repositories/spot-bitmaps.js';
import { buildTestCloud, HOUR, iso, lotBody, T0 } from './helpers.js';

/**
 * reserve_hold tries the spots the capacity snapshot calls free first, by primary key (migration
 * 018), so picking a spot does not scan the lot. They are hints: a booking still gets the last free
 * spot when every hint is stale, and a full lot is still answered full.
 */

const lotRecord = (version = 1): LotRecord => ({ id: 'L', baseSlot: 0, version }) as unknown as LotRecord;

/** A bit string as PostgreSQL's varbit_send writes it: bit count (big-endian), then the bits. */
function sent(bits: string): Buffer {
  const out = Buffer.alloc(4 + Math.ceil(bits.length / 8));
  out.writeUInt32BE(bits.length, 0);
  for (let i = 0; i < bits.length; i++) if (bits[i] === '1') out[4 + (i >> 3)]! |= 0x80 >> (i & 7);
  return out;
}

/** 20 spots: s00–s15 cars, s16–s19 motorcycles; s00–s09 held in slots 0–7. */
function fakeDb() {
  const rows = Array.from({ length: 20 }, (_, i) => ({
    id: `s${String(i).padStart(2, '0')}`,
    type: i < 16 ? 'car' : 'motorcycle',
    bits: sent(i < 10 ? '11111111' : ''),
  }));
  let loads = 0;
  return {
    get loads() {
      return loads;
    },
    pooled: {
      async query() {
        loads++;
        return { rows };
      },
    },
  };
}

t.test('candidates: free, eligible, spread by key, own holds excluded, never waiting', async (t) => {
  const db = fakeDb();
  const clock = new TestClock(T0);
  const cache = createCapacityCache({ db: db as never, clock, log: silentLogger(), maxAgeMs: 1000 });
  const w = { from: 0, len: 8 };
  t.same(cache.candidates(lotRecord(), 'car', w, 'a'), [], 'no snapshot yet: none, and no waiting');
  t.equal(db.loads, 1, 'but a load is started');
  await new Promise((resolve) => setImmediate(resolve));
  const free = new Set(['s10', 's11', 's12', 's13', 's14', 's15']);
  const seen = new Set<string>();
  for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
    const c = cache.candidates(lotRecord(), 'car', w, key);
    t.equal(c.length, CANDIDATES, `${key}: ${CANDIDATES} candidates`);
    t.ok(
      c.every((id) => free.has(id)),
      `${key}: only free car spots (${c.join(' ')})`,
    );
    seen.add(c[0]!);
  }
  t.ok(seen.size > 1, 'different bookings start at different spots');
  const first = cache.candidates(lotRecord(), 'car', w, 'a')[0]!;
  cache.patch('L', first, w, true);
  t.notOk(
    cache.candidates(lotRecord(), 'car', w, 'a').includes(first),
    'a spot this instance held is no longer offered',
  );
  t.same(cache.candidates(lotRecord(), 'car', { from: 0, len: 8 }, 'x').length, CANDIDATES);
  t.same(cache.candidates(lotRecord(2), 'car', w, 'a'), [], 'a reconfigured lot: none until reloaded');
  const none = createCapacityCache({ db: db as never, clock: systemClock, log: silentLogger(), maxAgeMs: 0 });
  t.same(none.candidates(lotRecord(), 'car', w, 'a'), [], 'no cache configured: no candidates');
});

t.test('every hint stale: the booking still gets the one free spot, then the lot is full', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  const driver = await cloud.userWithToken('driver');
  t.equal(
    (await cloud.call('POST', '/v1/lots', { token: op.token, body: lotBody({ id: 'cand' }, 12) })).status,
    201,
  );
  const window = { start: iso(T0 + HOUR), end: iso(T0 + 3 * HOUR) };
  const capacity = await cloud.call(
    'GET',
    `/v1/lots/cand/capacity?vehicleType=car&start=${window.start}&end=${window.end}`,
    { token: driver.token },
  );
  t.equal(capacity.body.available, 12, 'the snapshot: all 12 free');
  // Another instance books 11 spots (straight into the bitmaps): this instance's memory still
  // offers them, and only the last spot in storage order is really free.
  const [last] = await cloud.db.rows<{ id: string; label: string }>(
    `select id, label from spots where lot_id = 'cand' order by id desc limit 1`,
  );
  await cloud.db.pooled.query(
    `update spots set bits = repeat('1', 4 * 24 * 30)::varbit where lot_id = 'cand' and id <> $1`,
    [last!.id],
  );
  const booked = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'cand', vehicleType: 'car', plate: 'CAND1', ...window },
  });
  t.equal(booked.status, 201, 'booked although every candidate was taken');
  t.equal(booked.body.spot, last!.label, 'on the one spot that was free');
  const full = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId: 'cand', vehicleType: 'car', plate: 'CAND2', ...window },
  });
  t.equal(full.status, 409, 'then the lot is full, whatever memory says');
});

t.test('the snapshot reads bitmaps in binary: the same words as their text form', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const strings = [
    '',
    '1',
    '0000000',
    '10000000',
    '100000001',
    '1'.repeat(33),
    '01'.repeat(1920),
    ...fc
      .sample(fc.array(fc.constantFrom('0', '1'), { maxLength: 300 }), { numRuns: 200, seed: 13 })
      .map((a) => a.join('')),
  ];
  const rows = await cloud.db.rows<{ sent: Buffer; text: string }>(
    'select varbit_send(b::varbit) as sent, b::varbit::text as text from unnest($1::text[]) with ordinality as x(b, n) order by n',
    [strings],
  );
  t.equal(rows.length, strings.length);
  const differ = rows.filter((r) => {
    const a = varbitWords(r.sent);
    const b = bitStringToBits(r.text);
    return a.length !== b.length || a.some((w, i) => w !== b[i]);
  });
  t.same(
    differ.map((r) => r.text),
    [],
    `${strings.length} bitmaps: binary and text agree (${cloud.kind})`,
  );
  t.same(varbitWords(sent('0101')), bitStringToBits('0101'), 'the test encoder agrees too');
  t.throws(() => varbitWords(Buffer.from([0, 0, 0, 9, 0xff])), RangeError, 'a short body is refused');
});
