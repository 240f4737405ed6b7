import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Clock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import type { SimLaneControl } from '../hardware-sim/lane.js';
import { seedAccounts } from './attendant/accounts.js';
import { attendantPlugin } from './attendant/plugin.js';
import { auditEntry, EdgeBus } from './bus.js';
import type { EdgeConfig, LaneSettings } from './config.js';
import { Connectivity } from './connectivity.js';
import { closeLaneDevices, createLaneDevices } from './devices/factory.js';
import { systemTimers, type Timers } from './devices/timers.js';
import type { LaneDevices } from './devices/types.js';
import { type DecisionContext, exitCharge } from './lane/decision.js';
import { Lane, type LaneConfig, type OnlineHooks } from './lane/lane.js';
import { timeFormatter } from './lane/messages.js';
import { createEdgeMetrics, type EdgeMetrics } from './metrics.js';
import { EdgeStore } from './store/store.js';
import { createSyncPort, type EdgeSyncPort } from './store/sync-port.js';
import type { StoredConfig, VehicleSession } from './store/types.js';
import type { EdgeSync } from './sync/client.js';
import type { Command, EdgeSyncDeps } from './sync/ports.js';

/**
 * The edge composition root: builds and wires one lot controller. Nothing here is module-level
 * state, so a test or the demo can run several lots (each with its own store, lanes, metrics
 * registry and HTTP server) in one process.
 *
 * Order matters for safety: lane devices are created first (each barrier driver drives its relay
 * arm-down before anything else is touched), then the store is opened, then lanes start.
 */

export const EDGE_VERSION = '0.1.0';

export interface LaneHardware {
  devices: LaneDevices;
  /** The simulator's controls when the lane is simulated. */
  sim: SimLaneControl | null;
  close(): Promise<void>;
}

export type DeviceFactory = (
  lane: LaneSettings,
  ctx: { lotId: string; clock: Clock; timers: Timers; random: Random; logger: Logger },
) => Promise<LaneHardware>;

export type StartSync = (deps: EdgeSyncDeps) => Promise<EdgeSync>;

