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
import { startDemoMail } from './mail.js';
import { createEdge, type Edge } from '../edge/app.js';
import { parseEdgeConfig } from '../edge/config.js';
import { simulatedLibraryDrivers } from '../edge/devices/factory.js';
import type { SimLaneControl } from '../hardware-sim/lane.js';
import { simLaneFactory } from '../hardware-sim/lot.js';
import { type Clock, systemClock } from '../protocol/clock.js';
import type { ConnectivityState } from '../protocol/mqtt.js';
import type { Logger } from '../protocol/logger.js';
import { cryptoRandom, seededRandom } from '../protocol/random.js';
import { CloudApi, CloudApiError } from './cloud-api.js';
import { seedOperator } from './operator.js';
import { type CloudSyncHandle, cloudSyncHandle } from './cloud-sync.js';
import { LinkRelay, targetOf } from './link.js';
import { DEMO_CLOUD_ACCOUNTS, DEMO_LOTS, type DemoLot } from './lots.js';
import { permitPlatesOf, seedPermits } from './permits.js';
import { DemoTraffic, type TrafficEvent, type TrafficOptions } from './traffic.js';
import { DEMO_MERCHANTS, DemoMerchant } from './validations.js';
import { AttendantClient, takeCash } from './attendant-api.js';
import { DemoBackOffice } from './back-office.js';

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
  /** Default: the system clock. */
  clock?: Clock;
}

