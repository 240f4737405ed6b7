import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Reservation } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import {
  type BodyOf,
  type Change,
  type Channel,
  type ConnectivityState,
  type DecodeFailure,
  decodeMessage,
  encodeMessage,
  PROTOCOL_VERSION,
  topics,
} from '../../protocol/mqtt.js';
import { SLOT_MS, slotOf, slotStartMs } from '../../protocol/slots.js';
import { type ConnectivityChange, ConnectivityMonitor } from './connectivity.js';
import { EdgeSyncMetrics } from './metrics.js';
import { OutboxPublisher } from './outbox.js';
import type {
  Command,
  EdgeSyncDeps,
  EdgeSyncTuning,
  LotConfigMessage,
  OutboxEvent,
  OverflowRequest,
  Status,
} from './ports.js';

export const DEFAULT_EDGE_SYNC_TUNING: EdgeSyncTuning = {
  heartbeatMs: 30_000,
  cloudTimeoutMs: 5_000,
  probeIntervalMs: 15_000,
  eventBatchSize: 500,
  maxInFlightBatches: 4,
  retransmitAfterMs: 10_000,
  outboxPollMs: 200,
  maxCommandAgeMs: 120_000,
  lateOverflowMemoryMs: 10 * 60_000,
};

const DEFAULT_OVERFLOW_TIMEOUT_MS = 1500;

/** Waits for p, at most ms; never rejects (shutdown must not hang on a dead link). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
const DEFAULT_OVERFLOW_HORIZON_MIN = 240;

export interface EdgeSyncEvents {
  connectivity: [ConnectivityChange];
  /** A config newer than the stored one was applied. */
  config: [LotConfigMessage];
  /** A change batch (live or resync) went through the store. */
  applied: [{ applied: number; skipped: number; cursor: number }];
  /** A message was dropped; reason is a DecodeFailure or 'wrong_lot'. */
  dropped: [{ topic: string; reason: DecodeFailure | 'wrong_lot' | 'handler_error'; message: string }];
  /** The cloud speaks a protocol major we do not (fleet skew); reported, message refused. */
  version_mismatch: [{ topic: string; message: string }];
  /** A resync (or snapshot) finished and the cursor caught up to what the cloud said its head was. */
  resynced: [{ cursor: number; snapshot: boolean }];
  /** A late overflow grant was cancelled. */
  overflow_cancelled: [{ correlationId: string; reservationId: string }];
}

export interface EdgeSyncStats {
  connectivity: ConnectivityState;
  connected: boolean;
  cursor: number;
  highestSeenSeq: number;
  ackedUpTo: number;
  sentUpTo: number;
  inFlightBatches: number;
  resyncInFlight: boolean;
  metrics: EdgeSyncMetrics;
}

export interface EdgeSync {
  readonly events: EventEmitter<EdgeSyncEvents>;
  /**
   * Ask the cloud for a drive-up booking in a bookable spot. Resolves the reservation when granted within
   * the deadline, null otherwise (refused, offline, degraded, timeout). Never rejects.
   */
  requestOverflow(request: OverflowRequest): Promise<Reservation | null>;
  /** Give a granted overflow booking back (e.g. the car backed out). */
  cancelOverflow(reservationId: string): Promise<void>;
  connectivity(): ConnectivityState;
  /** Call after writing gate events to the outbox so they go out without waiting for the poll. */
  notifyEventsWritten(): void;
  /** Publish a heartbeat now (e.g. after a lane state change). */
  publishStatus(): Promise<void>;
  stats(): Promise<EdgeSyncStats>;
  /** Publishes a retained offline status, stops timers, closes the connection. */
  stop(): Promise<void>;
}

interface ResyncState {
  correlationId: string;
  startedAt: number;
  cursorAtRequest: number;
  snapshot: { asOfSeq: number; parts: number; received: Map<number, Reservation[]> } | null;
}

interface PendingOverflow {
  resolve: (reservation: Reservation | null) => void;
  timer: NodeJS.Timeout;
}

/**
 * The lot's sync client (design/sync.md). One MQTT connection with a persistent session:
 * down/# in (changes, config, replies, commands, acks), up/* out (events, requests, status).
 */
