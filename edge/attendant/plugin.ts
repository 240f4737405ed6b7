import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  type FastifyPluginAsyncZod,
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import { currencyMinorDigits, type Money, money } from '../../protocol/money.js';
import { auditEntry, type EdgeBus, type EdgeEvent } from '../bus.js';
import type { Connectivity } from '../connectivity.js';
import type { ExitPlan } from '../lane/decision.js';
import type { Lane } from '../lane/lane.js';
import type { EdgeMetrics } from '../metrics.js';
import type { EdgeStore } from '../store/store.js';
import type { AlarmRecord, MirrorReservation, VehicleSession } from '../store/types.js';
import { checkLogin } from './accounts.js';
import { minorToDecimal, toCsv } from './csv.js';
import * as S from './schemas.js';
import { signSession, verifySession } from './token.js';

/**
 * The attendant JSON API under /api (plus /health and /metrics). Local accounts, works offline.
 * Every action is audited with who and why, and sent up as a gate event in the same transaction.
 */

export interface AttendantContext {
  lotId: string;
  store: EdgeStore;
  lanes: () => readonly Lane[];
  connectivity: Connectivity;
  bus: EdgeBus;
  clock: Clock;
  metrics: EdgeMetrics;
  /** What a vehicle inside would owe if it left now. */
  exitCharge: (session: VehicleSession) => ExitPlan;
  /** HMAC secret of the session tokens. */
  jwtSecret: string;
  tokenTtlMinutes: number;
  logger: Logger;
  /** SSE keep-alive comment period. */
  keepAliveMs?: number;
}

