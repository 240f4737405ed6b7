import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import t from 'tap';
import {
  type BrokerCredentials,
  MemoryCredentialStore,
  createCloudCredentials,
  createLotCredentials,
} from '../cloud/broker/credentials.js';
import {
  type BrokerKind,
  type EmbeddedBroker,
  cloudUpSubscription,
  startEmbeddedBroker,
  supportsSharedSubscriptions,
} from '../cloud/broker/embedded.js';
import { silentLogger } from '../protocol/logger.js';
import { MAX_PAYLOAD_BYTES, topics } from '../protocol/mqtt.js';
import { type MosquittoInstance, mosquittoSkip, startMosquitto } from './support/mosquitto.js';

/**
 * The broker security rule (protocol/acl.ts, deploy/mosquitto/acl) on both brokers the project
 * runs against, with the real mqtt client: the embedded aedes broker and a real Mosquitto
 * configured with the shipped files. "Never delivered" is proven with a barrier message that the
 * same subscriber does receive, published after the forbidden one was acknowledged end to end.
 */

const WAIT_MS = 5000;
const cloudAccount = createCloudCredentials();
const lotA = createLotCredentials('lot-A');
const lotB = createLotCredentials('lot-B');
const accounts = [cloudAccount, lotA, lotB];

interface BrokerUnderTest {
  kind: BrokerKind;
  url: string;
  embedded?: EmbeddedBroker;
  mosquitto?: MosquittoInstance;
  close(): Promise<void>;
}

