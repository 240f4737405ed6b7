import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Clock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import { systemTimers, type Timers } from '../protocol/timers.js';
import { seedAccounts } from './attendant/accounts.js';
import { attendantPlugin } from './attendant/plugin.js';
import { auditEntry, EdgeBus } from './bus.js';
import { type CommandResult, commandHandler } from './commands.js';
import { type EdgeConfig, simulatedLaneIds } from './config.js';
import { Connectivity } from './connectivity.js';
import { decisionContexts } from './decision-context.js';
import { type DecisionContext, exitCharge } from './lane/decision.js';
import { Lane } from './lane/lane.js';
import type { OnlineHooks } from './lane/types.js';
import {
  closeLaneHardware,
  type LaneHardware,
  openLaneHardware,
  type SimulatedLaneFactory,
} from './lane-hardware.js';
import { createEdgeMetrics, type EdgeMetrics } from './metrics.js';
import { registerSimControl } from './sim-control/plugin.js';
import { type StartSync, startOnline } from './online.js';
import { EdgeStore } from './store/store.js';
import { createSyncPort, type EdgeSyncPort } from './store/sync-port.js';
import type { VehicleSession } from './store/types.js';
import type { EdgeSync } from './sync/client.js';
import type { Command } from './sync/ports.js';

/**
 * The edge composition root: builds and wires one lot controller. Nothing here is module-level
 * state, so a test or the demo can run several lots (each with its own store, lanes, metrics
 * registry and HTTP server) in one process.
 *
 * Order matters for safety: lane devices are created first (each barrier driver drives its relay
 * arm-down before anything else is touched), then the store is opened, then lanes start.
 */

export const EDGE_VERSION = '0.1.0';

export type { LaneHardware, SimulatedLaneFactory } from './lane-hardware.js';
export type { StartSync } from './online.js';

/** `S`: the simulator's handle on a simulated lane (hardware-sim's SimLaneControl). */
export interface EdgeDeps<S = unknown> {
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Default: the host timers (faked by sinon in tests). */
  timers?: Timers;
  /**
   * Builds the lanes configured `devices: 'sim'` (hardware-sim's simLaneFactory). Without it such
   * a lane is a start-up error: only a composer that means to simulate passes one.
   */
  simulator?: SimulatedLaneFactory<S>;
  /** Online capabilities (overflow, online charge). Default: none, i.e. offline behaviour. */
  hooks?: OnlineHooks;
  /**
   * Starts the MQTT sync client on start() when config.mqtt.url is set. Default: edge/sync/client.
   * false: never (tests, or a caller that wires sync itself through `edge.syncPort`).
   */
  startSync?: StartSync | false;
  /** Serve the attendant UI's static files when they are present. Default true. */
  ui?: boolean;
  /** Add process metrics (CPU, memory, event loop) to this edge's registry. Default false. */
  processMetrics?: boolean;
}

export interface Edge<S = unknown> {
  readonly lotId: string;
  readonly config: EdgeConfig;
  readonly store: EdgeStore;
  /** What the sync client calls into (edge/sync/ports.ts EdgeSyncStore). */
  readonly syncPort: EdgeSyncPort;
  readonly lanes: ReadonlyMap<string, Lane>;
  /** Simulator controls of simulated lanes, by lane id. */
  readonly sims: ReadonlyMap<string, S>;
  /** Ids of the lanes configured `devices: 'sim'` (no real barrier behind them). */
  readonly simulatedLanes: readonly string[];
  readonly bus: EdgeBus;
  readonly connectivity: Connectivity;
  readonly metrics: EdgeMetrics;
  /** The attendant API (+ UI) server; use `inject` in tests. */
  readonly http: FastifyInstance;
  /** Start lanes; listen on the configured host/port unless `listen: false`; start sync if configured. */
  start(options?: { listen?: boolean }): Promise<void>;
  /** Stop sync, put arms down (never onto a vehicle), close the server, devices and database. */
  stop(): Promise<void>;
  /** Base URL once listening. */
  url(): string | null;
  /** Execute a cloud operator command (open lane, reset passback). */
  handleCommand(command: Command): Promise<CommandResult>;
  /** Replace the online hooks (e.g. once a sync client is connected). */
  setOnlineHooks(hooks: OnlineHooks): void;
  /** The decision context a lane uses now (benchmarks, tests). */
  decisionContext(laneId: string): DecisionContext;
}

