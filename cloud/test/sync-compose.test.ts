import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { decodeMessage, topics } from '../../protocol/mqtt.js';
import { provisionLotAccount } from '../broker/accounts.js';
import { createCloud } from '../compose.js';
import { ephemeralConfig } from '../config.js';

/**
 * `npm run cloud` without MQTT_URL: the cloud runs its own broker and sync engine; a lot account
 * provisioned into the data folder afterwards can connect at once and receives its configuration.
 */
t.test('the cloud process runs broker + sync; a provisioned lot gets its config', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-cloud-sync-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const accountsFile = join(dir, 'broker-accounts');
  const cloud = await createCloud(
    ephemeralConfig({
      sync: {
        brokerUrl: null,
        embedded: { host: '127.0.0.1', port: 0, accountsFile },
        username: 'cloud',
        password: 'cloud-password-for-tests',
        instanceId: 'test-cloud',
        sharedSubscription: false,
      },
    }),
    { logger: silentLogger() },
  );
  t.teardown(() => cloud.close());
  t.ok(cloud.sync?.embedded, 'embedded broker started');
  const brokerUrl = cloud.sync!.brokerUrl;

  // Fleet routes are live (not 503) once sync runs.
  const login = await cloud.app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    payload: { email: 'admin@parkedge.test', password: 'admin-password-for-tests' },
  });
  const token = login.json<{ accessToken: string }>().accessToken;
  const fleet = await cloud.app.inject({
    method: 'GET',
    url: '/v1/fleet',
    headers: { authorization: `Bearer ${token}` },
  });
  t.equal(fleet.statusCode, 200, 'fleet API answers');

  const lot = await cloud.app.inject({
    method: 'POST',
    url: '/v1/lots',
    headers: { authorization: `Bearer ${token}` },
    payload: {
      id: 'lot-x',
      name: 'Lot X',
      timeZone: 'Europe/Berlin',
      location: { lat: 52.5, lng: 13.4 },
      rates: { currency: 'EUR', hourlyRate: 400 },
      spots: [{ id: 's1', label: 'A-1', type: 'car', pool: 'bookable' }],
    },
  });
  t.equal(lot.statusCode, 201, 'lot created');
  const lotId = lot.json<{ id: string }>().id;

  // An unknown lot cannot connect; after provisioning (another process writes the file) it can.
  const refused = await connect(brokerUrl, lotId, 'wrong');
  t.equal(refused, 'refused');
  const creds = await provisionLotAccount(accountsFile, lotId);
  const client = await connect(brokerUrl, creds.username, creds.password);
  t.not(client, 'refused');
  if (client === 'refused') return;
  t.teardown(() => client.endAsync());
  const config = new Promise<unknown>((resolve) => {
    client.on('message', (topic, payload) => {
      const d = decodeMessage(topic, payload);
      if (d.ok && d.value.channel === 'config') resolve(d.value.message.body.lot.id);
    });
  });
  await client.subscribeAsync(topics.lotDownFilter(lotId), { qos: 1 });
  await cloud.sync!.engine.configChanged(lotId);
  t.equal(await withTimeout(config, 10_000), lotId, 'the lot receives its retained configuration');
});

async function connect(url: string, username: string, password: string) {
  try {
    return await mqtt.connectAsync(url, {
      username,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
  } catch {
    return 'refused' as const;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
  ]).finally(() => clearTimeout(timer));
}
