import fc from 'fast-check';
import t from 'tap';
import {
  type BrokerAccount,
  CLOUD_USERNAME,
  accountFromUsername,
  canPublish,
  canRead,
  canSubscribe,
  filterIsWithin,
  isValidLotId,
  isValidTopicFilter,
  lotUsername,
  splitSharedSubscription,
  topicMatchesFilter,
} from '../acl.js';
import { DOWN_CHANNELS, UP_CHANNELS, topics } from '../mqtt.js';

const lotA = accountFromUsername('lot-A')!;
const lotB = accountFromUsername('lot-B')!;
const cloud = accountFromUsername('cloud')!;

t.test('accountFromUsername maps the username scheme', async (t) => {
  t.same(accountFromUsername('cloud'), { kind: 'cloud', username: 'cloud' });
  t.same(accountFromUsername('lot-A'), { kind: 'lot', username: 'lot-A', lotId: 'lot-A' });
  t.same(accountFromUsername('L_42'), { kind: 'lot', username: 'L_42', lotId: 'L_42' });
  for (const bad of [
    undefined,
    null,
    '',
    'a/b',
    'a+b',
    'a#',
    '..',
    'lot A',
    'x'.repeat(65),
    'lot\u0000A',
    'ünï',
    '$SYS',
  ])
    t.equal(accountFromUsername(bad), null, `refuses ${JSON.stringify(bad)}`);
  t.equal(lotUsername('lot-7'), 'lot-7');
  t.throws(() => lotUsername(CLOUD_USERNAME), RangeError, 'cloud is reserved as a lot id');
  t.throws(() => lotUsername('a/b'), RangeError);
  t.notOk(isValidLotId('cloud'));
});

t.test('a lot publishes only its own up/ topics', async (t) => {
  for (const ch of UP_CHANNELS) t.ok(canPublish(lotA, topics.up('lot-A', ch)), `own up/${ch}`);
  t.ok(canPublish(lotA, 'parkedge/v1/lot/lot-A/up'), '# also covers the parent level, as in MQTT');
  for (const ch of UP_CHANNELS) t.notOk(canPublish(lotA, topics.up('lot-B', ch)), `lot B up/${ch}`);
  for (const ch of DOWN_CHANNELS) t.notOk(canPublish(lotA, topics.down('lot-A', ch)), `own down/${ch}`);
  for (const topic of [
    'parkedge/v1/lot/lot-A/upx/events',
    'parkedge/v1/lot/lot-AB/up/events',
    'parkedge/v1/lot/lot-A/../lot-B/up/events',
    'parkedge/v1/lot/../lot-B/up/events',
    'parkedge/v2/lot/lot-A/up/events',
    '/parkedge/v1/lot/lot-A/up/events',
    'parkedge/v1/lot/lot-A/up/#',
    'parkedge/v1/lot/lot-A/up/+',
    'parkedge/v1/lot/+/up/events',
    `parkedge/v1/lot/lot-A/up/${'x'.repeat(300)}`,
    'parkedge/v1/lot/lot-A/up/ev\u0000ents',
    'parkedge/v1/lot/lot-A/up/\uD800',
    '$SYS/broker/x',
    '',
  ])
    t.notOk(canPublish(lotA, topic), `refuses ${JSON.stringify(topic.slice(0, 60))}`);
});

