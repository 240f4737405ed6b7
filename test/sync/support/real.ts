import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { buildTestCloud, lotBody, payCheckout, type TestCloud } from '../../../cloud/test/helpers.js';
import type { CloudSync } from '../../../cloud/sync/index.js';
import { startCloudSyncForApp } from '../../../cloud/sync/repo-adapter.js';
import { Connectivity } from '../../../edge/connectivity.js';
import { EdgeStore } from '../../../edge/store/store.js';
import { createSyncPort, type EdgeSyncPort } from '../../../edge/store/sync-port.js';
import { TestClock } from '../../../protocol/clock.js';
import type { LotConfig } from '../../../protocol/domain.js';
import { SLOT_MS } from '../../../protocol/slots.js';
import { type Accounts, logger } from './harness.js';

/** A TestClock that reads the wall clock (sync timers are real timers; the cloud wants a TestClock). */
export class LiveClock extends TestClock {
  offset = 0;
  constructor() {
    super(Date.now());
  }
  override now(): number {
    return Date.now() + this.offset;
  }
}

export interface RealCloud {
  cloud: TestCloud;
  clock: LiveClock;
  lotIds: string[];
  lotConfigs: Map<string, LotConfig>;
  driverToken: string;
  operatorToken: string;
  /** reserve + pay + complete over HTTP: a CONFIRMED booking. */
  book(
    lotId: string,
    plate: string,
    opts?: { startMs?: number; hours?: number },
  ): Promise<{ id: string; credential: string | null }>;
  cancel(id: string): Promise<void>;
  /** The lot's active-or-not reservations as the cloud has them: id → status. */
  statuses(lotId: string): Promise<Map<string, string>>;
  headSeq(lotId: string): Promise<number>;
  close(): Promise<void>;
}

/** The cloud app on PostgreSQL (DATABASE_URL) or PGlite, with lots of `bookable` + `driveup` spots. */
export async function realCloud(
  lotIds: string[],
  spots: { bookable: number; driveup: number; permit?: number } = { bookable: 24, driveup: 2 },
): Promise<RealCloud> {
  const clock = new LiveClock();
  const cloud = await buildTestCloud({ clock, logger });
  const op = await cloud.userWithToken('operator');
  const driver = await cloud.userWithToken('driver');
  const lotConfigs = new Map<string, LotConfig>();
  for (const lotId of lotIds) {
    const body = lotBody({ id: lotId });
    body.spots = [
      ...Array.from({ length: spots.bookable }, (_, i) => ({
        id: `s${i + 1}`,
        label: `A-${i + 1}`,
        level: '0',
        type: 'car' as const,
        pool: 'bookable' as const,
      })),
      ...Array.from({ length: spots.driveup }, (_, i) => ({
        id: `d${i + 1}`,
        label: `D-${i + 1}`,
        level: '0',
        type: 'car' as const,
        pool: 'driveup' as const,
      })),
      ...Array.from({ length: spots.permit ?? 0 }, (_, i) => ({
        id: `p${i + 1}`,
        label: `P-${i + 1}`,
        level: '0',
        type: 'car' as const,
        pool: 'permit' as const,
      })),
    ];
    const r = await cloud.call('POST', '/v1/lots', { token: op.token, body });
    if (r.status !== 201) throw new Error(`lot create: ${r.status} ${JSON.stringify(r.body)}`);
    const view = await cloud.app.lots.get(lotId);
    lotConfigs.set(lotId, {
      id: lotId,
      name: body.name,
      timeZone: body.timeZone,
      location: body.location,
      rates: view!.rates,
      policy: view!.policy,
      spots: body.spots,
    } as LotConfig);
  }
  const slotNow = () => Math.floor(clock.now() / SLOT_MS) * SLOT_MS;
  return {
    cloud,
    clock,
    lotIds,
    lotConfigs,
    driverToken: driver.token,
    operatorToken: op.token,
    async book(lotId, plate, opts = {}) {
      const start = opts.startMs ?? slotNow();
      const end = start + (opts.hours ?? 2) * 4 * SLOT_MS;
      const res = await cloud.call('POST', '/v1/reservations', {
        token: driver.token,
        body: {
          lotId,
          vehicleType: 'car',
          plate,
          start: new Date(start).toISOString(),
          end: new Date(end).toISOString(),
        },
      });
      if (res.status !== 201) throw new Error(`reserve: ${res.status} ${JSON.stringify(res.body)}`);
      const token = await payCheckout(cloud, res.body.paymentUrl);
      const done = await cloud.call('POST', `/v1/reservations/${res.body.id}/complete`, {
        token: driver.token,
        body: { paymentToken: token },
      });
      if (done.status !== 200) throw new Error(`complete: ${done.status} ${JSON.stringify(done.body)}`);
      return { id: res.body.id as string, credential: (done.body.credential as string | null) ?? null };
    },
    async cancel(id) {
      const r = await cloud.call('POST', `/v1/reservations/${id}/cancel`, { token: driver.token });
      if (r.status !== 200) throw new Error(`cancel: ${r.status} ${JSON.stringify(r.body)}`);
    },
    async statuses(lotId) {
      const rows = await cloud.db.rows<{ id: string; status: string }>(
        'select id, status from reservations where lot_id = $1',
        [lotId],
      );
      return new Map(rows.map((r) => [r.id, r.status]));
    },
    headSeq: (lotId) => cloud.app.changes.headSeq(lotId),
    close: () => cloud.close(),
  };
}

export async function realCloudSync(
  rc: RealCloud,
  url: string,
  acc: Accounts,
  opts: { instanceId?: string; sharedSubscription?: boolean } = {},
): Promise<CloudSync> {
  return startCloudSyncForApp(rc.cloud.app, {
    mqtt: {
      url,
      username: acc.cloud.username,
      password: acc.cloud.password,
      instanceId: opts.instanceId ?? `t${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      sharedSubscription: opts.sharedSubscription ?? false,
      reconnectPeriodMs: 100,
      keepaliveSec: 5,
    },
    logger,
    clock: rc.clock,
    metricsRegistry: new Registry(),
    tuning: { relayPollMs: 250, configPollMs: 250, effectsSweepMs: 250 },
  });
}

export interface RealEdge {
  store: EdgeStore;
  port: EdgeSyncPort;
  connectivity: Connectivity;
  path: string;
  /** Close the SQLite file (reopen with `reopen`). */
  close(): void;
  reopen(): RealEdge;
  remove(): void;
}

/** The edge's real SQLite store (a temp file) behind its sync port. */
export function realEdgeStore(lot: LotConfig, dir = mkdtempSync(join(tmpdir(), 'parkedge-sync-'))): RealEdge {
  const path = join(dir, 'edge.db');
  const open = (): RealEdge => {
    const clock = new LiveClock();
    const store = EdgeStore.open({ path, lotId: lot.id, clock, logger, fileConfig: { lot, publicKeys: [] } });
    const connectivity = new Connectivity('offline', clock.now());
    const port = createSyncPort({ store, connectivity, lanes: () => [] });
    return {
      store,
      port,
      connectivity,
      path,
      close: () => store.close(),
      reopen: () => open(),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  };
  return open();
}
