import { Registry } from 'prom-client';
import {
  type BrokerCredentials,
  MemoryCredentialStore,
  createCloudCredentials,
  createLotCredentials,
} from '../../../cloud/broker/credentials.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../../cloud/broker/embedded.js';
import { type CloudSync, startCloudSync } from '../../../cloud/sync/index.js';
import type { CloudSyncDeps } from '../../../cloud/sync/ports.js';
import { type EdgeSync, startEdgeSync } from '../../../edge/sync/client.js';
import type { CommandHandler, EdgeSyncDeps, EdgeSyncStore } from '../../../edge/sync/ports.js';
import { systemClock } from '../../../protocol/clock.js';
import { type Logger, createLogger, silentLogger } from '../../../protocol/logger.js';

export const logger: Logger = process.env.SYNC_TEST_LOG
  ? createLogger({ level: process.env.SYNC_TEST_LOG, pretty: false })
  : silentLogger();

/** Bounded polling of a condition: no fixed sleeps. Throws with `what` after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Accounts {
  cloud: BrokerCredentials;
  lots: Map<string, BrokerCredentials>;
  all(): BrokerCredentials[];
}

export function accounts(lotIds: readonly string[]): Accounts {
  const cloud = createCloudCredentials();
  const lots = new Map(lotIds.map((id) => [id, createLotCredentials(id)]));
  return { cloud, lots, all: () => [cloud, ...lots.values()] };
}

export async function embeddedBroker(acc: Accounts, port = 0): Promise<EmbeddedBroker> {
  const credentials = await MemoryCredentialStore.fromCredentials(acc.all());
  return startEmbeddedBroker({ credentials, logger, port });
}

/** Fast timings so tests finish quickly; individual tests override. */
export const FAST_EDGE_TUNING = {
  heartbeatMs: 1000,
  cloudTimeoutMs: 1500,
  probeIntervalMs: 2000,
  retransmitAfterMs: 2000,
  outboxPollMs: 50,
};

export async function edge(
  url: string,
  acc: Accounts,
  lotId: string,
  store: EdgeSyncStore,
  over: Partial<EdgeSyncDeps> & { onCommand?: CommandHandler } = {},
): Promise<EdgeSync> {
  const cred = acc.lots.get(lotId)!;
  return startEdgeSync({
    lotId,
    edgeVersion: '0.1.0-test',
    mqtt: { url, username: cred.username, password: cred.password, reconnectPeriodMs: 100, keepaliveSec: 5 },
    store,
    onCommand: over.onCommand ?? (async () => ({ ok: true, detail: 'done' })),
    clock: systemClock,
    logger,
    metricsRegistry: new Registry(),
    ...over,
    tuning: { ...FAST_EDGE_TUNING, ...over.tuning },
  });
}

export async function cloud(
  url: string,
  acc: Accounts,
  deps: Omit<CloudSyncDeps, 'mqtt' | 'clock' | 'logger'> & Partial<Pick<CloudSyncDeps, 'clock' | 'logger'>>,
  mqtt: { instanceId?: string; sharedSubscription?: boolean; sessionExpirySec?: number } = {},
): Promise<CloudSync> {
  return startCloudSync({
    clock: systemClock,
    logger,
    metricsRegistry: new Registry(),
    ...deps,
    mqtt: {
      url,
      username: acc.cloud.username,
      password: acc.cloud.password,
      instanceId: mqtt.instanceId ?? `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      sharedSubscription: mqtt.sharedSubscription ?? false,
      ...(mqtt.sessionExpirySec !== undefined ? { sessionExpirySec: mqtt.sessionExpirySec } : {}),
      reconnectPeriodMs: 100,
      keepaliveSec: 5,
    },
    tuning: { relayPollMs: 200, configPollMs: 200, ...deps.tuning },
  });
}

export type { CloudSync, EdgeSync };