t.test('a lot subscribes only within its own down/', async (t) => {
  t.ok(canSubscribe(lotA, topics.lotDownFilter('lot-A')));
  t.ok(canSubscribe(lotA, topics.down('lot-A', 'changes')));
  t.ok(canSubscribe(lotA, 'parkedge/v1/lot/lot-A/down/+'));
  t.ok(canSubscribe(lotA, 'parkedge/v1/lot/lot-A/down'));
  for (const filter of [
    '#',
    '+',
    '+/#',
    '+/+/+/+/+/+',
    '+/+/+/lot-A/down/#',
    'parkedge/#',
    'parkedge/v1/#',
    'parkedge/v1/lot/#',
    'parkedge/v1/lot/+/down/#',
    'parkedge/v1/lot/+/#',
    'parkedge/v1/lot/lot-A/#',
    'parkedge/v1/lot/lot-A/+/#',
    'parkedge/v1/lot/lot-A/+/changes',
    'parkedge/+/lot/lot-A/down/#',
    'parkedge/v1/lot/lot-B/down/#',
    'parkedge/v1/lot/lot-B/down/changes',
    'parkedge/v1/lot/lot-A/up/#',
    'parkedge/v1/lot/lot-A/../lot-B/down/#',
    '$share/x/parkedge/v1/lot/lot-A/down/#',
    '$share/x/#',
    '$SYS/#',
    '$SYS/broker/clients/connected',
    'parkedge/v1/lot/lot-A/down/#/x',
    'parkedge/v1/lot/lot-A/down/x#',
    'parkedge/v1/lot/lot-A/down/x+',
    `parkedge/v1/lot/lot-A/down/${'a/'.repeat(200)}#`,
    'parkedge/v1/lot/lot-A/down/\u0000',
    '',
  ])
    t.notOk(canSubscribe(lotA, filter), `refuses ${JSON.stringify(filter.slice(0, 60))}`);
});

t.test('the cloud publishes down/ and reads up/, shared or not', async (t) => {
  for (const ch of DOWN_CHANNELS) t.ok(canPublish(cloud, topics.down('lot-A', ch)), `down/${ch}`);
  for (const ch of UP_CHANNELS) t.notOk(canPublish(cloud, topics.up('lot-A', ch)), `not up/${ch}`);
  t.ok(canSubscribe(cloud, topics.cloudUpFilter()));
  t.ok(canSubscribe(cloud, topics.cloudUpShared()));
  t.ok(canSubscribe(cloud, topics.cloudUpShared('instances-eu')));
  t.ok(canSubscribe(cloud, 'parkedge/v1/lot/+/up/events'));
  t.ok(canSubscribe(cloud, 'parkedge/v1/lot/lot-A/up/#'));
  for (const filter of [
    '#',
    'parkedge/v1/lot/#',
    'parkedge/v1/lot/+/#',
    'parkedge/v1/lot/+/+/#',
    'parkedge/v1/lot/+/down/#',
    '$share/cloud/#',
    '$share/cloud/parkedge/v1/lot/+/down/#',
    '$share//parkedge/v1/lot/+/up/#',
    '$share/a+b/parkedge/v1/lot/+/up/#',
    '$share/cloud',
    '$SYS/#',
  ])
    t.notOk(canSubscribe(cloud, filter), `refuses ${filter}`);
  t.ok(canRead(cloud, topics.up('lot-A', 'events')));
  t.notOk(canRead(cloud, topics.down('lot-A', 'changes')));
});

t.test('the reserved lot id "cloud" is nobody\'s', async (t) => {
  t.notOk(canPublish(cloud, 'parkedge/v1/lot/cloud/down/changes'));
  t.notOk(canPublish(cloud, 'parkedge/v1/lot/cloud/up/events'));
  t.notOk(canRead(cloud, 'parkedge/v1/lot/cloud/up/events'));
  t.notOk(canRead(cloud, 'parkedge/v1/lot/cloud/down/changes'));
});

t.test('nobody else gets anything', async (t) => {
  for (const account of [null, accountFromUsername('a/b'), accountFromUsername('')]) {
    t.notOk(canPublish(account, topics.up('lot-A', 'events')));
    t.notOk(canSubscribe(account, topics.lotDownFilter('lot-A')));
    t.notOk(canRead(account, topics.down('lot-A', 'changes')));
  }
});