export interface DemoLotRuntime {
  def: DemoLot;
  edge: Edge<SimLaneControl>;
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
  /** The page showing the email the cloud sent (an SMTP catcher in process). */
  mailUrl: string;
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

/**
 * A free port for the cloud when no port base is given (tests). It must be known before the cloud
 * listens (its public URL names it), so it is picked below Linux's ephemeral range (32768+): a port
 * taken by listen(0) would be free again for any outgoing socket until the cloud binds it.
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await portFree(port)) return port;
  }
  throw new Error('no free port found below 32768');
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
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

/** Component logs: the caller's logger, or <data>/demo.log. */
function demoLogger(options: SystemOptions, dataDir: string): { logger: Logger; logFile: string | null } {
  if (options.logger) return { logger: options.logger, logFile: null };
  const logFile = join(dataDir, 'demo.log');
  const logger = pino(
    { level: options.logLevel ?? 'info' },
    pino.destination({ dest: logFile, sync: true, mkdir: true }),
  ) as unknown as Logger;
  return { logger, logFile };
}

/** Everything started so far, stopped in reverse order (on stop, or when a later step fails). */
class Undo {
  readonly #steps: Array<() => Promise<void>> = [];
  constructor(private readonly logger: Logger) {}
  push(step: () => Promise<void>): void {
    this.#steps.push(step);
  }
  async unwind(): Promise<void> {
    for (const fn of this.#steps.reverse())
      await fn().catch((err: unknown) => this.logger.error({ err }, 'stop step failed'));
  }
}

/** What the steps of startSystem share. */
interface StartContext {
  options: SystemOptions;
  env: NodeJS.ProcessEnv;
  dataDir: string;
  lotDefs: readonly DemoLot[];
  clock: Clock;
  logger: Logger;
  progress: (message: string) => void;
  undo: Undo;
}

interface BrokerSetup {
  url: string;
  kind: 'embedded' | 'external';
  cloudCreds: BrokerCredentials;
  lotCreds: Map<string, BrokerCredentials>;
}

export async function startSystem(options: SystemOptions): Promise<DemoSystem> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const { logger, logFile } = demoLogger(options, dataDir);
  const ctx: StartContext = {
    options,
    env: options.env ?? process.env,
    dataDir,
    lotDefs: options.lots ?? DEMO_LOTS,
    clock: options.clock ?? systemClock,
    logger,
    progress: options.onProgress ?? (() => {}),
    undo: new Undo(logger),
  };
  try {
    const broker = await startBroker(ctx);
    const { cloud, cloudUrl, database, cloudSync, mailUrl } = await startCloudService(ctx, broker);
    const keys = await seedCloud(ctx, cloudUrl, cloudSync);
    const lots = new Map<string, DemoLotRuntime>();
    for (const [i, def] of ctx.lotDefs.entries()) {
      lots.set(def.id, await startLot(ctx, { def, index: i, broker, keys }));
    }
    const traffic = startTraffic(ctx, cloudUrl, lots);
    let stopping: Promise<void> | null = null;
    return {
      cloud,
      cloudUrl,
      docsUrl: `${cloudUrl}/docs`,
      mailUrl,
      database,
      broker: { url: broker.url, kind: broker.kind },
      cloudSync,
      lots,
      traffic,
      logger,
      logFile,
      stop() {
        stopping ??= ctx.undo.unwind();
        return stopping;
      },
    };
  } catch (err) {
    await ctx.undo.unwind();
    throw err;
  }
}

/** The embedded aedes broker with fresh credentials, or the one MQTT_URL names. */
async function startBroker(ctx: StartContext): Promise<BrokerSetup> {
  const { env, lotDefs } = ctx;
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
  if (env.MQTT_URL) {
    ctx.progress(`broker: ${env.MQTT_URL} (MQTT_URL)`);
    return { url: env.MQTT_URL, kind: 'external', cloudCreds, lotCreds };
  }
  const credentials = await MemoryCredentialStore.fromCredentials([cloudCreds, ...lotCreds.values()]);
  const brokerPort = ctx.options.portBase ? ctx.options.portBase + lotDefs.length + 1 : 0;
  const broker: EmbeddedBroker = await startEmbeddedBroker({
    credentials,
    logger: ctx.logger, // the broker names its component
    port: brokerPort,
  });
  ctx.undo.push(() => broker.close());
  ctx.progress(`broker: embedded aedes on ${broker.url}`);
  return { url: broker.url, kind: 'embedded', cloudCreds, lotCreds };
}

/** The cloud (PostgreSQL or PGlite) listening, with its sync engine on the broker. */
async function startCloudService(ctx: StartContext, broker: BrokerSetup) {
  const { env, dataDir, options } = ctx;
  const cloudPort = options.portBase || (await freePort());
  const database: 'pglite' | 'postgres' = env.DATABASE_URL ? 'postgres' : 'pglite';
  ctx.progress(
    database === 'postgres'
      ? 'cloud: connecting to PostgreSQL (DATABASE_URL), applying migrations…'
      : `cloud: starting PostgreSQL in process (PGlite, ${join(dataDir, 'cloud-pg')}), applying migrations…`,
  );
  const mail = await startDemoMail();
  ctx.undo.push(() => mail.close());
  const cloudConfig = await loadConfig({
    SMTP_URL: mail.smtpUrl,
    NOTIFICATIONS_EVERY_MS: '2000',
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
    MQTT_URL: broker.url,
    MQTT_USERNAME: broker.cloudCreds.username,
    MQTT_PASSWORD: broker.cloudCreds.password,
    MQTT_INSTANCE_ID: 'demo-cloud',
    MQTT_SHARED_SUBSCRIPTION: broker.kind === 'external' ? 'true' : 'false',
    // The demo's own broker is aedes, which speaks MQTT 3.1.1 only.
    MQTT_PROTOCOL: broker.kind === 'external' ? '5' : '3.1.1',
  });
  // `service`, not `component`: the cloud's parts name their own components (one per log line).
  const cloud = await createCloud(cloudConfig, { logger: ctx.logger.child({ service: 'cloud' }) });
  ctx.undo.push(() => cloud.close());
  await cloud.app.listen({ host: '127.0.0.1', port: cloudPort });
  const cloudUrl = `http://127.0.0.1:${cloudPort}`;
  ctx.progress(`cloud: API on ${cloudUrl}`);

  // The cloud runs its own sync engine against the demo's broker (cloud/compose.ts).
  const cloudSync = cloudSyncHandle(cloud, ctx.logger.child({ component: 'cloud-sync' }));
  ctx.progress(
    cloudSync
      ? 'cloud: sync engine connected to the broker'
      : 'cloud: sync engine NOT running — the lots will stay offline (see demo.log)',
  );
  return { cloud, cloudUrl, database, cloudSync, mailUrl: mail.pageUrl };
}

/** Lots and accounts through the public API (existing ones kept); returns the credential keys. */
async function seedCloud(
  ctx: StartContext,
  cloudUrl: string,
  cloudSync: CloudSyncHandle | null,
): Promise<unknown[]> {
  const { lotDefs } = ctx;
  const admin = new CloudApi(cloudUrl);
  await admin.login(DEMO_CLOUD_ACCOUNTS.admin.email, DEMO_CLOUD_ACCOUNTS.admin.password);
  const ignoreExisting = (err: unknown) => {
    if (err instanceof CloudApiError && err.status === 409) return null;
    throw err;
  };
  for (const def of lotDefs) {
    await admin.request('POST', '/v1/lots', lotOf(def)).catch(ignoreExisting);
    // A lot kept from an earlier run gets today's plan too.
    await admin.request('PUT', `/v1/lots/${def.id}/rate-plan`, def.ratePlan);
  }
  const lotIds = lotDefs.map((l) => l.id);
  await seedOperator(admin, lotIds);
  await admin
    .request('POST', '/v1/users', { ...DEMO_CLOUD_ACCOUNTS.operator, role: 'operator', lotIds })
    .catch(ignoreExisting);
  await admin
    .request('POST', '/v1/users', { ...DEMO_CLOUD_ACCOUNTS.driver, role: 'driver', lotIds: [] })
    .catch(ignoreExisting);
  const permits = await seedPermits(admin, lotIds, ctx.clock.now());
  if (permits > 0) ctx.progress(`cloud: issued ${permits} demo permits`);
  for (const m of DEMO_MERCHANTS.filter((d) => lotIds.includes(d.lotId))) {
    await admin
      .request('POST', '/v1/users', { ...m.account, role: 'validator', lotIds: [m.lotId] })
      .catch(ignoreExisting);
  }
  const { keys } = await admin.request<{ keys: unknown[] }>('GET', '/v1/keys');
  cloudSync?.lotsChanged(lotIds);
  ctx.progress(`cloud: seeded ${lotDefs.length} lots and the admin, operator and driver accounts`);
  return keys;
}

/** A demo lot as the cloud API and the edge config describe it. */
function lotOf(def: DemoLot) {
  return {
    id: def.id,
    name: def.name,
    timeZone: def.timeZone,
    location: def.location,
    rates: def.rates,
    ratePlan: def.ratePlan,
    policy: def.policy,
    spots: def.spots,
  };
}

/** One lot controller on simulated lanes, online through its own link relay. */
async function startLot(
  ctx: StartContext,
  lot: { def: DemoLot; index: number; broker: BrokerSetup; keys: unknown[] },
): Promise<DemoLotRuntime> {
  const { def } = lot;
  const { options } = ctx;
  const link = await new LinkRelay(targetOf(lot.broker.url), { clock: ctx.clock }).start();
  ctx.undo.push(() => link.close());
  const creds = lot.broker.lotCreds.get(def.id)!;
  const config = parseEdgeConfig(
    {
      lotId: def.id,
      dbPath: join(ctx.dataDir, `edge-${def.id}.sqlite`),
      lot: lotOf(def),
      publicKeys: lot.keys,
      lanes: def.lanes.map((l) => ({ id: l.id, name: l.name, direction: l.direction, devices: l.devices })),
      attendant: {
        host: '127.0.0.1',
        port: options.portBase ? options.portBase + 1 + lot.index : 0,
        jwtSecret: await keptSecret(join(ctx.dataDir, `edge-${def.id}.jwt-secret`)),
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
    clock: ctx.clock,
    random: cryptoRandom(),
    logger: ctx.logger.child({ service: 'edge' }), // createEdge binds lotId and components
    simulator: simLaneFactory({ drivers: simulatedLibraryDrivers }),
  });
  ctx.undo.push(() => edge.stop());
  edge.connectivity.onChange((state, sinceMs) =>
    options.onConnectivity?.(def.id, state, new Date(sinceMs).toISOString()),
  );
  await edge.start();
  const uiUrl = edge.url()!.replace('://localhost', '://127.0.0.1');
  const entryId = def.lanes.find((l) => l.direction === 'entry')!.id;
  const exitId = def.lanes.find((l) => l.direction === 'exit')!.id;
  ctx.progress(
    `lot ${def.id}: ${def.spots.length} spots, lanes ${def.lanes.map((l) => l.id).join(' + ')}, attendant UI on ${uiUrl}`,
  );
  return {
    def,
    edge,
    link,
    uiUrl,
    sims: edge.sims,
    entry: edge.sims.get(entryId)!,
    exit: edge.sims.get(exitId)!,
  };
}

/** The lot's demo merchant, validating drive-ups through the cloud and the lot's attendant API. */
/** The people at the lot's booth: its merchant validating stays, its attendant taking cash. */
function boothFor(ctx: StartContext, cloudUrl: string, l: DemoLotRuntime) {
  const booth = new AttendantClient({
    url: l.uiUrl,
    attendant: { username: l.def.attendant.username, password: l.def.attendant.password },
  });
  const payCash = (plate: string) => takeCash(booth, plate);
  const def = DEMO_MERCHANTS.find((m) => m.lotId === l.def.id);
  if (def === undefined) return { payCash };
  const merchant = new DemoMerchant(def, cloudUrl, booth, seededRandom((ctx.options.seed ?? 1) + 7));
  return { payCash, validate: (plate: string) => merchant.validate(plate) };
}

/** The operator's back office (refunds, write-offs) while traffic runs. */
function startBackOffice(ctx: StartContext, cloudUrl: string, lotIds: string[]): void {
  const office = new DemoBackOffice({
    cloudUrl,
    operator: DEMO_CLOUD_ACCOUNTS.operator,
    lotIds,
    everyMs: 45_000,
    random: seededRandom((ctx.options.seed ?? 1) + 11),
    logger: ctx.logger.child({ component: 'back-office' }),
    onAction: (lotId, detail) => ctx.progress(`[${lotId}] back office ${detail}`),
  });
  office.start();
  ctx.undo.push(async () => office.stop());
}

/** The traffic generator over every lot (started unless options.traffic is false). */
function startTraffic(ctx: StartContext, cloudUrl: string, lots: Map<string, DemoLotRuntime>): DemoTraffic {
  const { options } = ctx;
  const traffic = new DemoTraffic({
    cloudUrl,
    lots: [...lots.values()].map((l) => ({
      lotId: l.def.id,
      name: l.def.name,
      entry: l.entry,
      exit: l.exit,
      knowsReservation: (id: string) => l.edge.store.mirror.reservationById(id) !== undefined,
      permitPlates: permitPlatesOf(l.def.id),
      ...boothFor(ctx, cloudUrl, l),
    })),
    random: seededRandom(options.seed ?? 1),
    clock: ctx.clock,
    logger: ctx.logger.child({ component: 'traffic' }),
    driver: DEMO_CLOUD_ACCOUNTS.driver,
    ...options.trafficPace,
    ...(options.onTraffic ? { onEvent: options.onTraffic } : {}),
  });
  ctx.undo.push(() => traffic.stop());
  if (options.traffic !== false) {
    traffic.start();
    startBackOffice(ctx, cloudUrl, [...lots.keys()]);
    ctx.progress(`traffic: generator running (seed ${options.seed ?? 1})`);
  }
  return traffic;
}
