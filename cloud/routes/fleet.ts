import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Id, IsoTimestamp, LotId } from '../../protocol/domain.js';
import { ErrorBody, LotParams } from '../../protocol/http.js';
import { PROTOCOL_MAJOR, PROTOCOL_VERSION } from '../../protocol/mqtt.js';
import { HttpError, lotNotFound } from '../errors.js';
import type { CommandInput } from '../sync/commands.js';
import type { CommandRecord, PresenceRecord } from '../sync/ports.js';
import type { CloudApi } from './api.js';

/**
 * Operator API for the fleet (docs/architecture.md#presence-and-health): lot presence and heartbeat
 * (last seen, clock skew, outbox depth, versions, connectivity) and operator commands to a lot.
 * Registered by the app with `{ sync }`: the running CloudSync, or a getter for it (sync starts after
 * the app is ready, since it is built from the app's repositories); 503 until it is there.
 */
export interface FleetSync {
  fleet(lotId?: string): Promise<PresenceRecord[]>;
  sendCommand(lotId: string, input: CommandInput): Promise<CommandRecord>;
  commands(lotId: string, limit?: number): Promise<CommandRecord[]>;
}

export interface FleetRoutesOptions {
  sync: FleetSync | (() => FleetSync | null);
}

const LotPresence = z.object({
  lotId: LotId,
  state: z.enum(['online', 'offline']),
  lastSeen: IsoTimestamp,
  /** The edge's clock at its last heartbeat. */
  edgeClock: IsoTimestamp.nullable(),
  /** Edge clock minus cloud clock at the last heartbeat, ms. */
  skewMs: z.number().int().nullable(),
  skewAlarm: z.boolean(),
  edgeVersion: z.string().nullable(),
  protocolVersion: z.string().nullable(),
  /** False when the lot speaks a protocol major this cloud does not (fleet version skew). */
  protocolSupported: z.boolean(),
  lastAppliedSeq: z.number().int().nullable(),
  lastEventId: z.number().int().nullable(),
  outboxDepth: z.number().int().nullable(),
  configVersion: z.number().int().nullable(),
  occupancy: z.record(z.string(), z.object({ held: z.number().int(), total: z.number().int() })).nullable(),
  lanes: z
    .array(z.object({ id: z.string(), state: z.string(), devices: z.record(z.string(), z.string()) }))
    .nullable(),
});

const FleetResponse = z.object({
  cloudProtocolVersion: z.string(),
  lots: z.array(LotPresence),
});

const CommandRequest = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('open_lane'), laneId: Id, reason: z.string().trim().min(1).max(200) }),
  z.object({
    kind: z.literal('reset_passback'),
    reservationId: Id,
    reason: z.string().trim().min(1).max(200),
  }),
]);

const CommandView = z.object({
  commandId: Id,
  lotId: LotId,
  kind: z.enum(['open_lane', 'reset_passback']),
  laneId: Id.nullable(),
  reservationId: Id.nullable(),
  reason: z.string(),
  by: z.string(),
  sentAt: IsoTimestamp,
  /** Set when the lot acknowledged it (a command_ack gate event). */
  ackedAt: IsoTimestamp.nullable(),
  ok: z.boolean().nullable(),
  detail: z.string().nullable(),
});

const CommandList = z.object({ commands: z.array(CommandView) });
const CommandListQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) });

function commandView(c: CommandRecord): z.infer<typeof CommandView> {
  return {
    commandId: c.commandId,
    lotId: c.lotId,
    kind: c.body.kind,
    laneId: c.body.kind === 'open_lane' ? c.body.laneId : null,
    reservationId: c.body.kind === 'reset_passback' ? c.body.reservationId : null,
    reason: c.body.reason,
    by: c.body.by,
    sentAt: c.sentAt,
    ackedAt: c.ackedAt,
    ok: c.ok,
    detail: c.detail,
  };
}

const notFound = lotNotFound;

const presenceView = (p: PresenceRecord): z.infer<typeof LotPresence> => ({
  ...p,
  protocolSupported:
    p.protocolSupported &&
    (p.protocolVersion === null || Number(p.protocolVersion.split('.')[0]) === PROTOCOL_MAJOR),
});

export const fleetRoutes: FastifyPluginAsyncZod<FleetRoutesOptions> = async (app, opts) => {
  const sync = currentSync(opts.sync);
  fleetRoute(app, sync);
  presenceRoute(app, sync);
  sendCommandRoute(app, sync);
  listCommandsRoute(app, sync);
};

/** The running sync engine, or a 503 while it is not there yet. */
function currentSync(sync: FleetRoutesOptions['sync']): () => FleetSync {
  return () => {
    const s = typeof sync === 'function' ? sync() : sync;
    if (!s)
      throw new HttpError({ status: 503, error: 'sync_unavailable', message: 'lot sync is not running' });
    return s;
  };
}

function fleetRoute(app: CloudApi, current: () => FleetSync): void {
  app.get(
    '/v1/fleet',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['fleet'],
        summary: 'Presence and health of the lots you operate',
        response: { 200: FleetResponse, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const all = await current().fleet();
      const lots: PresenceRecord[] = [];
      for (const p of all) if (await app.canActOnLot(req.user, p.lotId)) lots.push(p);
      return { cloudProtocolVersion: PROTOCOL_VERSION, lots: lots.map(presenceView) };
    },
  );
}

function presenceRoute(app: CloudApi, current: () => FleetSync): void {
  app.get(
    '/v1/lots/:lotId/presence',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['fleet'],
        summary: "A lot's presence: last seen, clock skew, outbox depth, versions, lanes",
        params: LotParams,
        response: {
          200: LotPresence,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (req) => {
      const { lotId } = req.params;
      if (!(await app.canActOnLot(req.user, lotId))) throw notFound(lotId);
      const [p] = await current().fleet(lotId);
      if (!p) {
        throw new HttpError({
          status: 404,
          error: 'never_seen',
          message: `lot ${lotId} has never connected`,
        });
      }
      return presenceView(p);
    },
  );
}

function sendCommandRoute(app: CloudApi, current: () => FleetSync): void {
  const lotExists = async (lotId: string): Promise<boolean> =>
    (await app.db.rows('select 1 from lots where id = $1', [lotId])).length > 0;
  app.post(
    '/v1/lots/:lotId/commands',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['fleet'],
        summary: 'Send an operator command to a lot (open a lane, reset a passback state)',
        params: LotParams,
        body: CommandRequest,
        response: {
          202: CommandView,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const { lotId } = req.params;
      if (!(await app.canActOnLot(req.user, lotId)) || !(await lotExists(lotId))) throw notFound(lotId);
      const by = req.user.id.slice(0, 120);
      const record = await current().sendCommand(lotId, { ...req.body, by } as CommandInput);
      return reply.code(202).send(commandView(record));
    },
  );
}

function listCommandsRoute(app: CloudApi, current: () => FleetSync): void {
  app.get(
    '/v1/lots/:lotId/commands',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['fleet'],
        summary: 'Recent operator commands to a lot and their acknowledgements',
        params: LotParams,
        querystring: CommandListQuery,
        response: {
          200: CommandList,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (req) => {
      const { lotId } = req.params;
      if (!(await app.canActOnLot(req.user, lotId))) throw notFound(lotId);
      return { commands: (await current().commands(lotId, req.query.limit)).map(commandView) };
    },
  );
}
