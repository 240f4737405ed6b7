import fc from 'fast-check';
import t from 'tap';
import { LotConfigSchema } from '../domain.js';
import {
  type Change,
  decodeMessage,
  encodeMessage,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  parseGateEvent,
  parseTopic,
  topics,
} from '../mqtt.js';

const sentAt = '2026-11-21T10:00:00.000Z';
const reservation = {
  id: 'r1',
  lotId: 'lot-a',
  spotId: 's1',
  spotLabel: 'B-112',
  vehicleType: 'car',
  plate: 'AB123CD',
  start: '2026-11-21T10:00:00.000Z',
  end: '2026-11-21T12:00:00.000Z',
  status: 'CONFIRMED',
  kind: 'booking',
  price: { amount: 1200, currency: 'EUR' },
} as const;

t.test('topics round-trip through the parser', async (t) => {
  t.same(parseTopic(topics.down('lot-a', 'changes')), {
    lotId: 'lot-a',
    direction: 'down',
    channel: 'changes',
  });
  t.same(parseTopic(topics.up('L_9', 'status')), { lotId: 'L_9', direction: 'up', channel: 'status' });
  t.equal(parseTopic('parkedge/v1/lot/lot-a/down/events'), null, 'events is an up channel');
  t.equal(parseTopic('parkedge/v2/lot/lot-a/up/events'), null, 'other major version');
  t.equal(parseTopic('parkedge/v1/lot/+/up/events'), null, 'wildcards are not lot ids');
  t.equal(parseTopic('parkedge/v1/lot/a/b/up/events'), null);
  t.equal(topics.cloudUpShared(), '$share/cloud/parkedge/v1/lot/+/up/#');
});

t.test('a change survives encode → decode', async (t) => {
  const change: Change = { seq: 7, at: sentAt, reason: 'confirmed', reservation };
  const buf = encodeMessage('changes', { changes: [change] }, { id: 'm1', sentAt });
  const r = decodeMessage(topics.down('lot-a', 'changes'), buf);
  t.ok(r.ok);
  if (r.ok && r.value.channel === 'changes') {
    t.equal(r.value.message.body.changes[0]?.seq, 7);
    t.equal(r.value.message.v, PROTOCOL_VERSION);
  }
});

t.test('unknown fields are ignored (newer minor version), a higher major is refused', async (t) => {
  const base = { v: '1.7', type: 'ack', id: 'x', sentAt, body: { upTo: 3, futureField: true }, extra: 1 };
  const r = decodeMessage(topics.down('lot-a', 'ack'), JSON.stringify(base));
  t.ok(r.ok, 'minor version bump with extra fields accepted');
  if (r.ok && r.value.channel === 'ack') t.same(r.value.message.body, { upTo: 3 });
  const r2 = decodeMessage(topics.down('lot-a', 'ack'), JSON.stringify({ ...base, v: '2.0' }));
  t.same(r2.ok ? null : r2.error.reason, 'version_unsupported');
});

t.test('refusals are typed', async (t) => {
  const topic = topics.up('lot-a', 'events');
  const reason = (topicName: string, p: string | Uint8Array) => {
    const r = decodeMessage(topicName, p);
    return r.ok ? 'ok' : r.error.reason;
  };
  t.equal(reason('nope', '{}'), 'unknown_topic');
  t.equal(reason(topic, 'not json'), 'not_json');
  t.equal(reason(topic, '{"v":1}'), 'bad_envelope');
  t.equal(
    reason(topic, JSON.stringify({ v: '1.0', type: 'ack', id: 'a', sentAt, body: { upTo: 1 } })),
    'type_mismatch',
  );
  t.equal(
    reason(topic, JSON.stringify({ v: '1.0', type: 'events', id: 'a', sentAt, body: { events: [] } })),
    'bad_body',
  );
  t.equal(reason(topic, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 32)), 'oversize');
  t.throws(
    () => encodeMessage('ack', { upTo: 1 }, { id: 'x'.repeat(MAX_PAYLOAD_BYTES), sentAt }),
    RangeError,
  );
});

t.test('events of an unknown kind still pass the batch schema; strict parse names the problem', async (t) => {
  const body = { events: [{ eventId: 1, kind: 'from_the_future', at: sentAt, whatever: 1 }] };
  const r = decodeMessage(
    topics.up('lot-a', 'events'),
    JSON.stringify({ v: '1.0', type: 'events', id: 'a', sentAt, body }),
  );
  t.ok(r.ok);
  const strict = parseGateEvent(body.events[0]);
  t.notOk(strict.ok);
  const entry = parseGateEvent({
    eventId: 2,
    kind: 'entry',
    at: sentAt,
    laneId: 'in-1',
    correlationId: 'c1',
    sessionId: 's1',
    reservationId: 'r1',
    plate: 'AB123CD',
    credential: 'plate',
    pool: 'bookable',
    spotId: 's1',
  });
  t.ok(entry.ok, 'a well-formed entry parses');
});

t.test('the decoder never throws on hostile input (fast-check)', async (t) => {
  const anyTopic = fc.oneof(
    fc.string(),
    fc.constantFrom(
      ...['changes', 'config', 'reply', 'command', 'ack'].map((c) => `parkedge/v1/lot/x/down/${c}`),
    ),
    fc.constantFrom(...['events', 'request', 'status'].map((c) => `parkedge/v1/lot/x/up/${c}`)),
  );
  const anyPayload = fc.oneof(
    fc.uint8Array({ maxLength: 512 }),
    fc.string({ maxLength: 512 }),
    fc.anything().map((a) => {
      try {
        return JSON.stringify(a) ?? 'null';
      } catch {
        return '{}';
      }
    }),
    fc
      .record({
        v: fc.oneof(fc.string(), fc.constant('1.0')),
        type: fc.string(),
        id: fc.string(),
        sentAt: fc.string(),
        body: fc.anything(),
      })
      .map((o) => JSON.stringify(o)),
  );
  fc.assert(
    fc.property(anyTopic, anyPayload, (topic, payload) => {
      const r = decodeMessage(topic, payload);
      return r.ok || typeof r.error.reason === 'string';
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.anything(), (x) => parseGateEvent(x).ok === false || true),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.string({ maxLength: 400 }),
      (s) => parseTopic(s) === null || typeof parseTopic(s)?.lotId === 'string',
    ),
  );
  t.pass('no throw');
});

t.test('lot config applies policy defaults and refuses bad fields by name', async (t) => {
  const lot = LotConfigSchema.parse({
    id: 'lot-a',
    name: 'Lot A',
    timeZone: 'Europe/Berlin',
    location: { lat: 52.5, lng: 13.4 },
    rates: { currency: 'EUR', hourlyRate: 400 },
    spots: [{ id: 's1', label: 'A-1', type: 'car', pool: 'bookable' }],
  });
  t.equal(lot.policy.holdMinutes, 15);
  t.equal(lot.policy.antiPassback, 'hard');
  t.equal(lot.rates.dailyMax, null);
  const bad = LotConfigSchema.safeParse({ ...lot, rates: { currency: 'euro', hourlyRate: 1.5 } });
  t.notOk(bad.success);
  if (!bad.success)
    t.match(
      bad.error.issues.map((i) => i.path.join('.')),
      ['rates.currency', 'rates.hourlyRate'],
    );
});
