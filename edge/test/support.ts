import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import sinon from 'sinon';
import {
  hostClock,
  SIM_FAKE_TIMERS,
  type SimLaneFactory,
  type SimLaneControl,
  simLaneFactory,
} from '../../hardware-sim/index.js';
import { TestClock } from '../../protocol/clock.js';
import {
  generateSigningKey,
  type PublicKeyEntry,
  type SigningKey,
  signCredential,
} from '../../protocol/credential.js';
import {
  type LotConfig,
  LotConfigSchema,
  type Reservation,
  type ReservationStatus,
} from '../../protocol/domain.js';
import { silentLogger } from '../../protocol/logger.js';
import type { Change, GateEvent } from '../../protocol/mqtt.js';
import { seededRandom } from '../../protocol/random.js';
import { createEdge, type Edge } from '../app.js';
import { type EdgeConfigInput, parseEdgeConfig } from '../config.js';
import { simulatedLibraryDrivers } from '../devices/factory.js';
import { EdgeStore } from '../store/store.js';

// Captured before any test installs fake timers: lets real I/O (argon2's thread pool) complete.
const realSetImmediate = globalThis.setImmediate;

/** 2025-06-02T10:00:00Z, a Monday; Europe/Amsterdam is UTC+2 then (12:00 local). */
export const T0 = Date.UTC(2025, 5, 2, 10, 0, 0);
export const MIN = 60_000;
export const HOUR = 3_600_000;
export const LOT_ID = 'lot-test';

/** 6 bookable spots (4 car, 1 ev, 1 accessible) and `driveup` drive-up spots. */
export function testLot(
  options: { driveup?: number; policy?: Partial<LotConfig['policy']> } = {},
): LotConfig {
  const spots = [
    ...['A1', 'A2', 'A3', 'A4'].map((id) => ({
      id,
      label: `A-${id.slice(1)}`,
      level: '0',
      type: 'car',
      pool: 'bookable',
    })),
    { id: 'E1', label: 'E-1', level: '0', type: 'ev', pool: 'bookable' },
    { id: 'H1', label: 'H-1', level: '0', type: 'accessible', pool: 'bookable' },
    ...Array.from({ length: options.driveup ?? 2 }, (_, i) => ({
      id: `D${i + 1}`,
      label: `D-${i + 1}`,
      level: '1',
      type: 'car',
      pool: 'driveup',
    })),
  ];
  return LotConfigSchema.parse({
    id: LOT_ID,
    name: 'Test Lot',
    timeZone: 'Europe/Amsterdam',
    location: { lat: 52.37, lng: 4.9 },
    rates: { currency: 'EUR', hourlyRate: 400, dailyMax: 3000, dynamicPricing: null },
    policy: {
      earlyArrivalMinutes: 15,
      exitGraceMinutes: 0,
      antiPassback: 'hard',
      plateMinConfidence: 0.8,
      ...options.policy,
    },
    spots,
  });
}

let keyCache: { signing: SigningKey; publicEntry: PublicKeyEntry } | null = null;
/** One Ed25519 key per test process (generation is the slow part). */
export function testKey(): { signing: SigningKey; publicEntry: PublicKeyEntry } {
  keyCache ??= generateSigningKey('k1');
  return keyCache;
}

export function qrFor(
  r: { id: string; plate: string | null; startMs: number; endMs: number },
  lot = LOT_ID,
): string {
  return signCredential(
    { rid: r.id, lot, plate: r.plate, start: r.startMs, end: r.endMs },
    testKey().signing,
  );
}

export function reservation(
  r: Partial<Reservation> & {
    id: string;
    plate: string;
    startMs: number;
    endMs: number;
    status?: ReservationStatus;
  },
): Reservation {
  return {
    id: r.id,
    lotId: r.lotId ?? LOT_ID,
    spotId: r.spotId ?? 'A1',
    spotLabel: r.spotLabel ?? `A-${(r.spotId ?? 'A1').slice(1)}`,
    vehicleType: r.vehicleType ?? 'car',
    plate: r.plate,
    start: new Date(r.startMs).toISOString(),
    end: new Date(r.endMs).toISOString(),
    status: r.status ?? 'CONFIRMED',
    kind: r.kind ?? 'booking',
    price: r.price ?? { amount: 800, currency: 'EUR' },
  };
}

