import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type FastifyPluginAsyncZod, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { ErrorBody } from '../../protocol/http.js';
import type { Logger } from '../../protocol/logger.js';
import { attendantErrorHandler } from '../attendant/errors.js';
import {
  SimArriveBody,
  SimArriveResponse,
  SimErrors,
  SimFaultBody,
  SimListResponse,
  SimLaneView,
  SimLoopBody,
} from './schemas.js';

/**
 * The simulator control: lets someone without hardware present vehicles to a controller's simulated
 * lanes (`devices: "sim"`), on the controller's own HTTP server.
 *
 *   GET  /sim            the simulated lanes and what their hardware shows
 *   POST /sim/arrive     {laneId, plate?, qr?, confidence?, patienceMs?} a car arrives, is read, shows
 *                        its QR, and drives through when the arm opens (answers when it has)
 *   POST /sim/loop       {laneId, loop: 'presence'|'safety', occupied} force a loop detector
 *   POST /sim/fault      {laneId, device: 'camera'|'qr', fault: 'disconnect'|'reconnect'}
 *
 * Registered only when at least one lane is simulated; a lane with real devices is refused (409).
 * Loopback peers only (403 otherwise): it fabricates vehicle passages that become real sessions and
 * gate events synced to the cloud, so it is for someone with a shell on the controller (developer,
 * test, demo), not for whoever reaches the attendant console over the lot's network. No login
 * is needed, which keeps it scriptable with a bare curl.
 */

/**
 * What the control needs of a simulated lane. hardware-sim's SimLaneControl has this shape; the
 * edge never imports the simulator, so it checks the handle the composer's simulator returned.
 */
export interface SimulatedLaneHandle {
  visit(visit: {
    plate: string | null;
    qr: string | null;
    confidence?: number;
    patienceMs: number;
  }): Promise<{
    admitted: boolean;
    display: string[];
    read: { plate: string; confidence: number; delivered: boolean } | null;
    qrScanned: boolean | null;
  }>;
  setLoop(loop: 'presence' | 'safety', occupied: boolean): void;
  snapshot(): Omit<z.infer<typeof SimLaneView>, 'laneId' | 'direction'>;
  disconnectCamera(): Promise<void>;
  reconnectCamera(): void;
  disconnectQr(): void;
  reconnectQr(): void;
}

type SimLaneViewT = z.infer<typeof SimLaneView>;

const HANDLE_METHODS = [
  'visit',
  'setLoop',
  'snapshot',
  'disconnectCamera',
  'reconnectCamera',
  'disconnectQr',
  'reconnectQr',
] as const;

/** The simulator handles that offer the control surface (others are left out). */
export function simulatedLaneHandles(sims: ReadonlyMap<string, unknown>): Map<string, SimulatedLaneHandle> {
  const handles = new Map<string, SimulatedLaneHandle>();
  for (const [laneId, sim] of sims) {
    const candidate = sim as Record<string, unknown> | null;
    if (candidate && HANDLE_METHODS.every((m) => typeof candidate[m] === 'function'))
      handles.set(laneId, sim as SimulatedLaneHandle);
  }
  return handles;
}

export interface SimControlOptions {
  lotId: string;
  /** Every configured lane (simulated or not), so a real one is refused by name. */
  lanes: readonly { id: string; direction: 'entry' | 'exit' }[];
  /** The simulated lanes' handles, by lane id. */
  sims: ReadonlyMap<string, SimulatedLaneHandle>;
  logger: Logger;
}

