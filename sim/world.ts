import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { MemorySyncStore } from '../cloud/sync/memory-store.js';
import { type CloudSync, startCloudSync } from '../cloud/sync/index.js';
import { createEdge, type Edge } from '../edge/app.js';
import { parseEdgeConfig } from '../edge/config.js';
import { simulatedLibraryDrivers } from '../edge/devices/factory.js';
import { startEdgeSync } from '../edge/sync/client.js';
import { SIM_FAKE_TIMERS, type SimLaneControl, simLaneFactory } from '../hardware-sim/index.js';
import type { Clock } from '../protocol/clock.js';
import { generateSigningKey, type PublicKeyEntry, signCredential } from '../protocol/credential.js';
import { LotConfigSchema, type Reservation } from '../protocol/domain.js';
import { silentLogger } from '../protocol/logger.js';
import { decodeMessage, parseTopic } from '../protocol/mqtt.js';
import { type Random, seededRandom } from '../protocol/random.js';
import { SLOT_MS } from '../protocol/slots.js';
import { systemTimers } from '../protocol/timers.js';
import { SimBroker } from './broker.js';
import { CloudModel } from './cloud-model.js';
import { type InstanceIdPolicy, instanceIdFor } from './instance-id.js';
import { checkQuiescent, checkStep, type Violation } from './invariants.js';

export interface SimOptions {
  seed: number;
  steps: number;
  lots?: number;
  /** How a restarted cloud process derives its MQTT instance id (see instance-id.ts). */
  instanceIds?: InstanceIdPolicy;
  /** Simulated time allowed after healing for every request to be answered and every outbox drained. */
  quiescenceMs?: number;
  /** Restart the cloud this many times right after boot (besides the seed's own faults). */
  cloudRestarts?: number;
}

export interface SimResult {
  seed: number;
  steps: number;
  hash: string;
  violations: Violation[];
  faults: Record<string, number>;
  simulatedMs: number;
}

export const T0 = Date.UTC(2025, 5, 2, 6, 0, 0);
const LANES = { entry: 'in-1', exit: 'out-1' } as const;
let signingCache: ReturnType<typeof generateSigningKey> | null = null;

export interface LotRuntime {
  lotId: string;
  dir: string;
  edge: Edge<SimLaneControl> | null;
  /** Edge clock offset from true time (skew, jumps). */
  skewMs: number;
  restarts: number;
  /** Lane sims of every incarnation (safety is checked on all). */
  lanesSeen: SimLaneControl[];
  bootChecked: Set<SimLaneControl>;
  driveupPool: number;
  inside: Set<string>;
  /** A crashed edge boots again at this time. */
  pendingBootAt: number | null;
}

export interface RequestTrack {
  lotId: string;
  kind: string;
  at: number;
  answeredAt: number | null;
}

/** Everything one seed's run holds; the invariant checkers read it. */
export interface World {
  random: Random;
  broker: SimBroker;
  model: CloudModel;
  syncStore: MemorySyncStore;
  lots: LotRuntime[];
  cloud: CloudSync | null;
  cloudRestarts: number;
  requests: Map<string, RequestTrack>;
  trace: string[];
  faults: Record<string, number>;
  healedAt: number | null;
  publicKey: PublicKeyEntry;
}

