import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import {
  MemoryCredentialStore,
  createCloudCredentials,
  createLotCredentials,
} from '../cloud/broker/credentials.js';
import type { BrokerCredentials } from '../cloud/broker/credentials.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../cloud/broker/embedded.js';
import { type Cloud, createCloud } from '../cloud/compose.js';
import { loadConfig } from '../cloud/config.js';
import { createEdge, type Edge } from '../edge/app.js';
import { parseEdgeConfig } from '../edge/config.js';
import type { SimLaneControl } from '../hardware-sim/lane.js';
import { systemClock } from '../protocol/clock.js';
import type { ConnectivityState } from '../protocol/mqtt.js';
import type { Logger } from '../protocol/logger.js';
import { cryptoRandom, seededRandom } from '../protocol/random.js';
import { CloudApi, CloudApiError } from './cloud-api.js';
import { type CloudSyncHandle, cloudSyncHandle } from './cloud-sync.js';
import { LinkRelay, targetOf } from './link.js';
import { DEMO_CLOUD_ACCOUNTS, DEMO_LOTS, type DemoLot } from './lots.js';
import { DemoTraffic, type TrafficEvent, type TrafficOptions } from './traffic.js';

/**
 * The whole parkedge system in one process, as `npm start` runs it and the browser test boots it:
 * MQTT broker (embedded aedes unless MQTT_URL), cloud (PGlite in the data folder unless DATABASE_URL)
 * with its sync engine, the demo lots on simulated hardware — each behind its own link relay so its
 * internet link can be cut — seeded accounts, and the traffic generator.
 *
 * Ports: portBase = cloud, +1.. = the lots' attendant UIs, +N+1 = embedded broker. 0 = free ports.
 */

export interface SystemOptions {
  dataDir: string;
  /** 0: every service on a free port. */
  portBase: number;
  lots?: readonly DemoLot[];
  /** Start the traffic generator (it always exists, for /demo/arrive). Default true. */
  traffic?: boolean;
  seed?: number;
  /** Traffic pace (defaults in demo/traffic.ts). */
  trafficPace?: Pick<TrafficOptions, 'meanGapMs' | 'stayMs' | 'patienceMs'>;
  /** Component log level; logs go to <data>/demo.log unless `logger` is given. */
  logLevel?: string;
  logger?: Logger;
  /** Where DATABASE_URL and MQTT_URL come from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  onProgress?: (message: string) => void;
  onTraffic?: (event: TrafficEvent) => void;
  onConnectivity?: (lotId: string, state: ConnectivityState, since: string) => void;
}

export interface DemoLotRuntime {
  def: DemoLot;
  edge: Edge;
  /** The lot's internet link (a TCP relay to the broker). */
  link: LinkRelay;
  uiUrl: string;
  sims: ReadonlyMap<string, SimLaneControl>;
  entry: SimLaneControl;
  exit: SimLaneControl;
}