/** 127.0.0.1, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

class SimError extends Error {
  constructor(
    readonly status: 403 | 404 | 409,
    readonly body: ErrorBody,
  ) {
    super(body.message);
  }
}

export const simControlPlugin: FastifyPluginAsyncZod<SimControlOptions> = async (app, options) => {
  const { sims, logger } = options;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const fallback = attendantErrorHandler(logger);
  app.setErrorHandler((error: FastifyError, request, reply) =>
    error instanceof SimError ? reply.code(error.status).send(error.body) : fallback(error, request, reply),
  );
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (isLoopback(request.socket.remoteAddress)) return;
    return reply.code(403).send({
      error: 'forbidden',
      message: 'the simulator control answers only on the loopback interface (127.0.0.1 / ::1)',
    } satisfies ErrorBody);
  });

  const view = (laneId: string): SimLaneViewT => {
    const lane = options.lanes.find((l) => l.id === laneId)!;
    return { laneId, direction: lane.direction, ...sims.get(laneId)!.snapshot() };
  };
  const simulated = (laneId: string): SimulatedLaneHandle => {
    const handle = sims.get(laneId);
    if (handle) return handle;
    if (options.lanes.some((l) => l.id === laneId)) {
      throw new SimError(409, {
        error: 'lane_not_simulated',
        message: `lane ${laneId} has real devices: the simulator cannot drive it`,
        field: 'body.laneId',
      });
    }
    throw new SimError(404, { error: 'not_found', message: `no lane ${laneId}`, field: 'body.laneId' });
  };

  app.get(
    '/sim',
    { schema: { tags: ['simulator'], response: { 200: SimListResponse, 403: SimErrors[403] } } },
    async () => ({
      lotId: options.lotId,
      lanes: [...sims.keys()].map(view),
      realLanes: options.lanes.filter((l) => !sims.has(l.id)).map((l) => l.id),
    }),
  );

  app.post(
    '/sim/arrive',
    {
      schema: {
        tags: ['simulator'],
        body: SimArriveBody,
        response: { 200: SimArriveResponse, ...SimErrors },
      },
    },
    async (request) => {
      const { laneId, plate, qr, confidence, patienceMs } = request.body;
      const handle = simulated(laneId);
      if (handle.snapshot().busy) {
        throw new SimError(409, {
          error: 'lane_busy',
          message: `a car sent earlier is still at lane ${laneId}; try again when it has left`,
        });
      }
      logger.info({ laneId, plate, qr: qr !== undefined, confidence }, 'simulated car arrives');
      const result = await handle.visit({
        plate: plate ?? null,
        qr: qr ?? null,
        patienceMs,
        ...(confidence === undefined ? {} : { confidence }),
      });
      return { laneId, ...result, lane: view(laneId) };
    },
  );

  app.post(
    '/sim/loop',
    { schema: { tags: ['simulator'], body: SimLoopBody, response: { 200: SimLaneView, ...SimErrors } } },
    async (request) => {
      const { laneId, loop, occupied } = request.body;
      simulated(laneId).setLoop(loop, occupied);
      logger.info({ laneId, loop, occupied }, 'simulated loop set');
      return view(laneId);
    },
  );

  app.post(
    '/sim/fault',
    { schema: { tags: ['simulator'], body: SimFaultBody, response: { 200: SimLaneView, ...SimErrors } } },
    async (request) => {
      const { laneId, device, fault } = request.body;
      const handle = simulated(laneId);
      if (handle.snapshot()[device] === null) {
        throw new SimError(409, {
          error: 'no_device',
          message: `lane ${laneId} has no ${device === 'qr' ? 'QR scanner' : 'camera'}`,
          field: 'body.device',
        });
      }
      if (device === 'camera') {
        if (fault === 'disconnect') await handle.disconnectCamera();
        else handle.reconnectCamera();
      } else if (fault === 'disconnect') handle.disconnectQr();
      else handle.reconnectQr();
      logger.info({ laneId, device, fault }, 'simulated device fault');
      return view(laneId);
    },
  );
};

/**
 * Registers the control when at least one lane is simulated (returns true); a controller with only
 * real lanes has no /sim routes at all.
 */
export async function registerSimControl(
  http: FastifyInstance,
  options: Omit<SimControlOptions, 'sims'> & { sims: ReadonlyMap<string, unknown> },
): Promise<boolean> {
  const sims = simulatedLaneHandles(options.sims);
  if (sims.size === 0) return false;
  await http.register(simControlPlugin, { ...options, sims });
  return true;
}
