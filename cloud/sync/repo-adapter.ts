import { moneySourceOver } from '../exit-payments/money-state.js';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import type { Registry } from 'prom-client';
import type { Clock } from '../../protocol/clock.js';
import { ACTIVE_STATUSES } from '../../protocol/domain.js';
import type { Logger } from '../../protocol/logger.js';
import { ConfigBody } from '../../protocol/mqtt.js';
import type { Queryable } from '../db/database.js';
import { CORE_COLS, type ReservationCoreRow, toReservation } from '../repositories/reservations.js';
import { type CloudSync, startCloudSync } from './index.js';
import { PgSyncStore } from './pg-store.js';
import type {
  ChangeLog,
  ChangeNotifications,
  CloudMqttOptions,
  CloudSyncTuning,
  ConfigSource,
  LotConfigMessage,
  OverflowAsk,
  OverflowBooking,
  ReservationEffects,
  Sql,
  SqlResult,
} from './ports.js';

/**
 * Binds the sync ports to the cloud's repositories (app.changes, app.reservations, app.lots) and
 * tables. Reads of the cloud's tables here are plain parameterised SELECTs; every write to them goes
 * through the cloud's repository functions.
 */

export function changeLogPort(app: FastifyInstance): ChangeLog {
  const { db } = app;
  return {
    headSeq: (lotId) => app.changes.headSeq(lotId),
    changesSince: (lotId, fromSeq, limit) => app.changes.changesSince(lotId, fromSeq, limit),
    async heads() {
      const rows = await db.rows<{ lot_id: string; seq: number | string }>(
        'select lot_id, seq from lot_seq where seq > 0',
      );
      return rows.map((r) => ({ lotId: r.lot_id, headSeq: Number(r.seq) }));
    },
    async logFloor(lotId) {
      // An explicit floor (lot_log_floor, written by whoever prunes), else what the log shows: if the
      // oldest entry kept is above 1, everything below it is gone.
      const rows = await db.rows<{ floor: number | string }>(
        `select greatest(
           coalesce((select floor_seq from lot_log_floor where lot_id = $1), 0),
           coalesce((select min(seq) - 1 from lot_changes where lot_id = $1),
                    (select seq from lot_seq where lot_id = $1), 0)) as floor`,
        [lotId],
      );
      return Number(rows[0]?.floor ?? 0);
    },
    async snapshot(lotId, nowMs) {
      return db.tx(async (q) => {
        // One consistent view: the reservations exactly as of asOfSeq.
        await q.query('set transaction isolation level repeatable read');
        const head = await q.query<{ seq: number | string }>('select seq from lot_seq where lot_id = $1', [
          lotId,
        ]);
        const rows = await q.query<ReservationCoreRow>(
          `select ${CORE_COLS}
             from reservations where lot_id = $1 and status = any($2::text[]) and end_at > $3 order by id`,
          [lotId, ACTIVE_STATUSES, new Date(nowMs).toISOString()],
        );
        const permits = await app.permits.live(q, lotId, nowMs);
        return {
          asOfSeq: Number(head.rows[0]?.seq ?? 0),
          reservations: rows.rows.map(toReservation),
          permits,
        };
      });
    },
  };
}

/**
 * LISTEN lot_changes on a dedicated connection (never a pooled one), plus the relay leader lock
 * (a session advisory lock on the same connection: if this instance dies, the lock goes with it).
 * Reconnects on the next poll after the connection drops.
 */
export function pgChangeNotifications(
  clientConfig: pg.ClientConfig,
  logger: Logger,
  channel = 'lot_changes',
): ChangeNotifications {
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let onLot: ((lotId: string) => void) | null = null;
  let leader = false;
  let closed = false;

  const connect = (): Promise<pg.Client> => {
    if (client) return Promise.resolve(client);
    connecting ??= (async () => {
      const c = new pg.Client(clientConfig);
      c.on('error', (error) => {
        logger.warn({ err: error }, 'LISTEN connection lost');
        if (client === c) {
          client = null;
          leader = false;
        }
      });
      c.on('end', () => {
        if (client === c) {
          client = null;
          leader = false;
        }
      });
      c.on('notification', (n) => {
        if (n.channel === channel && n.payload) onLot?.(n.payload);
      });
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      client = c;
      return c;
    })().finally(() => {
      connecting = null;
    });
    return connecting;
  };

  return {
    async listen(cb) {
      onLot = cb;
      await connect();
      return async () => {
        closed = true;
        onLot = null;
        const c = client;
        client = null;
        leader = false;
        await c
          ?.end()
          .catch((err: unknown) => logger.warn({ err }, 'LISTEN connection did not close cleanly'));
      };
    },
    async tryLead() {
      if (closed) return false;
      try {
        const c = await connect();
        if (!leader) {
          const r = await c.query<{ ok: boolean }>(
            `select pg_try_advisory_lock(hashtext('parkedge.sync.relay:' || current_schema())) as ok`,
          );
          leader = r.rows[0]?.ok === true;
        }
        return leader;
      } catch (error) {
        logger.warn({ err: error }, 'relay leader check failed');
        return false;
      }
    },
  };
}

