import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { EdgeBus } from '../bus.js';
import type { Connectivity } from '../connectivity.js';
import type { ExitPlan } from '../lane/decision.js';
import type { Lane } from '../lane/lane.js';
import type { EdgeMetrics } from '../metrics.js';
import type { EdgeStore } from '../store/store.js';
import type { VehicleSession } from '../store/types.js';
import type { AttendantViews } from './views.js';

/** What the attendant API is built from; the composition root (edge/app.ts) passes it in. */
export interface AttendantContext {
  lotId: string;
  store: EdgeStore;
  lanes: () => readonly Lane[];
  /** Lanes configured `devices: 'sim'`: the console warns that no real barrier is behind them. */
  simulatedLanes: readonly string[];
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
  /** How often the event stream checks a backlog for acknowledgements (default 1 s). */
  outboxWatchMs?: number;
}

export interface Attendant {
  username: string;
  displayName: string;
}

/** A Fastify scope with the Zod type provider: every route module registers on one of these. */
export type AttendantApi = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** What every route module gets from the assembler. */
export interface RouteDeps {
  edge: AttendantContext;
  views: AttendantViews;
  /** The logged-in attendant of an authenticated request. */
  who: (request: FastifyRequest) => Attendant;
  /** The lot's id and display name (the name follows config updates from the cloud). */
  lot: () => { lotId: string; lotName: string; currency: string; simulatedLanes: string[] };
}