interface Attendant {
  username: string;
  displayName: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function reservationView(r: MirrorReservation) {
  return {
    id: r.id,
    spotId: r.spotId,
    spotLabel: r.spotLabel,
    vehicleType: r.vehicleType,
    plate: r.plate,
    start: iso(r.startMs),
    end: iso(r.endMs),
    status: r.status,
    kind: r.kind,
    price: r.price,
  };
}

function alarmView(a: AlarmRecord) {
  return { ...a, raisedAt: iso(a.raisedAt), ackedAt: isoOrNull(a.ackedAt) };
}

export const attendantPlugin: FastifyPluginAsyncZod<{ edge: AttendantContext }> = async (app, { edge }) => {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const log = edge.logger;
  const users = new WeakMap<FastifyRequest, Attendant>();

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const message = error.validation
        .slice(0, 3)
        .map(
          (v) =>
            `${v.instancePath.replace(/^\//, '').replaceAll('/', '.') || error.validationContext || 'request'}: ${v.message}`,
        )
        .join('; ');
      return reply.code(400).send({ error: 'bad_request', message });
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) log.error({ err: error, url: request.url }, 'attendant API error');
    return reply.code(status).send({
      error: status >= 500 ? 'internal' : 'error',
      message: status >= 500 ? 'internal error' : error.message,
    });
  });

  const sessionView = (s: VehicleSession) => {
    let dueNow: Money | null = null;
    if (s.exitedAt === null) {
      try {
        dueNow = edge.exitCharge(s).charge;
      } catch (e) {
        log.warn({ err: e, sessionId: s.id }, 'could not price session');
      }
    }
    return {
      id: s.id,
      kind: s.kind,
      reservationId: s.reservationId,
      plate: s.plate,
      credential: s.credential,
      pool: s.pool,
      spotLabel: s.spotLabel,
      enteredAt: iso(s.enteredAt),
      entryLaneId: s.entryLaneId,
      reservationEnd: isoOrNull(s.reservationEndMs),
      cashPaid: s.cashPaid,
      exitedAt: isoOrNull(s.exitedAt),
      closedReason: s.closedReason,
      dueNow,
    };
  };

  const tokenFrom = (request: FastifyRequest): string | null => {
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) return header.slice(7);
    const q = request.query as Record<string, unknown> | undefined;
    return typeof q?.token === 'string' ? q.token : null;
  };

  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = tokenFrom(request);
    if (token !== null) {
      const claims = verifySession(token, edge.jwtSecret, edge.clock.now());
      if (claims && claims.lot === edge.lotId && edge.store.attendant(claims.sub)?.disabled === false) {
        users.set(request, { username: claims.sub, displayName: claims.name });
        return;
      }
    }
    return reply.code(401).send({ error: 'unauthorized', message: 'log in first' });
  };
  const who = (request: FastifyRequest): Attendant => users.get(request)!;
  /** The lot's id and display name (the name follows config updates from the cloud). */
  const lot = () => ({ lotId: edge.lotId, lotName: edge.store.config().lot.name });

  // ---- open endpoints --------------------------------------------------------------------

  app.get('/health', { schema: { response: { 200: S.HealthReply } } }, async () => ({
    status: 'ok' as const,
    lotId: edge.lotId,
    connectivity: edge.connectivity.state,
    outboxDepth: edge.store.outboxDepth(),
    lanes: edge.lanes().map((l) => ({ id: l.config.id, state: l.state })),
  }));

  app.get('/metrics', async (_request, reply) => {
    const m = edge.metrics;
    m.outboxDepth.set(edge.store.outboxDepth());
    m.lastEventId.set(edge.store.lastEventId());
    m.syncCursor.set(edge.store.getCursor());
    m.openAlarms.set(edge.store.openAlarmCount());
    reply.header('content-type', m.registry.contentType);
    return m.registry.metrics();
  });

  app.post(
    '/api/login',
    { schema: { body: S.LoginBody, response: { 200: S.LoginReply, 401: S.ErrorBody } } },
    async (request, reply) => {
      const { username, password } = request.body;
      const account = await checkLogin(edge.store, username, password);
      const atMs = edge.clock.now();
      if (!account) {
        edge.store.audit({ atMs, attendant: username.slice(0, 64), action: 'login_failed' });
        log.warn({ username }, 'attendant login failed');
        return reply.code(401).send({ error: 'unauthorized', message: 'wrong user name or password' });
      }
      edge.store.audit({ atMs, attendant: account.username, action: 'login' });
      const { token, expiresAtMs } = signSession(
        { sub: account.username, name: account.displayName, lot: edge.lotId },
        edge.jwtSecret,
        edge.tokenTtlMinutes * 60,
        atMs,
      );
      return {
        token,
        expiresAt: iso(expiresAtMs),
        username: account.username,
        displayName: account.displayName,
        ...lot(),
      };
    },
  );

  // ---- authenticated ---------------------------------------------------------------------

  await app.register(async (scope) => {
    const api = scope.withTypeProvider<ZodTypeProvider>();
    api.addHook('onRequest', authenticate);

    api.get('/api/me', { schema: { response: { 200: S.MeReply } } }, async (request) => ({
      ...who(request),
      ...lot(),
    }));

    api.get('/api/lanes', { schema: { response: { 200: S.LanesReply } } }, async () => ({
      lanes: edge.lanes().map((l) => l.status()),
    }));

    api.get('/api/occupancy', { schema: { response: { 200: S.OccupancyReply } } }, async () =>
      edge.store.occupancy(),
    );

    api.get('/api/connectivity', { schema: { response: { 200: S.ConnectivityReply } } }, async () => ({
      state: edge.connectivity.state,
      since: iso(edge.connectivity.sinceMs),
      outboxDepth: edge.store.outboxDepth(),
      lastEventId: edge.store.lastEventId(),
      lastAppliedSeq: edge.store.getCursor(),
      configVersion: edge.store.config().version,
    }));

    api.get(
      '/api/lookup',
      { schema: { querystring: S.LookupQuery, response: { 200: S.LookupReply } } },
      async (request) => {
        const { plate, reservationId } = request.query;
        const passback: Record<string, 'in' | 'out' | 'neutral'> = {};
        let reservations: MirrorReservation[];
        let sessions: VehicleSession[];
        if (plate !== undefined) {
          ({ reservations, sessions } = edge.store.lookupPlate(plate));
        } else {
          const found = edge.store.lookupReservation(reservationId!);
          reservations = found.reservation ? [found.reservation] : [];
          sessions = found.sessions;
        }
        for (const r of reservations) {
          const state = edge.store.passbackState(r.id);
          if (state) passback[r.id] = state;
        }
        return {
          reservations: reservations.map(reservationView),
          sessions: sessions.map(sessionView),
          passback,
        };
      },
    );

    api.get('/api/sessions', { schema: { response: { 200: S.SessionsReply } } }, async () => ({
      sessions: edge.store.sessionsInside().map(sessionView),
    }));

    api.post(
      '/api/lanes/:laneId/open',
      {
        schema: {
          params: S.LaneParams,
          body: S.ManualOpenBody,
          response: { 200: S.ActionReply, 404: S.ErrorBody, 409: S.ErrorBody },
        },
      },
      async (request, reply) => {
        const lane = edge.lanes().find((l) => l.config.id === request.params.laneId);
        if (!lane)
          return reply.code(404).send({ error: 'not_found', message: `no lane ${request.params.laneId}` });
        const result = lane.manualOpen({
          attendant: who(request).username,
          reason: request.body.reason,
          commandId: null,
        });
        if (!result.ok) return reply.code(409).send({ error: 'conflict', message: result.detail });
        return result;
      },
    );

    api.post(
      '/api/sessions/:sessionId/cash',
      {
        schema: {
          params: S.SessionParams,
          body: S.CashBody,
          response: { 200: S.CashReply, 404: S.ErrorBody, 409: S.ErrorBody },
        },
      },
      async (request, reply) => {
        const session = edge.store.sessionById(request.params.sessionId);
        if (!session || session.exitedAt !== null) {
          return reply.code(404).send({ error: 'not_found', message: 'no vehicle inside with this session' });
        }
        const plan = edge.exitCharge(session);
        if (plan.due === null)
          return reply.code(409).send({ error: 'nothing_due', message: 'nothing is due' });
        const amount = request.body.amount ?? plan.due.amount;
        const paid = money(amount, plan.due.currency);
        const recorded = edge.store.recordCashPayment({
          atMs: edge.clock.now(),
          sessionId: session.id,
          amount: paid,
          attendant: who(request).username,
        });
        if (!recorded) return reply.code(404).send({ error: 'not_found', message: 'the vehicle has left' });
        const after = edge.exitCharge(recorded.session);
        return { paid, stillDue: after.due, eventId: recorded.event.eventId };
      },
    );

    api.post(
      '/api/passback/:reservationId/reset',
      {
        schema: {
          params: S.ReservationParams,
          body: S.PassbackResetBody,
          response: { 200: S.PassbackResetReply },
        },
      },
      async (request) => {
        const result = edge.store.resetPassback({
          atMs: edge.clock.now(),
          reservationId: request.params.reservationId,
          attendant: who(request).username,
          reason: request.body.reason,
          commandId: null,
        });
        return { ok: true, closedSessionId: result.closedSessionId, eventId: result.event.eventId };
      },
    );

    api.get(
      '/api/alarms',
      { schema: { querystring: S.AlarmsQuery, response: { 200: S.AlarmsReply } } },
      async (request) => ({
        alarms: edge.store
          .alarms({ openOnly: request.query.status === 'open', limit: request.query.limit })
          .map(alarmView),
      }),
    );

    api.post(
      '/api/alarms/:alarmId/ack',
      {
        schema: {
          params: S.AlarmParams,
          body: S.AlarmAckBody.optional(),
          response: { 200: S.AlarmView, 404: S.ErrorBody, 409: S.ErrorBody },
        },
      },
      async (request, reply) => {
        const id = request.params.alarmId;
        const acked = edge.store.acknowledgeAlarm({
          atMs: edge.clock.now(),
          alarmId: id,
          attendant: who(request).username,
          note: request.body?.note ?? null,
        });
        if (acked) return alarmView(acked);
        return edge.store.alarmById(id)
          ? reply.code(409).send({ error: 'conflict', message: 'alarm already acknowledged' })
          : reply.code(404).send({ error: 'not_found', message: `no alarm ${id}` });
      },
    );

    const reportWindow = (q: { from?: string | undefined; to?: string | undefined }) => {
      const toMs = q.to ? Date.parse(q.to) : edge.clock.now() + 1;
      const fromMs = q.from ? Date.parse(q.from) : toMs - 31 * 86_400_000;
      return { fromMs, toMs, records: edge.store.unableToCollect(fromMs, toMs) };
    };

    api.get(
      '/api/reports/unable-to-collect',
      { schema: { querystring: S.ReportQuery, response: { 200: S.UnableToCollectReply } } },
      async (request) => {
        const { fromMs, toMs, records } = reportWindow(request.query);
        const totals = new Map<string, number>();
        for (const r of records)
          totals.set(r.amount.currency, (totals.get(r.amount.currency) ?? 0) + r.amount.amount);
        return {
          from: iso(fromMs),
          to: iso(toMs),
          records: records.map((r) => ({
            id: r.id,
            at: iso(r.at),
            laneId: r.laneId,
            sessionId: r.sessionId,
            reservationId: r.reservationId,
            plate: r.plate,
            amount: r.amount,
            eventId: r.eventId,
          })),
          totals: [...totals].map(([currency, amount]) => ({ amount, currency })),
        };
      },
    );

    api.get(
      '/api/reports/unable-to-collect.csv',
      { schema: { querystring: S.ReportQuery } },
      async (request, reply) => {
        const { records } = reportWindow(request.query);
        const csv = toCsv(
          ['at', 'lane', 'session', 'reservation', 'plate', 'amount', 'currency', 'event_id'],
          records.map((r) => [
            iso(r.at),
            r.laneId,
            r.sessionId,
            r.reservationId,
            r.plate,
            minorToDecimal(r.amount.amount, currencyMinorDigits(r.amount.currency)),
            r.amount.currency,
            r.eventId,
          ]),
        );
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="unable-to-collect-${edge.lotId}.csv"`)
          .send(csv);
      },
    );

    api.get(
      '/api/audit',
      { schema: { querystring: S.AuditQuery, response: { 200: S.AuditReply } } },
      async (request) => ({
        entries: edge.store.recentAudit(request.query.limit).map(auditEntry),
      }),
    );

    /**
     * Server-sent events: `hello` (lot, lanes + connectivity now), then `lane`, `read`, `passage`,
     * `alarm`, `alarm_ack`, `device`, `audit`, `connectivity` and `outbox` as they happen. EventSource cannot set headers, so the
     * token may come as ?token=.
     */
    api.get('/api/events', async (request, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let id = 0;
      const send = (event: string, data: unknown) => {
        id++;
        res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      res.write('retry: 2000\n\n');
      send('hello', {
        ...lot(),
        lanes: edge.lanes().map((l) => l.status()),
        connectivity: { state: edge.connectivity.state, since: iso(edge.connectivity.sinceMs) },
        outboxDepth: edge.store.outboxDepth(),
      });
      const off = edge.bus.on((e: EdgeEvent) => {
        if (e.type === 'alarm' || e.type === 'alarm_ack') send(e.type, alarmView(e.alarm));
        else send(e.type, e);
      });
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), edge.keepAliveMs ?? 15_000);
      keepAlive.unref();
      const close = () => {
        off();
        clearInterval(keepAlive);
      };
      request.raw.on('close', close);
      res.on('error', close);
    });
  });
};