/** The online hooks in force; replaced when sync connects or a caller sets its own. */
interface HooksCell {
  current: OnlineHooks;
}

/** Everything createEdge builds before the lifecycle wraps it. */
interface EdgeParts<S> {
  config: EdgeConfig;
  deps: EdgeDeps<S>;
  timers: Timers;
  logger: Logger;
  base: Logger;
  hardware: Map<string, LaneHardware<S>>;
  store: EdgeStore;
  hooks: HooksCell;
  bus: EdgeBus;
  connectivity: Connectivity;
  metrics: EdgeMetrics;
  decisionContextFor: (lane: { id: string; direction: 'entry' | 'exit' }) => DecisionContext;
  lanes: Map<string, Lane>;
  sims: Map<string, S>;
  simulatedLanes: string[];
  syncPort: EdgeSyncPort;
  http: FastifyInstance;
  handleCommand: (command: Command) => Promise<CommandResult>;
}

export async function createEdge<S = unknown>(config: EdgeConfig, deps: EdgeDeps<S>): Promise<Edge<S>> {
  const { clock, random } = deps;
  const timers = deps.timers ?? systemTimers();
  const base = deps.logger.child({ lotId: config.lotId });
  const logger = base.child({ component: 'edge' });

  // 1. Hardware first: every barrier relay is driven arm-down before anything else happens.
  const hardware = await openLaneHardware(
    config.lanes,
    { lotId: config.lotId, clock, timers, random, logger: base },
    deps.simulator,
  );
  const simulatedLanes = simulatedLaneIds(config);
  if (simulatedLanes.length > 0) {
    logger.warn(
      { lanes: simulatedLanes },
      `SIMULATED lanes ${simulatedLanes.join(', ')}: no real barrier, loop, camera or scanner behind them`,
    );
  }

  // 2. The store.
  let store: EdgeStore;
  try {
    if (config.dbPath !== ':memory:') mkdirSync(dirname(config.dbPath), { recursive: true });
    store = EdgeStore.open({
      path: config.dbPath,
      lotId: config.lotId,
      clock,
      logger: base.child({ component: 'store' }),
      fileConfig: { lot: config.lot, publicKeys: config.publicKeys },
    });
    await seedAccounts(store.attendants, config.attendant.accounts, base.child({ component: 'accounts' }));
  } catch (e) {
    await closeLaneHardware(hardware.values(), logger);
    throw e;
  }

  // 3. Lanes, events and the attendant server around them.
  const hooks: HooksCell = { current: { ...deps.hooks } };
  const bus = new EdgeBus((err) => logger.error({ err }, 'event listener failed'));
  const connectivity = new Connectivity('offline', clock.now());
  const metrics = createEdgeMetrics({ lot: config.lotId }, { processMetrics: deps.processMetrics ?? false });
  const decisionContextFor = decisionContexts({
    mirror: store.mirror,
    connectivity,
    hooks: () => hooks.current,
  });
  const wired = { config, deps, timers, logger, base, hardware, store, hooks, bus, connectivity, metrics };
  const { lanes, sims } = assembleLanes({ ...wired, decisionContextFor });
  publishStoreEvents({ store, bus, hooks, connectivity, logger });
  const syncPort = createSyncPort({
    store,
    connectivity,
    lanes: () => laneHealth(lanes),
    onMoney: () => bus.emit({ type: 'money', at: new Date(clock.now()).toISOString() }),
  });
  const handleCommand = commandHandler({ lanes, ledger: store.ledger, clock });
  const http = await attendantServer({ ...wired, decisionContextFor, lanes, sims, simulatedLanes });
  return edgeLifecycle({
    ...wired,
    decisionContextFor,
    lanes,
    sims,
    simulatedLanes,
    syncPort,
    http,
    handleCommand,
  });
}

type WiredParts<S> = Pick<
  EdgeParts<S>,
  | 'config'
  | 'deps'
  | 'timers'
  | 'base'
  | 'hardware'
  | 'store'
  | 'hooks'
  | 'bus'
  | 'connectivity'
  | 'metrics'
  | 'decisionContextFor'