export function change(seq: number, r: Reservation, reason: Change['reason'] = 'confirmed'): Change {
  return { seq, at: new Date(T0).toISOString(), reason, reservation: r };
}

export function tempDir(prefix = 'parkedge-edge-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A store on a temp file with a TestClock. */
export function openTestStore(options: { lot?: LotConfig; clock?: TestClock; path?: string } = {}) {
  const tmp = options.path ? null : tempDir();
  const clock = options.clock ?? new TestClock(T0);
  const store = EdgeStore.open({
    path: options.path ?? join(tmp!.dir, 'edge.sqlite'),
    lotId: LOT_ID,
    clock,
    logger: silentLogger(),
    fileConfig: { lot: options.lot ?? testLot(), publicKeys: [testKey().publicEntry] },
  });
  return {
    store,
    clock,
    cleanup: () => {
      store.close();
      tmp?.cleanup();
    },
  };
}

export function edgeConfig(
  overrides: Partial<Omit<EdgeConfigInput, 'lot'>> & { dbPath: string; lot?: LotConfig },
) {
  return parseEdgeConfig({
    lotId: LOT_ID,
    lot: testLot(),
    publicKeys: [testKey().publicEntry],
    lanes: [
      { id: 'in-1', direction: 'entry', devices: 'sim' },
      { id: 'out-1', direction: 'exit', devices: 'sim' },
    ],
    attendant: { accounts: [{ username: 'alice', displayName: 'Alice', password: 'correct horse' }] },
    ...overrides,
  });
}

/** Simulated lanes for a test edge: hardware-sim running the real drivers. */
export function testSimulator(): SimLaneFactory {
  return simLaneFactory({ drivers: simulatedLibraryDrivers });
}

export interface SimEdge {
  edge: Edge<SimLaneControl>;
  fake: sinon.SinonFakeTimers;
  entry: SimLaneControl;
  exit: SimLaneControl;
  /** Move simulated time. */
  run(ms: number): Promise<void>;
  events(): GateEvent[];
  /** `http.inject` that keeps fake time (setImmediate) and real I/O moving until the reply is in. */
  inject(opts: InjectOptions): Promise<LightMyRequestResponse>;
  /** Await a promise that needs both faked immediates and real I/O to settle. */
  settle<T>(promise: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A whole edge on simulated lanes (real drivers on hardware-sim), sinon fake timers, a seeded
 * random and a temp SQLite file. Time moves only through `run`.
 */
export async function simEdge(
  options: {
    lot?: LotConfig;
    seed?: number;
    config?: Partial<Omit<EdgeConfigInput, 'lot'>>;
    startMs?: number;
  } = {},
): Promise<SimEdge> {
  const tmp = tempDir();
  const fake = sinon.useFakeTimers({ now: options.startMs ?? T0, toFake: [...SIM_FAKE_TIMERS.toFake] });
  const clock = hostClock();
  const settle = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    const tracked = promise.finally(() => {
      done = true;
    });
    while (!done) {
      await fake.tickAsync(0);
      if (!done) await new Promise((resolve) => realSetImmediate(resolve));
    }
    return tracked;
  };
  try {
    const config = edgeConfig({
      dbPath: join(tmp.dir, 'edge.sqlite'),
      ...(options.lot ? { lot: options.lot } : {}),
      ...options.config,
    });
    const edge = await createEdge(config, {
      clock,
      timers: clock,
      random: seededRandom(options.seed ?? 7),
      logger: silentLogger(),
      simulator: testSimulator(),
      ui: false,
      startSync: false,
    });
    await edge.start({ listen: false });
    const [entryId, exitId] = config.lanes.map((l) => l.id) as [string, string];
    return {
      edge,
      fake,
      entry: edge.sims.get(entryId)!,
      exit: edge.sims.get(exitId)!,
      run: async (ms) => {
        await fake.tickAsync(ms);
      },
      events: () => edge.store.ledger.eventsAfter(0, 100_000),
      inject: (opts) => settle(edge.http.inject(opts)),
      settle,
      close: async () => {
        await edge.stop();
        fake.restore();
        tmp.cleanup();
      },
    };
  } catch (e) {
    fake.restore();
    tmp.cleanup();
    throw e;
  }
}