export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const fake = sinon.useFakeTimers({ now: T0, toFake: [...SIM_FAKE_TIMERS.toFake] });
  const root = mkdtempSync(join(simTmp(), 'parkedge-sim-'));
  const random = seededRandom(options.seed);
  signingCache ??= generateSigningKey('sim1');
  const w: World = {
    random,
    broker: new SimBroker(seededRandom(options.seed ^ 0x5bd1e995)),
    model: new CloudModel(() => Date.now(), seededRandom(options.seed ^ 0x1234567)),
    syncStore: new MemorySyncStore({ now: () => Date.now() }),
    lots: [],
    cloud: null,
    cloudRestarts: 0,
    requests: new Map(),
    trace: [],
    faults: {},
    healedAt: null,
    publicKey: signingCache.publicEntry,
  };
  const violations: Violation[] = [];
  const note = (v: Violation[]) => {
    for (const x of v) if (!violations.some((y) => y.invariant === x.invariant)) violations.push(x);
  };
  try {
    watchRequests(w);
    const lotCount = options.lots ?? 2;
    for (let i = 0; i < lotCount; i++) {
      const lotId = `lot-${i + 1}`;
      const dir = join(root, lotId);
      mkdirSync(dir);
      const lot = lotConfig(lotId);
      w.model.setConfig({ version: 1, lot, publicKeys: [w.publicKey] });
      w.lots.push({
        lotId,
        dir,
        edge: null,
        skewMs: 0,
        restarts: 0,
        lanesSeen: [],
        bootChecked: new Set(),
        driveupPool: lot.spots.filter((s) => s.pool === 'driveup').length,
        inside: new Set(),
        pendingBootAt: null,
      });
    }
    const policy = options.instanceIds ?? 'config';
    await startCloud(w, policy, root);
    for (const l of w.lots) await startEdge(w, l);
    await fake.tickAsync(5000);
    for (let i = 0; i < (options.cloudRestarts ?? 0); i++) {
      count(w, 'cloud_restart');
      killCloud(w);
      await startCloud(w, policy, root);
      await fake.tickAsync(2000);
    }
    const chaos = chaosProfile(random);
    for (let step = 0; step < options.steps; step++) {
      await doStep(w, chaos, policy, root, step);
      await fake.tickAsync(200 + random.int(3000));
      note(checkStep(w));
    }
    // Heal: every fault off, every process up; then the system must converge within the bound.
    await heal(w, policy, root, fake);
    w.healedAt = Date.now();
    w.trace.push(`heal@${Date.now() - T0}`);
    const q = options.quiescenceMs ?? 120_000;
    for (let t = 0; t < q; t += 5000) {
      await fake.tickAsync(5000);
      note(checkStep(w));
    }
    note(await checkQuiescent(w));
    return {
      seed: options.seed,
      steps: options.steps,
      hash: createHash('sha256').update(w.trace.join('\n')).digest('hex').slice(0, 16),
      violations,
      faults: { ...w.faults, ...w.broker.faults },
      simulatedMs: Date.now() - T0,
    };
  } finally {
    await shutdown(w, fake);
    fake.restore();
    rmSync(root, { recursive: true, force: true });
  }
}

function count(w: World, kind: string): void {
  w.faults[kind] = (w.faults[kind] ?? 0) + 1;
}

/** Per-seed intensities: some seeds calm, some stormy. */
interface Chaos {
  net: { loss: number; dup: number; reorder: number; delay: number };
  faultRate: number;
}
function chaosProfile(random: Random): Chaos {
  const level = random.pick([0, 1, 2, 3]);
  const p = [0, 0.002, 0.01, 0.03][level]!;
  return {
    net: { loss: p, dup: p * 2, reorder: p, delay: p * 3 },
    faultRate: [0.02, 0.05, 0.1, 0.15][level]!,
  };
}

function lotConfig(lotId: string) {
  return LotConfigSchema.parse({
    id: lotId,
    name: `Sim ${lotId}`,
    timeZone: 'Europe/Amsterdam',
    location: { lat: 52.37, lng: 4.9 },
    rates: { currency: 'EUR', hourlyRate: 400, dailyMax: 3000, dynamicPricing: null },
    policy: {
      earlyArrivalMinutes: 15,
      exitGraceMinutes: 0,
      antiPassback: 'hard',
      plateMinConfidence: 0.8,
      refund: 'full_before_start',
      overflowTimeoutMs: 1500,
    },
    spots: [
      ...['A1', 'A2', 'A3'].map((id) => ({ id, label: id, level: '0', type: 'car', pool: 'bookable' })),
      ...['D1', 'D2'].map((id) => ({ id, label: id, level: '1', type: 'car', pool: 'driveup' })),
    ],
  });
}

/** Records each up/request the broker receives and marks it answered when its down/reply passes. */
function watchRequests(w: World): void {
  w.broker.onPublish = (topic, payload) => {
    const t = parseTopic(topic);
    if (!t || (t.channel !== 'request' && t.channel !== 'reply')) return;
    const m = decodeMessage(topic, payload);
    if (!m.ok) return;
    const body = m.value.message.body as {
      kind: string;
      correlationId: string;
      done?: boolean;
      part?: number;
      parts?: number;
    };
    if (t.channel === 'request') {
      if (body.kind === 'overflow_cancel') return;
      if (!w.requests.has(body.correlationId))
        w.requests.set(body.correlationId, {
          lotId: t.lotId,
          kind: body.kind,
          at: Date.now(),
          answeredAt: null,
        });
    } else {
      const r = w.requests.get(body.correlationId);
      if (r && r.answeredAt === null) r.answeredAt = Date.now();
    }
  };
}

async function startCloud(w: World, policy: InstanceIdPolicy, root: string): Promise<void> {
  const instanceId = await instanceIdFor(policy, w.cloudRestarts, join(root, 'cloud-data'));
  w.cloudRestarts++;
  const newIdRandom = seededRandom(w.random.int(2 ** 31));
  w.cloud = await startCloudSync({
    mqtt: {
      url: 'mqtt://broker.sim',
      instanceId,
      sharedSubscription: true,
      connect: w.broker.connector('cloud'),
    },
    changeLog: w.model,
    config: w.model,
    overflow: w.model.overflowPort(),
    reservations: w.model,
    store: w.syncStore,
    effects: w.model.effects((id, ok, detail, at) => w.syncStore.ackCommand(id, ok, detail, at)),
    clock: { now: () => Date.now() },
    logger: silentLogger(),
    newId: () => newIdRandom.id(20),
    tuning: { relayPollMs: 500 },
  });
}

