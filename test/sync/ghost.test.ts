/**
 * Cloud restarts on a real Mosquitto (the project's mosquitto.conf and ACL): a cloud instance that comes
 * back under the same MQTT identity takes its session back, so the `$share/cloud` group holds no ghost
 * session and no lot request or event is handed to a subscriber nobody reads. Control: the old default
 * (a new id per process, MQTT 3.1.1 persistent session) loses requests after the same restarts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { deriveInstanceId, retirePreviousInstance } from '../../cloud/sync/identity.js';
import { MemorySyncStore } from '../../cloud/sync/memory-store.js';
import { systemClock } from '../../protocol/clock.js';
import { encodeMessage, topics } from '../../protocol/mqtt.js';
import { mosquittoSkip, startMosquitto } from '../support/mosquitto.js';
import { LOT_CONFIG, MemoryCloud, MemoryEdgeStore } from './support/fakes.js';
import { accounts, cloud, edge, logger, waitFor } from './support/harness.js';

const skip = mosquittoSkip();
const RESTARTS = 5;
const RETRANSMIT_MS = 10_000;
const REQUESTS = 12;

interface Outcome {
  overflowGranted: number;
  resyncAnswered: number;
  eventAckMs: number[];
}

/**
 * Starts a broker, an edge for lot A and a cloud instance under ids[0]; restarts the cloud under each
 * next id; then, with the last instance up, measures overflow requests (edge A), resync requests (a raw
 * client of lot B) and single gate events (edge A) one by one.
 */
async function afterRestarts(
  t: { teardown(fn: () => unknown): void },
  ids: readonly string[],
  opts: { sessionExpirySec?: number; retireDir?: string; events?: number },
): Promise<Outcome> {
  const A = `ga${process.pid}`;
  const B = `gb${process.pid}`;
  const acc = accounts([A, B]);
  const broker = await startMosquitto({ accounts: acc.all() });
  t.teardown(() => broker.close());
  const memCloud = new MemoryCloud();
  memCloud.setConfig(LOT_CONFIG(A));
  memCloud.setConfig(LOT_CONFIG(B));
  const store = new MemorySyncStore(systemClock);
  const sa = new MemoryEdgeStore();
  const ea = await edge(broker.url, acc, A, sa, { tuning: { retransmitAfterMs: RETRANSMIT_MS } });
  t.teardown(() => ea.stop());

  let current: Awaited<ReturnType<typeof cloud>> | null = null;
  for (const id of ids) {
    await current?.stop();
    if (opts.retireDir !== undefined)
      await retirePreviousInstance(
        opts.retireDir,
        id,
        { url: broker.url, username: acc.cloud.username, password: acc.cloud.password, protocolVersion: 5 },
        logger,
      );
    current = await cloud(
      broker.url,
      acc,
      {
        changeLog: memCloud,
        notifications: memCloud,
        config: memCloud,
        overflow: memCloud.overflowPort(),
        reservations: memCloud,
        store,
        effects: memCloud.effects(),
      },
      {
        instanceId: id,
        sharedSubscription: true,
        ...(opts.sessionExpirySec !== undefined ? { sessionExpirySec: opts.sessionExpirySec } : {}),
      },
    );
    const c = current;
    await waitFor(() => c.connected(), `cloud ${id} connected`);
  }
  const last = current!;
  t.teardown(() => last.stop());
  await waitFor(() => ea.connectivity() === 'online', 'edge A online');

  // Overflow requests from the edge: each answered within its deadline, or null.
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, (_, i) =>
      ea.requestOverflow({ plate: `GHOST${i}`, vehicleType: 'car', timeoutMs: 2000 }),
    ),
  );
  const overflowGranted = answers.filter((r) => r !== null).length;

  // Resync requests from lot B (a raw client with B's account): count the replies.
  const raw = await mqtt.connectAsync(broker.url, {
    username: acc.lots.get(B)!.username,
    password: acc.lots.get(B)!.password,
    clientId: `raw-${B}`,
  });
  t.teardown(() => raw.endAsync(true));
  const replied = new Set<string>();
  raw.on('message', (_topic, payload) => {
    const body = JSON.parse(payload.toString('utf8')).body as { correlationId?: string };
    if (body.correlationId) replied.add(body.correlationId);
  });
  await raw.subscribeAsync(topics.down(B, 'reply'), { qos: 1 });
  const now = new Date().toISOString();
  for (let i = 0; i < REQUESTS; i++)
    await raw.publishAsync(
      topics.up(B, 'request'),
      encodeMessage(
        'request',
        { kind: 'resync', correlationId: `rs-${i}`, fromSeq: 0 },
        { id: `q${i}`, sentAt: now },
      ),
      { qos: 1 },
    );
  await waitFor(() => replied.size === REQUESTS, 'resync replies', 3000).catch(() => {});
  const resyncAnswered = replied.size;

  // Gate events one at a time: how long until each is acknowledged.
  const eventAckMs: number[] = [];
  for (let i = 0; i < (opts.events ?? REQUESTS); i++) {
    const started = Date.now();
    sa.writeEvent({
      kind: 'tailgate',
      at: new Date().toISOString(),
      laneId: 'in-1',
      correlationId: null,
      sessionId: null,
    });
    ea.notifyEventsWritten();
    await waitFor(() => sa.outboxDepth() === 0, `event ${i} acknowledged`, RETRANSMIT_MS * 3);
    eventAckMs.push(Date.now() - started);
  }
  return { overflowGranted, resyncAnswered, eventAckMs };
}