>;

/** One Lane per configured lane, on the hardware opened for it. */
function assembleLanes<S>(parts: WiredParts<S>): { lanes: Map<string, Lane>; sims: Map<string, S> } {
  const { config, deps, hardware, hooks } = parts;
  const lanes = new Map<string, Lane>();
  const sims = new Map<string, S>();
  for (const settings of config.lanes) {
    const hw = hardware.get(settings.id)!;
    const lane = new Lane(
      {
        id: settings.id,
        ...(settings.name ? { name: settings.name } : {}),
        direction: settings.direction,
        timing: settings.timing,
      },
      hw.devices,
      {
        store: parts.store,
        connectivity: parts.connectivity,
        hooks: () => hooks.current,
        decisionContext: parts.decisionContextFor,
        bus: parts.bus,
        metrics: parts.metrics,
        clock: deps.clock,
        random: deps.random,
        timers: parts.timers,
        logger: parts.base.child({ component: 'lane' }),
        chargeTimeoutMs: config.chargeTimeoutMs,
      },
    );
    lanes.set(settings.id, lane);
    if (hw.sim !== null) sims.set(settings.id, hw.sim);
  }
  return { lanes, sims };
}

/** Committed store changes become bus events (console, SSE) and wake the sync publisher. */
function publishStoreEvents(parts: {
  store: EdgeStore;
  bus: EdgeBus;
  hooks: HooksCell;
  connectivity: Connectivity;
  logger: Logger;
}): void {
  const { store, bus, hooks, logger } = parts;
  store.onCommit(({ events, alarms, acknowledged, audits }) => {
    for (const alarm of alarms) bus.emit({ type: 'alarm', alarm });
    for (const alarm of acknowledged) bus.emit({ type: 'alarm_ack', alarm });
    for (const audit of audits) bus.emit({ type: 'audit', ...auditEntry(audit) });
    if (events.length > 0) {
      bus.emit({ type: 'outbox', lastEventId: events.at(-1)!.eventId, depth: store.ledger.outboxDepth() });
      hooks.current.notifyEventsWritten?.();
    }
  });
  parts.connectivity.onChange((state, sinceMs) => {
    logger.info({ state }, 'connectivity');
    bus.emit({ type: 'connectivity', state, since: new Date(sinceMs).toISOString() });
  });
}

/** What the sync client reports of each lane's health. */
function laneHealth(lanes: ReadonlyMap<string, Lane>) {
  return [...lanes.values()].map((l) => {
    const s = l.status();
    return { id: s.id, state: s.state, devices: { camera: s.devices.camera, qr: s.devices.qr } };
  });
}

/**
 * The controller's HTTP server. Per-request log lines (`logRequests` / LOG_REQUESTS=true) are off
 * by default; every reply carries its request id (a sane caller X-Request-ID, else a random one).
 */
function edgeHttpServer(config: EdgeConfig, random: Random, base: Logger): FastifyInstance {
  const genReqId = (req: { headers: Record<string, unknown> }) => {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(given) ? given : random.id(16);
  };
  const options = { bodyLimit: 64 * 1024, genReqId };
  const http: FastifyInstance = config.logRequests
    ? Fastify({
        ...options,
        loggerInstance: base.child({ component: 'http' }) as unknown as FastifyBaseLogger,
      })
    : Fastify({ ...options, logger: false });
  http.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  return http;
}

/**
 * The attendant API, the simulator control when a lane is simulated (edge/sim-control), plus the
 * UI's static files when built and wanted.
 */