export async function startEdgeSync(deps: EdgeSyncDeps): Promise<EdgeSync> {
  const { lotId, store, clock } = deps;
  const tuning: EdgeSyncTuning = { ...DEFAULT_EDGE_SYNC_TUNING, ...deps.tuning };
  tuning.eventBatchSize = Math.min(1000, Math.max(1, tuning.eventBatchSize));
  const log: Logger = deps.logger.child({ component: 'edge-sync', lotId });
  const newId = deps.newId ?? randomUUID;
  const metrics = new EdgeSyncMetrics(deps.metricsRegistry);
  const emitter = new EventEmitter<EdgeSyncEvents>();
  const connectivity = new ConnectivityMonitor(clock, tuning.cloudTimeoutMs);

  let client: MqttClient | null = null;
  let stopped = false;
  let connected = false;
  let highestSeenSeq = 0;
  let resync: ResyncState | null = null;
  let resyncAgain = false;
  let lastResyncAt = 0;
  let lastConfig: LotConfigMessage | null = null;
  const pendingOverflow = new Map<string, PendingOverflow>();
  const abandonedOverflow = new Map<string, number>();
  const commandsRunning = new Set<string>();
  const timers: NodeJS.Timeout[] = [];

  // Inbound messages are handled one at a time, in arrival order.
  let inbound: Promise<void> = Promise.resolve();
  const enqueue = (fn: () => Promise<void>): void => {
    inbound = inbound.then(fn).catch((error: unknown) => log.error({ err: error }, 'sync handler failed'));
  };

  const message = <C extends Channel>(channel: C, body: BodyOf<C>): Buffer =>
    encodeMessage(channel, body, { id: newId(), sentAt: new Date(clock.now()).toISOString() });

  const publish = async (channel: 'events' | 'request' | 'status', payload: Buffer, retain = false) => {
    const c = client;
    if (!c || !connected) throw new Error('not connected');
    await c.publishAsync(topics.up(lotId, channel), payload, { qos: 1, retain });
  };

  const outbox = new OutboxPublisher(
    store,
    async (events: OutboxEvent[]) => {
      metrics.batchPublished();
      await publish('events', message('events', { events: events as BodyOf<'events'>['events'] }));
    },
    clock,
    log.child({ part: 'outbox' }),
    {
      batchSize: tuning.eventBatchSize,
      maxInFlightBatches: tuning.maxInFlightBatches,
      retransmitAfterMs: tuning.retransmitAfterMs,
    },
  );
  outbox.onWaiting = (waiting) =>
    waiting ? connectivity.expect('outbox') : connectivity.fulfilled('outbox');

  connectivity.on('change', (change) => {
    metrics.connectivity(change.state);
    log.info({ state: change.state, previous: change.previous, reason: change.reason }, 'connectivity');
    Promise.resolve(store.setConnectivity(change.state, change.sinceMs)).catch((error: unknown) =>
      log.error({ err: error }, 'store.setConnectivity failed'),
    );
    emitter.emit('connectivity', change);
  });
  metrics.connectivity(connectivity.state);
  await store.setConnectivity(connectivity.state, connectivity.sinceMs);

  // ---- status / heartbeat -------------------------------------------------------------------

  const statusBody = async (state: 'online' | 'offline'): Promise<Status> => {
    const health = await store.health();
    return {
      state,
      edgeVersion: deps.edgeVersion.slice(0, 32),
      protocolVersion: PROTOCOL_VERSION,
      lastAppliedSeq: await store.getCursor(),
      lastEventId: await store.lastEventId(),
      outboxDepth: await store.outboxDepth(),
      configVersion: await store.configVersion(),
      occupancy: health.occupancy,
      lanes: health.lanes.slice(0, 64),
      clock: new Date(clock.now()).toISOString(),
    };
  };

  const publishStatus = async (): Promise<void> => {
    if (!connected) return;
    try {
      await publish('status', message('status', await statusBody('online')), true);
    } catch (error) {
      log.debug({ err: error }, 'status publish failed');
    }
  };

  const refreshWill = async (): Promise<void> => {
    if (!client) return;
    const payload = message('status', await statusBody('offline'));
    client.options.will = { topic: topics.up(lotId, 'status'), payload, qos: 1, retain: true };
  };

  // ---- down: changes and resync -------------------------------------------------------------

  const requestResync = async (reason: string): Promise<void> => {
    if (!connected || stopped) return;
    if (resync) {
      resyncAgain = true;
      return;
    }
    const cursor = await store.getCursor();
    const correlationId = newId();
    resync = { correlationId, startedAt: clock.now(), cursorAtRequest: cursor, snapshot: null };
    lastResyncAt = clock.now();
    resyncAgain = false;
    metrics.resync('request');
    connectivity.expect('resync');
    log.debug({ reason, fromSeq: cursor, correlationId }, 'resync requested');
    // Not awaited (the PUBACK may only come after a reconnect): an unanswered request is retried by the tick.
    publish('request', message('request', { kind: 'resync', correlationId, fromSeq: cursor })).catch(
      (error: unknown) => {
        log.debug({ err: error }, 'resync request not sent');
        if (resync?.correlationId === correlationId) {
          resync = null;
          connectivity.fulfilled('resync');
        }
      },
    );
  };

  const applyChanges = async (changes: readonly Change[]): Promise<void> => {
    if (changes.length === 0) return;
    const sorted = [...changes].sort((a, b) => a.seq - b.seq);
    highestSeenSeq = Math.max(highestSeenSeq, sorted[sorted.length - 1]!.seq);
    const result = await store.applyChanges(sorted);
    metrics.applied(result.applied, result.skipped);
    const cursor = await store.getCursor();
    emitter.emit('applied', { applied: result.applied, skipped: result.skipped, cursor });
    if (result.gapFrom !== undefined) {
      metrics.gaps++;
      log.info({ gapFrom: result.gapFrom, first: sorted[0]!.seq }, 'gap in the change stream; resyncing');
      await requestResync('gap');
    }
  };

  const finishResync = async (snapshot: boolean): Promise<void> => {
    const finished = resync;
    resync = null;
    connectivity.fulfilled('resync');
    const cursor = await store.getCursor();
    const progressed = finished !== null && cursor > finished.cursorAtRequest;
    if (highestSeenSeq > cursor || resyncAgain) {
      // Something newer was seen (or asked for) while this resync ran. Go again right away if it made
      // progress; otherwise leave it to the probe so a stuck store cannot spin us.
      if (progressed || resyncAgain) {
        await requestResync('behind after resync');
        return;
      }
      // No progress: what we saw was not real (or not there yet); trust the cloud's head and let the
      // probe look again later.
      highestSeenSeq = cursor;
    }
    emitter.emit('resynced', { cursor, snapshot });
  };

  const onReply = async (body: BodyOf<'reply'>): Promise<void> => {
    switch (body.kind) {
      case 'resync': {
        highestSeenSeq = Math.max(highestSeenSeq, body.headSeq);
        await applyChanges(body.changes);
        if (resync?.correlationId === body.correlationId) {
          resync.startedAt = clock.now();
          if (body.done) await finishResync(false);
        }
        return;
      }
      case 'snapshot': {
        if (resync?.correlationId !== body.correlationId) return; // parts of an abandoned request
        resync.startedAt = clock.now();
        resync.snapshot ??= { asOfSeq: body.asOfSeq, parts: body.parts, received: new Map() };
        const snap = resync.snapshot;
        if (snap.asOfSeq !== body.asOfSeq || snap.parts !== body.parts) {
          log.warn({ correlationId: body.correlationId }, 'inconsistent snapshot parts; asking again');
          resync = null;
          connectivity.fulfilled('resync');
          await requestResync('bad snapshot');
          return;
        }
        snap.received.set(body.part, body.reservations);
        if (snap.received.size < snap.parts) return;
        const all: Reservation[] = [];
        for (let i = 0; i < snap.parts; i++) all.push(...(snap.received.get(i) ?? []));
        await store.applySnapshot(all, snap.asOfSeq);
        metrics.resync('snapshot');
        highestSeenSeq = Math.max(highestSeenSeq, snap.asOfSeq);
        log.info({ asOfSeq: snap.asOfSeq, reservations: all.length }, 'snapshot applied');
        await finishResync(true);
        return;
      }
      case 'overflow':
        onOverflowReply(body);
        return;
      case 'error':
        log.warn({ correlationId: body.correlationId, message: body.message }, 'cloud refused a request');
        if (resync?.correlationId === body.correlationId) {
          resync = null;
          connectivity.fulfilled('resync');
        }
        settleOverflow(body.correlationId, null);
        return;
    }
  };

  // ---- config ---------------------------------------------------------------------------------

  const onConfig = async (body: LotConfigMessage): Promise<void> => {
    if (body.lot.id !== lotId) {
      metrics.drop('wrong_lot');
      log.warn({ configLot: body.lot.id }, 'config for another lot dropped');
      return;
    }
    lastConfig = body;
    const held = await store.configVersion();
    if (body.version <= held) return;
    await store.setConfig(body);
    log.info({ version: body.version, previous: held }, 'config applied');
    emitter.emit('config', body);
  };

  // ---- commands -------------------------------------------------------------------------------

  const onCommand = (command: Command, sentAt: string): void => {
    const { commandId } = command;
    if (commandsRunning.has(commandId)) return;
    commandsRunning.add(commandId);
    (async () => {
      if (await store.commandSeen(commandId)) {
        log.debug({ commandId }, 'duplicate command ignored');
        return;
      }
      const ageMs = clock.now() - Date.parse(sentAt);
      if (ageMs > tuning.maxCommandAgeMs) {
        log.warn({ commandId, ageMs }, 'stale command refused');
        await store.recordCommandAck(commandId, false, `expired: sent ${Math.round(ageMs / 1000)} s ago`);
      } else {
        let outcome: { ok: boolean; detail: string };
        try {
          outcome = await deps.onCommand(command);
        } catch (error) {
          outcome = { ok: false, detail: error instanceof Error ? error.message : String(error) };
        }
        metrics.commandsExecuted++;
        await store.recordCommandAck(commandId, outcome.ok, outcome.detail.slice(0, 200));
      }
      outbox.kick();
    })()
      .catch((error: unknown) => log.error({ err: error, commandId }, 'command failed'))
      .finally(() => commandsRunning.delete(commandId));
  };

  // ---- overflow -------------------------------------------------------------------------------

  const settleOverflow = (correlationId: string, reservation: Reservation | null): boolean => {
    const pending = pendingOverflow.get(correlationId);
    if (!pending) return false;
    pendingOverflow.delete(correlationId);
    clearTimeout(pending.timer);
    pending.resolve(reservation);
    return true;
  };

  const sendOverflowCancel = async (
    reservationId: string,
    correlationId: string = newId(),
  ): Promise<void> => {
    await publish('request', message('request', { kind: 'overflow_cancel', correlationId, reservationId }));
  };

  const onOverflowReply = (body: Extract<BodyOf<'reply'>, { kind: 'overflow' }>): void => {
    const granted = body.granted && body.reservation !== null ? body.reservation : null;
    if (settleOverflow(body.correlationId, granted)) return;
    abandonedOverflow.delete(body.correlationId);
    if (granted) {
      // Nobody waits for this grant any more (timed out, or asked before a restart): give it back.
      metrics.overflowCancelled++;
      log.info(
        { correlationId: body.correlationId, reservationId: granted.id },
        'late overflow grant cancelled',
      );
      emitter.emit('overflow_cancelled', { correlationId: body.correlationId, reservationId: granted.id });
      sendOverflowCancel(granted.id).catch((error: unknown) =>
        log.warn({ err: error, reservationId: granted.id }, 'overflow cancel not sent'),
      );
    }
  };

  const requestOverflow = async (request: OverflowRequest): Promise<Reservation | null> => {
    if (stopped || !connected || connectivity.state !== 'online') {
      log.debug({ state: connectivity.state }, 'no overflow while not online');
      return null;
    }
    const policy = lastConfig?.lot.policy;
    const timeoutMs = request.timeoutMs ?? policy?.overflowTimeoutMs ?? DEFAULT_OVERFLOW_TIMEOUT_MS;
    const horizonMs = (policy?.overflowHorizonMinutes ?? DEFAULT_OVERFLOW_HORIZON_MIN) * 60_000;
    const now = clock.now();
    const startMs = request.startMs ?? slotStartMs(slotOf(now));
    const endMs = request.endMs ?? Math.ceil((now + horizonMs) / SLOT_MS) * SLOT_MS;
    const correlationId = newId();
    return new Promise<Reservation | null>((resolve) => {
      const timer = setTimeout(() => {
        if (!pendingOverflow.has(correlationId)) return;
        pendingOverflow.delete(correlationId);
        abandonedOverflow.set(correlationId, clock.now() + tuning.lateOverflowMemoryMs);
        log.info({ correlationId, timeoutMs }, 'overflow request timed out');
        resolve(null);
      }, timeoutMs);
      timer.unref?.();
      pendingOverflow.set(correlationId, { resolve, timer });
      publish(
        'request',
        message('request', {
          kind: 'overflow',
          correlationId,
          plate: request.plate,
          vehicleType: request.vehicleType,
          start: new Date(startMs).toISOString(),
          end: new Date(endMs).toISOString(),
          deadline: new Date(now + timeoutMs).toISOString(),
        }),
      ).catch((error: unknown) => {
        log.debug({ err: error }, 'overflow request not sent');
        settleOverflow(correlationId, null);
      });
    });
  };

  // ---- inbound dispatch ---------------------------------------------------------------------

  const drop = (topic: string, reason: DecodeFailure | 'wrong_lot' | 'handler_error', text: string): void => {
    metrics.drop(reason);
    log.warn({ topic, reason, detail: text }, 'mqtt message dropped');
    emitter.emit('dropped', { topic, reason, message: text });
  };

  const onMessage = (topic: string, payload: Buffer, retained: boolean): void => {
    const decoded = decodeMessage(topic, payload);
    if (!decoded.ok) {
      if (decoded.error.reason === 'version_unsupported') {
        metrics.versionMismatches++;
        log.error(
          { topic, detail: decoded.error.message },
          'protocol major version mismatch: message refused',
        );
        emitter.emit('version_mismatch', { topic, message: decoded.error.message });
      }
      drop(topic, decoded.error.reason, decoded.error.message);
      return;
    }
    const { topic: parsed, message: msg } = decoded.value;
    if (parsed.lotId !== lotId || parsed.direction !== 'down') {
      drop(topic, 'wrong_lot', `topic for lot ${parsed.lotId}`);
      return;
    }
    if (!retained) connectivity.cloudHeard();
    switch (msg.type) {
      case 'changes': {
        const body = msg.body as BodyOf<'changes'>;
        enqueue(() => applyChanges(body.changes));
        return;
      }
      case 'reply': {
        const body = msg.body as BodyOf<'reply'>;
        // Overflow answers must not wait behind a long resync apply.
        if (body.kind === 'overflow') onOverflowReply(body);
        else enqueue(() => onReply(body));
        return;
      }
      case 'config': {
        const body = msg.body as BodyOf<'config'>;
        enqueue(() => onConfig(body));
        return;
      }
      case 'command':
        onCommand(msg.body as BodyOf<'command'>, msg.sentAt);
        return;
      case 'ack': {
        const { upTo } = msg.body as BodyOf<'ack'>;
        enqueue(async () => {
          await outbox.onAck(upTo);
          metrics.acked(outbox.ackedUpTo);
        });
        return;
      }
      default:
        drop(topic, 'type_mismatch', `unexpected ${msg.type}`);
    }
  };

  // ---- connection ---------------------------------------------------------------------------

  const onConnect = async (): Promise<void> => {
    const c = client;
    if (!c) return;
    connected = true;
    connectivity.brokerConnected();
    // Nothing here waits for the broker's acknowledgements: the queue must never stall on a link that
    // dropped again. Packets leave in order on one connection, so the broker has the subscription
    // before it sees the resync request, and the reply cannot be missed.
    c.subscribeAsync(topics.lotDownFilter(lotId), { qos: 1 }).catch((error: unknown) =>
      log.error({ err: error }, 'subscription to down/# refused'),
    );
    await refreshWill().catch(() => {});
    void publishStatus();
    await requestResync('connect');
    await outbox.init();
    outbox.connected();
  };

  await outbox.init();
  const options: IClientOptions = {
    clientId: deps.mqtt.clientId ?? `edge-${lotId}`,
    clean: false,
    protocolVersion: 4,
    keepalive: deps.mqtt.keepaliveSec ?? 30,
    reconnectPeriod: deps.mqtt.reconnectPeriodMs ?? 1000,
    connectTimeout: deps.mqtt.connectTimeoutMs ?? 10_000,
    resubscribe: false,
    username: deps.mqtt.username,
    password: deps.mqtt.password,
    will: {
      topic: topics.up(lotId, 'status'),
      payload: message('status', await statusBody('offline')),
      qos: 1,
      retain: true,
    },
    ...(deps.mqtt.tls ?? {}),
  };
  client = mqtt.connect(deps.mqtt.url, options);
  client.on('connect', () => {
    enqueue(onConnect);
  });
  client.on('close', () => {
    if (connected) log.info('broker connection closed');
    connected = false;
    resync = null;
    connectivity.brokerDisconnected();
    outbox.disconnected();
    for (const id of [...pendingOverflow.keys()]) settleOverflow(id, null);
  });
  client.on('error', (error) => log.warn({ err: error }, 'mqtt error'));
  client.on('message', (topic, payload, packet) => {
    try {
      onMessage(topic, payload, packet.retain === true);
    } catch (error) {
      drop(topic, 'handler_error', error instanceof Error ? error.message : String(error));
    }
  });

  // ---- timers ---------------------------------------------------------------------------------

  const every = (ms: number, fn: () => void): void => {
    const t = setInterval(() => {
      try {
        fn();
      } catch (error) {
        log.error({ err: error }, 'sync timer failed');
      }
    }, ms);
    t.unref?.();
    timers.push(t);
  };
  const tickMs = Math.max(20, Math.min(250, Math.floor(tuning.cloudTimeoutMs / 4)));
  every(tickMs, () => {
    connectivity.tick();
    outbox.tick();
    const now = clock.now();
    if (
      connected &&
      resync &&
      now - resync.startedAt > Math.max(tuning.cloudTimeoutMs, tuning.probeIntervalMs)
    ) {
      // No answer for a long time: forget the request and ask again.
      resync = null;
      enqueue(() => requestResync('retry'));
    } else if (connected && !resync && now - lastResyncAt > tuning.probeIntervalMs) {
      enqueue(() => requestResync('probe'));
    }
    for (const [id, until] of abandonedOverflow) if (until < now) abandonedOverflow.delete(id);
  });
  every(tuning.outboxPollMs, () => outbox.kick());
  every(tuning.heartbeatMs, () => {
    void publishStatus();
    void refreshWill().catch(() => {});
  });

  return {
    events: emitter,
    requestOverflow,
    cancelOverflow: (reservationId) => sendOverflowCancel(reservationId),
    connectivity: () => connectivity.state,
    notifyEventsWritten: () => outbox.kick(),
    publishStatus,
    stats: async () => ({
      connectivity: connectivity.state,
      connected,
      cursor: await store.getCursor(),
      highestSeenSeq,
      ackedUpTo: outbox.ackedUpTo,
      sentUpTo: outbox.sentUpTo,
      inFlightBatches: outbox.inFlightBatches,
      resyncInFlight: resync !== null,
      metrics,
    }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearInterval(t);
      for (const id of [...pendingOverflow.keys()]) settleOverflow(id, null);
      const c = client;
      if (c) {
        if (connected) {
          try {
            const payload = message('status', await statusBody('offline'));
            await Promise.race([
              c.publishAsync(topics.up(lotId, 'status'), payload, { qos: 1, retain: true }),
              new Promise((r) => setTimeout(r, 1000).unref?.()),
            ]);
          } catch {
            // best effort: the will says the same thing
          }
        }
        await within(c.endAsync(true), 2000);
      }
      await within(inbound, 2000);
      await within(outbox.idle(), 2000);
      connected = false;
    },
  };
}