export interface EdgeDeps {
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Default: the host timers (faked by sinon in tests). */
  timers?: Timers;
  /** Default: 'sim' lanes on hardware-sim, real bindings through edge/devices/factory. */
  deviceFactory?: DeviceFactory;
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

export interface Edge {
  readonly lotId: string;
  readonly config: EdgeConfig;
  readonly store: EdgeStore;
  /** What the sync client calls into (edge/sync/ports.ts EdgeSyncStore). */
  readonly syncPort: EdgeSyncPort;
  readonly lanes: ReadonlyMap<string, Lane>;
  /** Simulator controls of simulated lanes, by lane id. */
  readonly sims: ReadonlyMap<string, SimLaneControl>;
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
  handleCommand(command: Command): Promise<{ ok: boolean; detail: string }>;
  /** Replace the online hooks (e.g. once a sync client is connected). */
  setOnlineHooks(hooks: OnlineHooks): void;
  /** The decision context a lane uses now (benchmarks, tests). */
  decisionContext(laneId: string): DecisionContext;
}

/** Simulated lanes through hardware-sim (imported only when used); real ones through the driver factory. */
export const defaultDeviceFactory: DeviceFactory = async (lane, ctx) => {
  if (lane.devices === 'sim') {
    const { createSimLane } = await import('../hardware-sim/lane.js');
    const { devices, sim } = await createSimLane({
      laneId: lane.id,
      clock: {
        now: () => ctx.clock.now(),
        setTimeout: ctx.timers.setTimeout,
        clearTimeout: ctx.timers.clearTimeout,
      },
      random: ctx.random,
      logger: ctx.logger,
      armTravelMs: lane.sim.armTravelMs,
      limitSwitches: lane.sim.limitSwitches,
      camera: lane.sim.camera ? { misreadRate: lane.sim.misreadRate } : false,
      qr: lane.sim.qr,
    });
    return { devices, sim, close: () => sim.close() };
  }
  const devices = await createLaneDevices(lane.devices, {
    laneId: lane.id,
    clock: ctx.clock,
    logger: ctx.logger,
    timers: ctx.timers,
  });
  return { devices, sim: null, close: () => closeLaneDevices(devices) };
};

interface ContextBase {
  config: StoredConfig;
  spotsById: DecisionContext['spotsById'];
  times: DecisionContext['times'];
  driveupCapacity: number;
}

export async function createEdge(config: EdgeConfig, deps: EdgeDeps): Promise<Edge> {
  const { clock, random } = deps;
  const timers = deps.timers ?? systemTimers();
  const base = deps.logger.child({ lotId: config.lotId });
  const logger = base.child({ component: 'edge' });
  const deviceFactory = deps.deviceFactory ?? defaultDeviceFactory;

  // 1. Hardware first: every barrier relay is driven arm-down before anything else happens.
  const hardware = new Map<string, LaneHardware>();
  try {
    for (const lane of config.lanes) {
      hardware.set(
        lane.id,
        await deviceFactory(lane, { lotId: config.lotId, clock, timers, random, logger: base }),
      );
    }
  } catch (e) {
    await Promise.allSettled([...hardware.values()].map((h) => h.close()));
    throw e;
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
    await seedAccounts(store, config.attendant.accounts, base.child({ component: 'accounts' }));
  } catch (e) {
    await Promise.allSettled([...hardware.values()].map((h) => h.close()));
    throw e;
  }

  const bus = new EdgeBus((err) => logger.error({ err }, 'event listener failed'));
  const connectivity = new Connectivity('offline', clock.now());
  const metrics = createEdgeMetrics({ lot: config.lotId }, { processMetrics: deps.processMetrics ?? false });
  let hooks: OnlineHooks = { ...deps.hooks };

  let cached: ContextBase | null = null;
  const contextBase = (): ContextBase => {
    const current = store.config();
    if (cached?.config !== current) {
      cached = {
        config: current,
        spotsById: new Map(current.lot.spots.map((s) => [s.id, s])),
        times: timeFormatter(current.lot.timeZone),
        driveupCapacity: store.lotIndex().driveupCount,
      };
    }
    return cached;
  };
  const decisionContextFor = (lane: { id: string; direction: 'entry' | 'exit' }): DecisionContext => {
    const b = contextBase();
    return {
      lot: b.config.lot,
      publicKeys: b.config.publicKeys,
      laneId: lane.id,
      direction: lane.direction,
      overflowAvailable: connectivity.online && hooks.requestOverflow !== undefined,
      driveupCapacity: b.driveupCapacity,
      spotsById: b.spotsById,
      times: b.times,
    };
  };

  const lanes = new Map<string, Lane>();
  const sims = new Map<string, SimLaneControl>();
  for (const settings of config.lanes) {
    const hw = hardware.get(settings.id)!;
    const laneConfig: LaneConfig = {
      id: settings.id,
      direction: settings.direction,
      timing: settings.timing,
    };
    lanes.set(
      settings.id,
      new Lane(laneConfig, hw.devices, {
        store,
        connectivity,
        hooks: () => hooks,
        decisionContext: decisionContextFor,
        bus,
        metrics,
        clock,
        random,
        timers,
        logger: base.child({ component: 'lane' }),
        chargeTimeoutMs: config.chargeTimeoutMs,
      }),
    );
    if (hw.sim) sims.set(settings.id, hw.sim);
  }

  store.onCommit(({ events, alarms, acknowledged, audits }) => {
    for (const alarm of alarms) bus.emit({ type: 'alarm', alarm });
    for (const alarm of acknowledged) bus.emit({ type: 'alarm_ack', alarm });
    for (const audit of audits) bus.emit({ type: 'audit', ...auditEntry(audit) });
    if (events.length > 0) {
      bus.emit({ type: 'outbox', lastEventId: events.at(-1)!.eventId, depth: store.outboxDepth() });
      hooks.notifyEventsWritten?.();
    }
  });
  connectivity.onChange((state, sinceMs) => {
    logger.info({ state }, 'connectivity');
    bus.emit({ type: 'connectivity', state, since: new Date(sinceMs).toISOString() });
  });

  const laneHealth = () =>
    [...lanes.values()].map((l) => {
      const s = l.status();
      return { id: s.id, state: s.state, devices: { camera: s.devices.camera, qr: s.devices.qr } };
    });
  const syncPort = createSyncPort({ store, connectivity, lanes: laneHealth });

  const exitChargeNow = (session: VehicleSession) =>
    exitCharge(decisionContextFor({ id: 'attendant', direction: 'exit' }), store, session, clock.now());

  const http = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  await http.register(attendantPlugin, {
    edge: {
      lotId: config.lotId,
      store,
      lanes: () => [...lanes.values()],
      connectivity,
      bus,
      clock,
      metrics,
      exitCharge: exitChargeNow,
      jwtSecret: config.attendant.jwtSecret ?? randomBytes(32).toString('hex'),
      tokenTtlMinutes: config.attendant.tokenTtlMinutes,
      logger: base.child({ component: 'attendant' }),
    },
  });
  if (deps.ui !== false) {
    const { UI_ROOT, uiPlugin } = await import('./ui/plugin.js');
    if (existsSync(join(UI_ROOT, 'index.html'))) await http.register(uiPlugin);
  }

  const handleCommand = async (command: Command): Promise<{ ok: boolean; detail: string }> => {
    if (command.kind === 'open_lane') {
      const lane = lanes.get(command.laneId);
      if (!lane) return { ok: false, detail: `no lane ${command.laneId}` };
      return lane.manualOpen({
        attendant: command.by || 'cloud',
        reason: command.reason,
        commandId: command.commandId,
      });
    }
    const result = store.resetPassback({
      atMs: clock.now(),
      reservationId: command.reservationId,
      attendant: command.by || 'cloud',
      reason: command.reason,
      commandId: command.commandId,
    });
    return {
      ok: true,
      detail: result.closedSessionId ? `closed session ${result.closedSessionId}` : 'reset',
    };
  };

  let sync: EdgeSync | null = null;
  let housekeeping: ReturnType<typeof setInterval> | null = null;
  let listening: string | null = null;
  let state: 'created' | 'started' | 'stopped' = 'created';

  const edge: Edge = {
    lotId: config.lotId,
    config,
    store,
    syncPort,
    lanes,
    sims,
    bus,
    connectivity,
    metrics,
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
      const runHousekeeping = () => {
        store
          .housekeeping(
            config.outboxRetentionDays,
            () => new Promise((resolve) => timers.setTimeout(resolve, 10)),
          )
          .then(({ pruned }) => {
            if (pruned > 0) logger.info({ pruned }, 'acknowledged events pruned');
          })
          .catch((e: unknown) => logger.error({ err: e }, 'housekeeping failed'));
      };
      runHousekeeping();
      housekeeping = setInterval(runHousekeeping, 6 * 3_600_000);
      housekeeping.unref();
      if (config.mqtt.url && deps.startSync !== false) {
        const start: StartSync = deps.startSync ?? (await import('./sync/client.js')).startEdgeSync;
        sync = await start({
          lotId: config.lotId,
          edgeVersion: EDGE_VERSION,
          mqtt: {
            url: config.mqtt.url,
            ...(config.mqtt.username ? { username: config.mqtt.username } : {}),
            ...(config.mqtt.password ? { password: config.mqtt.password } : {}),
            ...(config.mqtt.clientId ? { clientId: config.mqtt.clientId } : {}),
          },
          store: syncPort,
          onCommand: handleCommand,
          clock,
          logger: base.child({ component: 'sync' }),
          metricsRegistry: metrics.registry,
          newId: () => random.id(20),
        });
        const client = sync;
        hooks = {
          ...hooks,
          requestOverflow: (req) => client.requestOverflow(req),
          cancelOverflow: (id) => client.cancelOverflow(id),
          notifyEventsWritten: () => client.notifyEventsWritten(),
          // The cloud charges the stored payment method of a booking when it stores an exit event
          // with settlement 'cloud'; a drive-up has no method on file, so its fee is cash or owed.
          chargeOnline:
            hooks.chargeOnline ??
            (async (req) =>
              req.reason === 'overstay'
                ? { ok: true }
                : { ok: false, reason: 'no online payment for drive-ups' }),
        };
      }
    },
    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      if (housekeeping) clearInterval(housekeeping);
      if (sync) await sync.stop().catch((e: unknown) => logger.error({ err: e }, 'sync stop failed'));
      for (const lane of lanes.values()) lane.stop();
      await http.close().catch((e: unknown) => logger.error({ err: e }, 'http close failed'));
      await Promise.allSettled([...hardware.values()].map((h) => h.close()));
      store.close();
      logger.info('edge stopped');
    },
    url: () => listening,
    handleCommand,
    setOnlineHooks(next) {
      hooks = { ...next };
    },
    decisionContext(laneId) {
      const lane = lanes.get(laneId);
      if (!lane) throw new Error(`no lane ${laneId}`);
      return decisionContextFor(lane.config);
    },
  };
  return edge;
}