async function attendantServer<S>(
  parts: WiredParts<S> & {
    lanes: ReadonlyMap<string, Lane>;
    sims: ReadonlyMap<string, S>;
    simulatedLanes: string[];
  },
): Promise<FastifyInstance> {
  const { config, deps, store, lanes } = parts;
  const exitChargeNow = (session: VehicleSession) =>
    exitCharge(
      parts.decisionContextFor({ id: 'attendant', direction: 'exit' }),
      store.gateView,
      session,
      deps.clock.now(),
    );
  const http = edgeHttpServer(config, deps.random, parts.base);
  await http.register(attendantPlugin, {
    edge: {
      lotId: config.lotId,
      store,
      lanes: () => [...lanes.values()],
      simulatedLanes: parts.simulatedLanes,
      connectivity: parts.connectivity,
      bus: parts.bus,
      clock: deps.clock,
      metrics: parts.metrics,
      exitCharge: exitChargeNow,
      jwtSecret: config.attendant.jwtSecret ?? randomBytes(32).toString('hex'),
      tokenTtlMinutes: config.attendant.tokenTtlMinutes,
      logger: parts.base.child({ component: 'attendant' }),
    },
  });
  await registerSimControl(http, {
    lotId: config.lotId,
    lanes: config.lanes,
    sims: parts.sims,
    logger: parts.base.child({ component: 'sim-control' }),
  });
  if (deps.ui !== false) {
    const { UI_ROOT, uiPlugin } = await import('./ui/plugin.js');
    if (existsSync(join(UI_ROOT, 'index.html'))) await http.register(uiPlugin);
  }
  return http;
}

/** Prunes acknowledged events now and every 6 hours; returns the stop function. */
function startHousekeeping(parts: Pick<EdgeParts<unknown>, 'config' | 'store' | 'timers' | 'logger'>) {
  const { config, store, timers, logger } = parts;
  const run = () => {
    store.ledger
      .housekeeping(
        config.outboxRetentionDays,
        () => new Promise((resolve) => timers.setTimeout(resolve, 10)),
      )
      .then(({ pruned }) => {
        if (pruned > 0) logger.info({ pruned }, 'acknowledged events pruned');
      })
      .catch((e: unknown) => logger.error({ err: e }, 'housekeeping failed'));
  };
  run();
  const interval = setInterval(run, 6 * 3_600_000);
  interval.unref();
  return () => clearInterval(interval);
}

/** start/stop and the rest of the Edge surface over the built parts. */
function edgeLifecycle<S>(parts: EdgeParts<S>): Edge<S> {
  const { config, deps, store, lanes, http, hooks, logger } = parts;
  let sync: EdgeSync | null = null;
  let stopHousekeeping: (() => void) | null = null;
  let listening: string | null = null;
  let state: 'created' | 'started' | 'stopped' = 'created';

  return {
    lotId: config.lotId,
    config,
    store,
    syncPort: parts.syncPort,
    lanes,
    sims: parts.sims,
    simulatedLanes: parts.simulatedLanes,
    bus: parts.bus,
    connectivity: parts.connectivity,
    metrics: parts.metrics,
    http,
    async start(options = {}) {
      if (state !== 'created') throw new Error(`edge ${config.lotId} already ${state}`);
      state = 'started';
      for (const lane of lanes.values()) lane.start();
      if (options.listen !== false) {
        listening = await http.listen({ host: config.attendant.host, port: config.attendant.port });
        logger.info({ url: listening }, 'attendant API listening');
      } else {
        await http.ready();
      }
      stopHousekeeping = startHousekeeping(parts);
      if (config.mqtt.url && deps.startSync !== false) {
        const online = await startOnline({
          config,
          edgeVersion: EDGE_VERSION,
          startSync: deps.startSync,
          syncPort: parts.syncPort,
          onCommand: parts.handleCommand,
          hooks: hooks.current,
          clock: deps.clock,
          random: deps.random,
          metrics: parts.metrics,
          // the sync client binds lotId and its component itself (a second binding prints twice)
          logger: deps.logger,
        });
        sync = online.sync;
        hooks.current = online.hooks;
      }
    },
    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      stopHousekeeping?.();
      if (sync) await sync.stop().catch((e: unknown) => logger.error({ err: e }, 'sync stop failed'));
      for (const lane of lanes.values()) lane.stop();
      await http.close().catch((e: unknown) => logger.error({ err: e }, 'http close failed'));
      await closeLaneHardware(parts.hardware.values(), logger);
      store.close();
      logger.info('edge stopped');
    },
    url: () => listening,
    handleCommand: parts.handleCommand,
    setOnlineHooks(next) {
      hooks.current = { ...next };
    },
    decisionContext(laneId) {
      const lane = lanes.get(laneId);
      if (!lane) throw new Error(`no lane ${laneId}`);
      return parts.decisionContextFor(lane.config);
    },
  };
}