t.test('MQTT filter helpers', async (t) => {
  t.ok(topicMatchesFilter('a/#', 'a'));
  t.ok(topicMatchesFilter('a/+/c', 'a//c'), '+ matches an empty level');
  t.notOk(topicMatchesFilter('#', '$SYS/x'), 'wildcards never match $ topics');
  t.notOk(topicMatchesFilter('+/x', '$SYS/x'));
  t.ok(topicMatchesFilter('$SYS/#', '$SYS/x'));
  t.notOk(topicMatchesFilter('a/b', 'a/b/c'));
  t.ok(filterIsWithin('a/b/c', 'a/+/c'));
  t.ok(filterIsWithin('a/+/c', 'a/+/#'));
  t.notOk(filterIsWithin('a/#', 'a/+'));
  t.notOk(filterIsWithin('a/+', 'a/b'));
  t.ok(filterIsWithin('a', 'a/#'));
  t.notOk(isValidTopicFilter('a/#/b'));
  t.notOk(isValidTopicFilter('a/b+'));
  t.same(splitSharedSubscription('$share/g/a/b'), { group: 'g', filter: 'a/b' });
  t.equal(splitSharedSubscription('$share/g'), null);
  t.equal(splitSharedSubscription('a/b'), null);
});

// Property: a filter the rule lets through never reaches a topic the account may not read, and
// filterIsWithin agrees with topic matching on every generated topic.
const level = fc.constantFrom(
  'parkedge',
  'v1',
  'lot',
  'lot-A',
  'lot-B',
  'cloud',
  'up',
  'down',
  'changes',
  '',
  'x',
);
const topicArb = fc.array(level, { minLength: 1, maxLength: 8 }).map((l) => l.join('/'));
const randomFilterArb = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 0, maxLength: 7 }), fc.boolean())
  .map(([l, hash]) => [...l, ...(hash || l.length === 0 ? ['#'] : [])].join('/'));
// Mutations of real grants, so that many generated filters are close to the boundary.
const nearGrantArb = fc
  .tuple(
    fc.constantFrom('parkedge/v1/lot/lot-A/down/changes', 'parkedge/v1/lot/lot-B/up/events'),
    fc.array(fc.oneof({ arbitrary: fc.constant('keep'), weight: 12 }, fc.constant('+'), level), {
      minLength: 6,
      maxLength: 6,
    }),
    fc.integer({ min: 1, max: 6 }),
    fc.boolean(),
  )
  .map(([base, edits, cut, hash]) => {
    const levels = base
      .split('/')
      .map((l, i) => (edits[i] === 'keep' ? l : edits[i]!))
      .slice(0, cut);
    return [...levels, ...(hash ? ['#'] : [])].join('/');
  });
const filterArb = fc.oneof(randomFilterArb, nearGrantArb);
const accountArb = fc.constantFrom<BrokerAccount>(lotA, lotB, cloud);

t.test('property: allowed filters stay within the read grant', async (t) => {
  let allowed = 0;
  fc.assert(
    fc.property(accountArb, filterArb, fc.array(topicArb, { maxLength: 30 }), (account, filter, sample) => {
      if (!canSubscribe(account, filter)) return;
      allowed++;
      for (const topic of [...sample, filter.replaceAll('+', 'lot-B').replace(/\/?#$/, '')])
        if (topicMatchesFilter(filter, topic) && !topic.startsWith('parkedge/v1/lot/cloud/'))
          if (!canRead(account, topic)) throw new Error(`${filter} reaches ${topic}`);
    }),
    { numRuns: 3000, seed: 42 },
  );
  t.ok(allowed > 50, `${allowed} allowed filters checked`);
});

t.test('property: filterIsWithin is sound against topic matching', async (t) => {
  fc.assert(
    fc.property(filterArb, filterArb, fc.array(topicArb, { maxLength: 30 }), (f, g, sample) => {
      if (!filterIsWithin(f, g)) return;
      for (const topic of sample)
        if (topicMatchesFilter(f, topic) && !topicMatchesFilter(g, topic))
          throw new Error(`${f} within ${g} but ${topic}`);
    }),
    { numRuns: 3000, seed: 7 },
  );
  t.pass('sound');
});