export interface DemoSystem {
  cloud: Cloud;
  cloudUrl: string;
  docsUrl: string;
  database: 'pglite' | 'postgres';
  broker: { url: string; kind: 'embedded' | 'external' };
  /** null when the cloud's sync engine could not be started (lots then stay offline, and say so). */
  cloudSync: CloudSyncHandle | null;
  lots: Map<string, DemoLotRuntime>;
  traffic: DemoTraffic;
  logger: Logger;
  logFile: string | null;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** A secret kept in the data folder, so restarts keep attendant sessions valid. */
async function keptSecret(path: string): Promise<string> {
  try {
    const s = (await readFile(path, 'utf8')).trim();
    if (s.length >= 32) return s;
  } catch {
    /* first start */
  }
  const s = randomBytes(32).toString('hex');
  await writeFile(path, `${s}\n`, { mode: 0o600 });
  return s;
}

function lotEnvKey(lotId: string): string {
  return lotId.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export async function startSystem(options: SystemOptions): Promise<DemoSystem> {
  const env = options.env ?? process.env;
  const dataDir = resolve(options.dataDir);
  const lotDefs = options.lots ?? DEMO_LOTS;
  const progress = options.onProgress ?? (() => {});
  await mkdir(dataDir, { recursive: true });

  let logFile: string | null = null;
  let logger: Logger;
  if (options.logger) {
    logger = options.logger;
  } else {
    logFile = join(dataDir, 'demo.log');
    logger = pino(
      { level: options.logLevel ?? 'info' },
      pino.destination({ dest: logFile, sync: true, mkdir: true }),
    ) as unknown as Logger;
  }

  // Everything started so far, stopped in reverse order if a later step fails.
  const undo: Array<() => Promise<void>> = [];
  const unwind = async () => {
    for (const fn of undo.reverse())
      await fn().catch((err: unknown) => logger.error({ err }, 'stop step failed'));
  };

  try {
    // ---- broker --------------------------------------------------------------------------------
    const cloudCreds: BrokerCredentials = env.MQTT_URL
      ? { username: env.MQTT_USERNAME ?? '', password: env.MQTT_PASSWORD ?? '' }
      : createCloudCredentials();
    const lotCreds = new Map<string, BrokerCredentials>(
      lotDefs.map((l) => [
        l.id,
        env.MQTT_URL
          ? { username: l.id, password: env[`MQTT_LOT_PASSWORD_${lotEnvKey(l.id)}`] ?? '' }
          : createLotCredentials(l.id),
      ]),
    );
    let brokerUrl: string;
    let brokerKind: 'embedded' | 'external';
    if (env.MQTT_URL) {
      brokerUrl = env.MQTT_URL;
      brokerKind = 'external';
      progress(`broker: ${brokerUrl} (MQTT_URL)`);
    } else {
      const credentials = await MemoryCredentialStore.fromCredentials([cloudCreds, ...lotCreds.values()]);
      const brokerPort = options.portBase ? options.portBase + lotDefs.length + 1 : 0;
      const broker: EmbeddedBroker = await startEmbeddedBroker({
        credentials,
        logger: logger.child({ component: 'broker' }),
        port: brokerPort,
      });
      undo.push(() => broker.close());
      brokerUrl = broker.url;
      brokerKind = 'embedded';
      progress(`broker: embedded aedes on ${brokerUrl}`);
    }

    // ---- cloud ---------------------------------------------------------------------------------
    const cloudPort = options.portBase || (await freePort());
    const database: 'pglite' | 'postgres' = env.DATABASE_URL ? 'postgres' : 'pglite';
    progress(
      database === 'postgres'
        ? 'cloud: connecting to PostgreSQL (DATABASE_URL), applying migrations…'
        : `cloud: starting PostgreSQL in process (PGlite, ${join(dataDir, 'cloud-pg')}), applying migrations…`,
    );
    const cloudConfig = await loadConfig({
      ...(env.DATABASE_URL ? { DATABASE_URL: env.DATABASE_URL } : {}),
      PGLITE_DIR: join(dataDir, 'cloud-pg'),
      DATA_DIR: join(dataDir, 'cloud'),
      HOST: '127.0.0.1',
      PORT: String(cloudPort),
      PUBLIC_URL: `http://127.0.0.1:${cloudPort}`,
      LOG_LEVEL: (options.logLevel ?? 'info') as string,
      ADMIN_EMAIL: DEMO_CLOUD_ACCOUNTS.admin.email,
      ADMIN_PASSWORD: DEMO_CLOUD_ACCOUNTS.admin.password,
      SYNC: 'true',
      MQTT_URL: brokerUrl,
      MQTT_USERNAME: cloudCreds.username,
      MQTT_PASSWORD: cloudCreds.password,
      MQTT_INSTANCE_ID: 'demo-cloud',
      MQTT_SHARED_SUBSCRIPTION: brokerKind === 'external' ? 'true' : 'false',
    });
    const cloud = await createCloud(cloudConfig, { logger: logger.child({ component: 'cloud' }) });
    undo.push(() => cloud.close());
    await cloud.app.listen({ host: '127.0.0.1', port: cloudPort });
    const cloudUrl = `http://127.0.0.1:${cloudPort}`;
    progress(`cloud: API on ${cloudUrl}`);

    // The cloud runs its own sync engine against the demo's broker (cloud/compose.ts).
    const cloudSync = cloudSyncHandle(cloud, logger.child({ component: 'cloud-sync' }));
    progress(
      cloudSync
        ? 'cloud: sync engine connected to the broker'
        : 'cloud: sync engine NOT running — the lots will stay offline (see demo.log)',
    );

    // ---- seed accounts and lots through the public API ----------------------------------------
    const admin = new CloudApi(cloudUrl);
    await admin.login(DEMO_CLOUD_ACCOUNTS.admin.email, DEMO_CLOUD_ACCOUNTS.admin.password);
    const ignoreExisting = (err: unknown) => {
      if (err instanceof CloudApiError && err.status === 409) return null;
      throw err;
    };
    for (const def of lotDefs) {
      await admin
        .request('POST', '/v1/lots', {
          id: def.id,
          name: def.name,
          timeZone: def.timeZone,
          location: def.location,
          rates: def.rates,
          policy: def.policy,
          spots: def.spots,
        })
        .catch(ignoreExisting);
    }
    const lotIds = lotDefs.map((l) => l.id);
    await admin
      .request('POST', '/v1/users', { ...DEMO_CLOUD_ACCOUNTS.operator, role: 'operator', lotIds })
      .catch(ignoreExisting);
    await admin
      .request('POST', '/v1/users', { ...DEMO_CLOUD_ACCOUNTS.driver, role: 'driver', lotIds: [] })
      .catch(ignoreExisting);
    const { keys } = await admin.request<{ keys: unknown[] }>('GET', '/v1/keys');
    cloudSync?.lotsChanged(lotIds);
    progress(`cloud: seeded ${lotDefs.length} lots and the admin, operator and driver accounts`);

    // ---- lots ----------------------------------------------------------------------------------
    const lots = new Map<string, DemoLotRuntime>();
    const random = seededRandom(options.seed ?? 1);
    for (const [i, def] of lotDefs.entries()) {
      const link = await new LinkRelay(targetOf(brokerUrl)).start();
      undo.push(() => link.close());
      const creds = lotCreds.get(def.id)!;
      const config = parseEdgeConfig(
        {
          lotId: def.id,
          dbPath: join(dataDir, `edge-${def.id}.sqlite`),
          lot: {
            id: def.id,
            name: def.name,
            timeZone: def.timeZone,
            location: def.location,
            rates: def.rates,
            policy: def.policy,
            spots: def.spots,
          },
          publicKeys: keys,
          lanes: def.lanes.map((l) => ({ id: l.id, direction: l.direction, devices: 'sim' })),
          attendant: {
            host: '127.0.0.1',
            port: options.portBase ? options.portBase + 1 + i : 0,
            jwtSecret: await keptSecret(join(dataDir, `edge-${def.id}.jwt-secret`)),
            accounts: [def.attendant],
          },
          mqtt: {
            url: link.url,
            ...(creds.username ? { username: creds.username } : {}),
            ...(creds.password ? { password: creds.password } : {}),
          },
          logLevel: options.logLevel ?? 'info',
        },
        { source: `demo lot ${def.id}` },
      );
      const edge = await createEdge(config, {
        clock: systemClock,
        random: cryptoRandom(),
        logger: logger.child({ component: 'edge', lotId: def.id }),
      });
      undo.push(() => edge.stop());
      edge.connectivity.onChange((state, sinceMs) =>
        options.onConnectivity?.(def.id, state, new Date(sinceMs).toISOString()),
      );
      await edge.start();
      const uiUrl = edge.url()!.replace('://localhost', '://127.0.0.1');
      const entryId = def.lanes.find((l) => l.direction === 'entry')!.id;
      const exitId = def.lanes.find((l) => l.direction === 'exit')!.id;
      lots.set(def.id, {
        def,
        edge,
        link,
        uiUrl,
        sims: edge.sims,
        entry: edge.sims.get(entryId)!,
        exit: edge.sims.get(exitId)!,
      });
      progress(
        `lot ${def.id}: ${def.spots.length} spots, lanes ${def.lanes.map((l) => l.id).join(' + ')}, attendant UI on ${uiUrl}`,
      );
    }

    // ---- traffic -------------------------------------------------------------------------------
    const traffic = new DemoTraffic({
      cloudUrl,
      lots: [...lots.values()].map((l) => ({
        lotId: l.def.id,
        name: l.def.name,
        entry: l.entry,
        exit: l.exit,
        knowsReservation: (id: string) => l.edge.store.reservationById(id) !== undefined,
      })),
      random,
      logger: logger.child({ component: 'traffic' }),
      driver: DEMO_CLOUD_ACCOUNTS.driver,
      ...options.trafficPace,
      ...(options.onTraffic ? { onEvent: options.onTraffic } : {}),
    });
    undo.push(() => traffic.stop());
    if (options.traffic !== false) {
      traffic.start();
      progress(`traffic: generator running (seed ${options.seed ?? 1})`);
    }

    let stopping: Promise<void> | null = null;
    return {
      cloud,
      cloudUrl,
      docsUrl: `${cloudUrl}/docs`,
      database,
      broker: { url: brokerUrl, kind: brokerKind },
      cloudSync,
      lots,
      traffic,
      logger,
      logFile,
      stop() {
        stopping ??= unwind();
        return stopping;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