let clientSeq = 0;
async function connect(
  broker: BrokerUnderTest,
  account: Partial<BrokerCredentials>,
  extra: IClientOptions = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(broker.url, {
    username: account.username,
    password: account.password,
    clientId: `${account.username ?? 'anon'}-test-${++clientSeq}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: WAIT_MS,
    ...extra,
  });
  client.on('error', () => {}); // errors surface through the awaited calls and close events
  return client;
}

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  client: MqttClient;
}

/** Records every message of the clients; `until` waits (bounded) for one that satisfies the predicate. */
function recorder(...clients: MqttClient[]) {
  const messages: Received[] = [];
  const waiters: Array<{ match: (m: Received) => boolean; resolve: () => void }> = [];
  const onMessage = (client: MqttClient) => (topic: string, payload: Buffer, packet: { retain: boolean }) => {
    const m = { topic, payload: payload.toString(), retain: packet.retain, client };
    messages.push(m);
    for (const w of [...waiters])
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  };
  for (const client of clients) client.on('message', onMessage(client));
  return {
    messages,
    until(match: (m: Received) => boolean, what: string): Promise<void> {
      if (messages.some(match)) return Promise.resolve();
      return bounded(new Promise<void>((resolve) => waiters.push({ match, resolve })), what);
    },
  };
}

/** The promise, or a rejection after `ms`. */
function bounded<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the SUBACK code: the granted QoS, or 128 (0x80) when refused. */
function subscribeCode(client: MqttClient, filter: string): Promise<number> {
  return bounded(
    new Promise<number>((resolve) =>
      client.subscribe(filter, { qos: 1 }, (_err, _granted, packet) => {
        const code = packet?.granted[0];
        resolve(typeof code === 'number' ? code : -1);
      }),
    ),
    `SUBACK for ${filter}`,
  );
}

function connectError(promise: Promise<MqttClient>): Promise<number | string> {
  return promise.then(
    (c) => {
      c.end(true);
      return 'connected';
    },
    (error: { code?: number; message: string }) => error.code ?? error.message,
  );
}

function closed(client: MqttClient): Promise<void> {
  return client.disconnected || !client.connected
    ? Promise.resolve()
    : bounded(
        new Promise<void>((resolve) => client.once('close', () => resolve())),
        'the broker to close the connection',
      );
}

function suite(name: string, setup: () => Promise<BrokerUnderTest>, skip: string | false = false) {
  t.test(name, { skip }, async (t) => {
    const broker = await setup();
    const clients: MqttClient[] = [];
    const open = async (account: Partial<BrokerCredentials>, extra?: IClientOptions) => {
      const c = await connect(broker, account, extra);
      clients.push(c);
      return c;
    };
    t.teardown(async () => {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await broker.close();
    });

    t.test('lot A publishes its up/ and receives its down/', async (t) => {
      const cloud = await open(cloudAccount);
      const edge = await open(lotA);
      const atCloud = recorder(cloud);
      const atEdge = recorder(edge);
      t.equal(await subscribeCode(cloud, topics.cloudUpFilter()), 1);
      t.equal(await subscribeCode(edge, topics.lotDownFilter('lot-A')), 1);
      await edge.publishAsync(topics.up('lot-A', 'events'), 'event-1', { qos: 1 });
      await atCloud.until((m) => m.payload === 'event-1', 'the event at the cloud');
      await cloud.publishAsync(topics.down('lot-A', 'changes'), 'change-1', { qos: 1 });
      await atEdge.until((m) => m.payload === 'change-1', 'the change at the edge');
      t.same(
        atEdge.messages.map((m) => m.topic),
        [topics.down('lot-A', 'changes')],
      );
    });

    t.test("lot A cannot read lot B's down/", async (t) => {
      const cloud = await open(cloudAccount);
      const edgeA = await open(lotA);
      const edgeB = await open(lotB);
      const atA = recorder(edgeA);
      const atB = recorder(edgeB);
      const bDown = topics.lotDownFilter('lot-B');
      const code = await subscribeCode(edgeA, bDown);
      // Mosquitto 2's acl_file grants every SUBSCRIBE and filters deliveries; the embedded broker refuses.
      if (broker.kind === 'aedes') t.equal(code, 128, 'SUBACK 0x80');
      else t.equal(code, 1, 'Mosquitto grants the SUBSCRIBE, then withholds every message');
      await edgeA.subscribeAsync(topics.lotDownFilter('lot-A'), { qos: 1 });
      await edgeB.subscribeAsync(bDown, { qos: 1 });
      await cloud.publishAsync(topics.down('lot-B', 'changes'), 'for-B', { qos: 2 });
      await cloud.publishAsync(topics.down('lot-A', 'changes'), 'barrier-A', { qos: 2 });
      await atA.until((m) => m.payload === 'barrier-A', 'the barrier at lot A');
      await atB.until((m) => m.payload === 'for-B', "lot B's own change");
      t.same(
        atA.messages.map((m) => m.payload),
        ['barrier-A'],
        "lot A never sees lot B's change",
      );
    });

    t.test("lot A cannot publish lot B's up/ nor any down/", async (t) => {
      const cloud = await open(cloudAccount);
      const edgeA = await open(lotA);
      const edgeB = await open(lotB);
      const atCloud = recorder(cloud);
      const atB = recorder(edgeB);
      await cloud.subscribeAsync(topics.cloudUpFilter(), { qos: 1 });
      await edgeB.subscribeAsync(topics.lotDownFilter('lot-B'), { qos: 1 });
      const deniedBefore = broker.embedded?.deniedPublishes ?? 0;
      await edgeA.publishAsync(topics.up('lot-B', 'events'), 'forged-up', { qos: 2 });
      await edgeA.publishAsync(topics.down('lot-B', 'command'), 'forged-down', { qos: 2 });
      await edgeA.publishAsync(topics.down('lot-A', 'changes'), 'forged-own-down', { qos: 2 });
      await edgeA.publishAsync('$SYS/broker/forged', 'forged-sys', { qos: 1 });
      t.ok(edgeA.connected, 'a refused publish is dropped, the client stays connected');
      await edgeA.publishAsync(topics.up('lot-A', 'events'), 'barrier-up', { qos: 2 });
      await cloud.publishAsync(topics.down('lot-B', 'changes'), 'barrier-down', { qos: 2 });
      await atCloud.until((m) => m.payload === 'barrier-up', 'the barrier at the cloud');
      await atB.until((m) => m.payload === 'barrier-down', 'the barrier at lot B');
      t.same(
        atCloud.messages.map((m) => m.payload),
        ['barrier-up'],
      );
      t.same(
        atB.messages.map((m) => m.payload),
        ['barrier-down'],
      );
      if (broker.embedded) t.equal(broker.embedded.deniedPublishes - deniedBefore, 4, 'counted');
    });

    t.test("a lot cannot plant a retained message in another lot's topic", async (t) => {
      const edgeA = await open(lotA);
      const edgeB = await open(lotB);
      await edgeB.publishAsync(topics.up('lot-B', 'status'), 'B-own', { qos: 1, retain: true });
      await edgeA.publishAsync(topics.up('lot-B', 'status'), 'A-forged', { qos: 2, retain: true });
      const cloud = await open(cloudAccount);
      const atCloud = recorder(cloud);
      await cloud.subscribeAsync(topics.up('lot-B', 'status'), { qos: 1 });
      await atCloud.until((m) => m.retain, 'the retained status');
      t.same(
        atCloud.messages.map((m) => m.payload),
        ['B-own'],
      );
      await edgeB.publishAsync(topics.up('lot-B', 'status'), '', { qos: 1, retain: true }); // clear it
    });

    t.test('hostile filters never widen a lot beyond its own down/', async (t) => {
      const cloud = await open(cloudAccount);
      const edgeA = await open(lotA);
      const edgeB = await open(lotB);
      const atA = recorder(edgeA);
      const hostile = [
        '#',
        '+/#',
        'parkedge/#',
        'parkedge/v1/lot/+/down/#',
        'parkedge/v1/lot/+/+/#',
        'parkedge/v1/lot/lot-A/#',
        '+/+/+/lot-B/down/#',
        '$share/x/parkedge/v1/lot/lot-B/down/#',
        '$SYS/#',
      ];
      for (const filter of hostile) {
        const code = await subscribeCode(edgeA, filter);
        if (broker.kind === 'aedes') t.equal(code, 128, `refused ${filter}`);
      }
      await cloud.publishAsync(topics.down('lot-B', 'changes'), 'B-down', { qos: 2 });
      await edgeB.publishAsync(topics.up('lot-B', 'events'), 'B-up', { qos: 2 });
      await edgeA.publishAsync(topics.up('lot-A', 'events'), 'A-up', { qos: 2 });
      await edgeA.subscribeAsync(topics.lotDownFilter('lot-A'), { qos: 1 });
      await cloud.publishAsync(topics.down('lot-A', 'changes'), 'barrier', { qos: 2 });
      await atA.until((m) => m.payload === 'barrier', 'the barrier');
      t.same(
        atA.messages.map((m) => m.payload),
        ['barrier'],
        "nothing of lot B's, nothing of its own up/, no $SYS",
      );
    });

    t.test('wrong password, unknown and anonymous clients are refused', async (t) => {
      t.equal(await connectError(connect(broker, { ...lotA, password: 'wrong' })), 5);
      t.equal(await connectError(connect(broker, { username: 'lot-A' })), 5, 'no password');
      t.equal(await connectError(connect(broker, { username: 'lot-C', password: lotA.password })), 5);
      t.equal(await connectError(connect(broker, {})), 5, 'anonymous');
      t.equal(await connectError(connect(broker, { username: 'lot-B', password: lotA.password })), 5);
      if (broker.embedded) t.ok(broker.embedded.deniedConnects >= 5);
    });

    t.test('an oversized payload is dropped and the broker keeps serving', async (t) => {
      const cloud = await open(cloudAccount);
      const edgeA = await open(lotA);
      const atCloud = recorder(cloud);
      await cloud.subscribeAsync(topics.cloudUpFilter(), { qos: 1 });
      // Just over the payload cap: dropped, the sender stays connected.
      await edgeA.publishAsync(topics.up('lot-A', 'events'), Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x61), {
        qos: 1,
      });
      t.ok(edgeA.connected);
      await edgeA.publishAsync(topics.up('lot-A', 'events'), 'after-big', { qos: 1 });
      await atCloud.until((m) => m.payload === 'after-big', 'the next message');
      t.same(
        atCloud.messages.map((m) => m.payload),
        ['after-big'],
      );
      if (broker.embedded) t.equal(broker.embedded.droppedOversize, 1);
      // Far over the packet limit: the sender is disconnected, everyone else carries on.
      const edgeB = await open(lotB);
      edgeB.publish(topics.up('lot-B', 'events'), Buffer.alloc(2 * 1024 * 1024, 0x62), { qos: 0 });
      await closed(edgeB);
      if (broker.embedded) t.equal(broker.embedded.oversizeDisconnects, 1);
      await edgeA.publishAsync(topics.up('lot-A', 'events'), 'still-serving', { qos: 1 });
      await atCloud.until((m) => m.payload === 'still-serving', 'a message after the disconnect');
      const again = await open(lotB);
      await again.publishAsync(topics.up('lot-B', 'events'), 'B-back', { qos: 1 });
      await atCloud.until((m) => m.payload === 'B-back', 'lot B back');
      t.notOk(
        atCloud.messages.some((m) => m.payload.length > 1000),
        'no oversized payload delivered',
      );
    });

    t.test('cloud instances share the up/ load where the broker can', async (t) => {
      const kind = broker.kind;
      t.equal(supportsSharedSubscriptions(kind), kind !== 'aedes');
      const first = await open(cloudAccount);
      const second = await open(cloudAccount);
      const edgeA = await open(lotA);
      if (!supportsSharedSubscriptions(kind)) {
        t.equal(
          await subscribeCode(first, topics.cloudUpShared()),
          128,
          'the embedded broker refuses $share',
        );
        t.equal(
          cloudUpSubscription(kind),
          topics.cloudUpFilter(),
          'the cloud falls back to the plain filter',
        );
        return;
      }
      t.equal(cloudUpSubscription(kind), topics.cloudUpShared());
      const group = recorder(first, second);
      await first.subscribeAsync(cloudUpSubscription(kind), { qos: 1 });
      await second.subscribeAsync(cloudUpSubscription(kind), { qos: 1 });
      const n = 20;
      for (let i = 0; i < n; i++) await edgeA.publishAsync(topics.up('lot-A', 'events'), `e${i}`, { qos: 1 });
      await group.until(() => group.messages.length >= n, `${n} events across the group`);
      const all = group.messages.map((m) => m.payload);
      t.equal(new Set(all).size, n, 'every event delivered');
      t.equal(all.length, n, 'and only once across the group');
      const toFirst = group.messages.filter((m) => m.client === first).length;
      t.ok(toFirst > 0 && toFirst < n, `split ${toFirst}/${n - toFirst}`);
    });
  });
}

suite('embedded aedes broker', async () => {
  const credentials = await MemoryCredentialStore.fromCredentials(accounts);
  const embedded = await startEmbeddedBroker({
    credentials,
    logger: silentLogger(),
    maxPayloadBytes: MAX_PAYLOAD_BYTES,
  });
  return { kind: 'aedes', url: embedded.url, embedded, close: () => embedded.close() };
});

const skipMosquitto = mosquittoSkip();
suite(
  'real Mosquitto with deploy/mosquitto',
  async () => {
    const mosquitto = await startMosquitto({ accounts });
    return { kind: 'mosquitto', url: mosquitto.url, mosquitto, close: () => mosquitto.close() };
  },
  skipMosquitto,
);

t.test(
  'Mosquitto restarts on the same port and keeps retained messages',
  { skip: skipMosquitto },
  async (t) => {
    const mosquitto = await startMosquitto({ accounts });
    t.teardown(() => mosquitto.close());
    const broker: BrokerUnderTest = { kind: 'mosquitto', url: mosquitto.url, close: async () => {} };
    const cloud = await connect(broker, cloudAccount);
    await cloud.publishAsync(topics.down('lot-A', 'config'), 'config-v1', { qos: 1, retain: true });
    await cloud.endAsync();
    await mosquitto.restart();
    t.ok(mosquitto.running);
    const edge = await connect(broker, lotA);
    const atEdge = recorder(edge);
    await edge.subscribeAsync(topics.lotDownFilter('lot-A'), { qos: 1 });
    await atEdge.until((m) => m.retain, 'the retained config after the restart');
    t.same(
      atEdge.messages.map((m) => m.payload),
      ['config-v1'],
    );
    await edge.endAsync();
    await mosquitto.restart({ signal: 'SIGKILL' });
    const again = await connect(broker, lotA);
    t.ok(again.connected, 'serves again after a crash');
    await again.endAsync();
  },
);