export function configSourcePort(app: FastifyInstance): ConfigSource {
  const { db, signingKeys } = app;
  // A lot's config version = its own version + the key ring's generation: both only grow, so a
  // rotation or revocation republishes every lot's config with the new key list.
  return {
    async versions() {
      await signingKeys.refresh();
      const generation = signingKeys.generation();
      const rows = await db.rows<{ id: string; version: number }>('select id, version from lots order by id');
      return rows.map((r) => ({ lotId: r.id, version: Number(r.version) + generation }));
    },
    async config(lotId): Promise<LotConfigMessage | null> {
      const config = await app.lots.config(lotId);
      if (!config) return null;
      const body = {
        ...config,
        version: config.version + signingKeys.generation(),
        publicKeys: signingKeys.publicKeys(app.clock.now()),
      };
      return ConfigBody.parse(body);
    },
  };
}

export function overflowPort(app: FastifyInstance): OverflowBooking {
  return {
    async book(ask: OverflowAsk) {
      const r = await app.reservations.reserveDriveUp({
        lotId: ask.lotId,
        plate: ask.plate,
        vehicleType: ask.vehicleType,
        startMs: ask.startMs,
        endMs: ask.endMs,
        // Exactly once per edge request: a redelivered request gets the same booking back.
        requestKey: `overflow:${ask.lotId}:${ask.correlationId}`,
      });
      if (!r.ok) return { granted: false, reason: r.error.message.slice(0, 200) };
      return { granted: true, reservation: r.value };
    },
    async cancel(lotId, reservationId) {
      const row = await app.reservations.get(reservationId);
      if (!row || row.lot_id !== lotId || row.kind !== 'driveup')
        return { cancelled: false, reason: 'not a drive-up of this lot' };
      if (row.status === 'CANCELLED') return { cancelled: true };
      const r = await app.reservations.cancel(reservationId);
      return r.ok ? { cancelled: true } : { cancelled: false, reason: r.error.message };
    },
  };
}

export function reservationEffectsPort(app: FastifyInstance, logger: Logger): ReservationEffects {
  return {
    async checkIn(lotId, reservationId, atMs, factKey) {
      const r = await app.reservations.checkIn({ lotId, reservationId, atMs, factKey, enforceWindow: false });
      // A refusal is recorded as the fact's outcome by the repository: logged, not retried.
      if (!r.ok)
        logger.warn({ lotId, reservationId, factKey, refusal: r.error.error }, 'gate entry not applied');
    },
    async depart(lotId, reservationId, atMs, _exit, factKey) {
      const r = await app.reservations.depart({ lotId, reservationId, atMs, factKey, enforceWindow: false });
      if (!r.ok)
        logger.warn({ lotId, reservationId, factKey, refusal: r.error.error }, 'gate exit not applied');
    },
  };
}

/** The cloud's pooled handle as the sync port's `Sql` (the caller names the row type, as with pg). */
function asSql(q: Queryable): Sql {
  return {
    async query<R>(text: string, params?: unknown[]): Promise<SqlResult<R>> {
      const r = await q.query(text, params);
      return { rows: r.rows as R[], rowCount: r.rowCount };
    },
  };
}

/** What a Database may offer for NOTIFY without a socket (PGlite in process). */
type InProcessListen = (
  channel: string,
  onPayload: (payload: string) => void,
) => Promise<() => Promise<void>>;

export interface StartCloudSyncForAppOptions {
  mqtt: CloudMqttOptions;
  logger?: Logger;
  clock?: Clock;
  tuning?: Partial<CloudSyncTuning>;
  metricsRegistry?: Registry;
  /** LISTEN for lot_changes on a dedicated connection (default: on PostgreSQL, off on PGlite). */
  listen?: boolean;
}

/** Everything wired from a built (ready) cloud app. The caller stops it before closing the app. */
export async function startCloudSyncForApp(
  app: FastifyInstance,
  opts: StartCloudSyncForAppOptions,
): Promise<CloudSync> {
  // startCloudSync names its own component; a second `component` binding would print the key twice.
  const base = opts.logger ?? (app.log as unknown as Logger);
  const logger = base.child({ component: 'cloud-sync' });
  const listen = opts.listen ?? app.db.kind === 'postgres';
  // PGlite does not forward NOTIFY over its socket; if the Database offers an in-process listen
  // (PGlite's own db.listen), use it.
  const dbListen = (app.db as unknown as { listen?: InProcessListen }).listen;
  const notifications: ChangeNotifications | undefined = listen
    ? pgChangeNotifications(app.db.pool.options as pg.ClientConfig, logger.child({ part: 'listen' }))
    : dbListen
      ? { listen: (onLot) => dbListen.call(app.db, 'lot_changes', onLot) }
      : undefined;
  return startCloudSync({
    mqtt: opts.mqtt,
    changeLog: changeLogPort(app),
    notifications,
    config: configSourcePort(app),
    money: moneySourceOver(app),
    overflow: overflowPort(app),
    reservations: reservationEffectsPort(app, logger),
    store: new PgSyncStore(app.db),
    sql: asSql(app.db.pooled),
    clock: opts.clock ?? app.clock,
    logger: base,
    metricsRegistry: opts.metricsRegistry,
    // Without LISTEN (PGlite over its socket does not forward NOTIFY) the poll is the only wake-up.
    tuning: { relayPollMs: notifications ? 1000 : 100, ...opts.tuning },
  });
}