t.test(
  `on Mosquitto: ${RESTARTS} cloud restarts under the derived id leave no ghost`,
  { skip },
  async (t) => {
    // The same instance (same host, same DATA_DIR) restarted: the id never changes.
    const id = deriveInstanceId({ hostname: `cloudhost-${process.pid}`, dataDir: '/srv/parkedge/cloud' });
    t.equal(
      deriveInstanceId({ hostname: `cloudhost-${process.pid}`, dataDir: '/srv/parkedge/cloud' }),
      id,
      'derivation is stable',
    );
    const o = await afterRestarts(t, Array(RESTARTS + 1).fill(id), { sessionExpirySec: 600 });
    t.equal(o.overflowGranted, REQUESTS, 'every overflow request answered (granted)');
    t.equal(o.resyncAnswered, REQUESTS, 'every resync request answered');
    const slowest = Math.max(...o.eventAckMs);
    t.ok(
      slowest < 2000,
      `every gate event acked promptly (slowest ${slowest} ms, retransmit after ${RETRANSMIT_MS})`,
    );
  },
);

t.test(
  'on Mosquitto: when the id changes, the previous id’s session is ended (retirePreviousInstance)',
  { skip },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'parkedge-ghost-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const ids = Array.from({ length: RESTARTS + 1 }, (_, i) => `renamed-${process.pid}-${i}`);
    const o = await afterRestarts(t, ids, { sessionExpirySec: 600, retireDir: dir });
    t.equal(o.overflowGranted, REQUESTS, 'every overflow request answered');
    t.equal(o.resyncAnswered, REQUESTS, 'every resync request answered');
    t.ok(Math.max(...o.eventAckMs) < 2000, 'every gate event acked promptly');
  },
);

t.test('on Mosquitto (control): a new id per restart without cleanup loses requests', { skip }, async (t) => {
  const ids = Array.from({ length: RESTARTS + 1 }, (_, i) => `pid-${process.pid}-${i}`);
  const o = await afterRestarts(t, ids, { events: 0 });
  t.ok(
    o.overflowGranted < REQUESTS && o.resyncAnswered < REQUESTS,
    `ghosts swallow requests (overflow ${o.overflowGranted}/${REQUESTS}, resync ${o.resyncAnswered}/${REQUESTS})`,
  );
});