/** The cloud process dies: its socket drops (no clean disconnect), its timers stop. */
function killCloud(w: World): void {
  const c = w.cloud;
  if (!c) return;
  w.broker.killGroup('cloud');
  w.cloud = null;
  void c.stop().catch(() => undefined);
}

async function startEdge(w: World, l: LotRuntime): Promise<void> {
  const lot = w.model.configs.get(l.lotId)!.lot;
  const config = parseEdgeConfig({
    lotId: l.lotId,
    lot,
    publicKeys: [w.publicKey],
    dbPath: join(l.dir, 'edge.sqlite'),
    lanes: [
      { id: LANES.entry, direction: 'entry', devices: 'sim' },
      { id: LANES.exit, direction: 'exit', devices: 'sim' },
    ],
    mqtt: { url: 'mqtt://broker.sim' },
  });
  const clock: Clock = { now: () => Date.now() + l.skewMs };
  const edgeRandom = seededRandom(w.random.int(2 ** 31));
  const edge = await createEdge(config, {
    clock,
    timers: systemTimers(),
    random: edgeRandom,
    logger: silentLogger(),
    simulator: simLaneFactory({ drivers: simulatedLibraryDrivers }),
    ui: false,
    startSync: (deps) =>
      startEdgeSync({
        ...deps,
        mqtt: { ...deps.mqtt, connect: w.broker.connector(l.lotId) },
        newId: () => edgeRandom.id(20),
      }),
  });
  await edge.start({ listen: false });
  l.edge = edge;
  for (const s of edge.sims.values()) l.lanesSeen.push(s);
}

/** The edge process dies at an arbitrary point: socket dropped, nothing flushed, the database closed. */
function crashEdge(w: World, l: LotRuntime): void {
  const e = l.edge;
  if (!e) return;
  w.broker.killGroup(l.lotId);
  l.edge = null;
  l.inside.clear();
  // Close the file first: whatever the dying process still does cannot reach it.
  try {
    e.store.close();
  } catch {
    /* already closed */
  }
  void e.stop().catch(() => undefined);
}

async function doStep(w: World, chaos: Chaos, policy: InstanceIdPolicy, root: string, step: number) {
  const r = w.random;
  await bootDue(w);
  w.broker.net = r.chance(0.3) ? chaos.net : { loss: 0, dup: 0, reorder: 0, delay: 0 };
  if (r.chance(chaos.faultRate)) await injectFault(w, policy, root);
  const l = r.pick(w.lots);
  const action = r.int(10);
  w.trace.push(`s${step} ${l.lotId} a${action}`);
  if (!l.edge) return;
  switch (action) {
    case 0:
    case 1:
      return book(w, l);
    case 2:
      return cancelSome(w, l);
    case 3:
    case 4:
    case 5:
      return arrive(w, l);
    case 6:
    case 7:
      return leave(w, l);
    case 8:
      if (w.cloud && r.chance(0.3)) {
        count(w, 'manual_open');
        void w.cloud
          .sendCommand(l.lotId, { kind: 'open_lane', laneId: LANES.entry, reason: 'sim', by: 'sim' })
          .catch(() => undefined);
      }
      return;
    default:
      w.model.sweep();
  }
}

async function injectFault(w: World, policy: InstanceIdPolicy, root: string): Promise<void> {
  const r = w.random;
  const kind = r.pick([
    'partition',
    'partition_all',
    'broker_restart',
    'cloud_restart',
    'edge_crash',
    'skew',
    'jump',
  ]);
  const l = r.pick(w.lots);
  count(w, kind);
  w.trace.push(`fault ${kind} ${l.lotId}`);
  switch (kind) {
    case 'partition':
    case 'partition_all': {
      const group = kind === 'partition' ? l.lotId : '*';
      w.broker.partition(group, true);
      setTimeout(() => w.broker.partition(group, false), 1000 + r.int(60_000));
      return;
    }
    case 'broker_restart':
      w.broker.restart(500 + r.int(10_000));
      return;
    case 'cloud_restart':
      if (!w.cloud) return;
      killCloud(w);
      await startCloud(w, policy, root);
      return;
    case 'edge_crash':
      if (!l.edge) return;
      crashEdge(w, l);
      startEdgeLater(l, 1000 + r.int(10_000));
      return;
    case 'skew':
      l.skewMs += r.int(240_000) - 120_000;
      return;
    case 'jump':
      l.skewMs += r.pick([3_600_000, -600_000, 86_400_000 / 24]);
      return;
  }
}

function startEdgeLater(l: LotRuntime, ms: number): void {
  // The dying incarnation finishes closing meanwhile; then a new one boots on the same file.
  l.restarts++;
  l.pendingBootAt = Date.now() + ms;
}

async function bootDue(w: World): Promise<void> {
  for (const l of w.lots)
    if (l.pendingBootAt !== null && l.pendingBootAt <= Date.now()) {
      l.pendingBootAt = null;
      await startEdge(w, l);
    }
}

// ---- traffic ----

function plateFor(w: World): string {
  return `SIM${w.random.int(60).toString().padStart(2, '0')}`;
}

function book(w: World, l: LotRuntime): void {
  const now = Date.now();
  const start = Math.floor(now / SLOT_MS) * SLOT_MS + w.random.int(3) * SLOT_MS;
  const end = start + (1 + w.random.int(6)) * SLOT_MS;
  const res = w.model.reserve(l.lotId, plateFor(w), start, end);
  w.trace.push(`book ${res ? res.spotId : 'refused'}`);
  if (res && w.random.chance(0.85)) w.model.pay(res.id);
  w.cloud?.changesCommitted(l.lotId);
}

function cancelSome(w: World, l: LotRuntime): void {
  const mine = [...w.model.reservations.values()].filter(
    (r) => r.lotId === l.lotId && (r.status === 'CONFIRMED' || r.status === 'TENTATIVE'),
  );
  if (mine.length === 0) return;
  const r = w.random.pick(mine);
  w.trace.push(`cancel ${w.model.cancel(r.id)}`);
  w.cloud?.changesCommitted(l.lotId);
}

function qrFor(r: Reservation): string {
  return signCredential(
    { rid: r.id, lot: r.lotId, plate: r.plate, start: Date.parse(r.start), end: Date.parse(r.end) },
    signingCache!.signing,
  );
}

function arrive(w: World, l: LotRuntime): void {
  const sim = l.edge!.sims.get(LANES.entry)!;
  if (sim.snapshot().busy) return;
  const booked = [...w.model.reservations.values()].filter(
    (r) => r.lotId === l.lotId && r.status === 'CONFIRMED' && !l.inside.has(r.plate),
  );
  const r = booked.length > 0 && w.random.chance(0.6) ? w.random.pick(booked) : null;
  const plate = r ? r.plate : plateFor(w);
  if (l.inside.has(plate)) return;
  const qr = r && w.random.chance(0.4) ? qrFor(r) : null;
  const edge = l.edge;
  sim
    .visit({ plate: w.random.chance(0.1) ? null : plate, qr, patienceMs: 8000 })
    .then((v) => {
      if (l.edge !== edge) return;
      w.trace.push(`in ${l.lotId} ${plate} ${v.admitted}`);
      if (v.admitted) l.inside.add(plate);
    })
    .catch(() => undefined);
}

function leave(w: World, l: LotRuntime): void {
  const sim = l.edge!.sims.get(LANES.exit)!;
  if (sim.snapshot().busy || l.inside.size === 0) return;
  const plate = w.random.pick([...l.inside].sort());
  const edge = l.edge;
  sim
    .visit({ plate, qr: null, patienceMs: 10_000 })
    .then((v) => {
      if (l.edge !== edge) return;
      w.trace.push(`out ${l.lotId} ${plate} ${v.admitted}`);
      if (v.admitted) l.inside.delete(plate);
    })
    .catch(() => undefined);
}

async function heal(w: World, policy: InstanceIdPolicy, root: string, fake: sinon.SinonFakeTimers) {
  w.broker.net = { loss: 0, dup: 0, reorder: 0, delay: 0 };
  w.broker.healAll();
  await fake.tickAsync(15_000);
  if (!w.cloud) await startCloud(w, policy, root);
  for (const l of w.lots)
    if (!l.edge) {
      l.pendingBootAt = null;
      await startEdge(w, l);
    }
  await fake.tickAsync(1000);
}

async function shutdown(w: World, fake: sinon.SinonFakeTimers): Promise<void> {
  const stops: Promise<unknown>[] = [];
  if (w.cloud) stops.push(w.cloud.stop().catch(() => undefined));
  for (const l of w.lots) if (l.edge) stops.push(l.edge.stop().catch(() => undefined));
  let done = false;
  void Promise.all(stops).then(() => {
    done = true;
  });
  for (let i = 0; i < 100 && !done; i++) await fake.tickAsync(100);
}

/** A RAM disk when there is one: the edge's fsyncs (synchronous=FULL) then cost nothing. */
function simTmp(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}
