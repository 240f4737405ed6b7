import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { DemoSystem } from './system.js';

/**
 * The demo's control endpoint (127.0.0.1 only): what the interactive keys do, for scripts and tests.
 *   GET  /demo/status                     lots, their links and connectivity, traffic counters
 *   POST /demo/link/:lotId   {up}         cut (false) or restore (true) a lot's internet link
 *   POST /demo/arrive        {lotId, plate, qr?, lane?}
 *        a car pulls up to the lot's entry (or exit) lane: the camera reads the plate (and the driver
 *        shows the QR text if given); answers once the barrier opened and the car drove through
 *        ({admitted: true}) or the driver gave up and reversed ({admitted: false}), with the display.
 * The arrival joins the same per-lane queue as the generated traffic, so cars never collide.
 */

const LinkBody = z.object({ up: z.boolean() });
const ArriveBody = z.object({
  lotId: z.string().min(1),
  plate: z.string().min(1).max(16),
  qr: z.string().min(1).max(4096).optional(),
  lane: z.enum(['entry', 'exit']).default('entry'),
  /** How long the driver waits for the barrier [20 s]. */
  patienceMs: z.number().int().min(100).max(120_000).default(20_000),
});

/** What a car sent through `POST /demo/arrive` did, once it drove through or reversed away. */
export interface ControlArrival {
  lotId: string;
  plate: string;
  lane: 'entry' | 'exit';
  admitted: boolean;
  display: string[];
}

export interface ControlServerOptions {
  system: DemoSystem;
  port: number;
  /** Told about every scripted arrival, so the console can print it like generated traffic. */
  onArrival?: (arrival: ControlArrival) => void;
}

export async function startControlServer(
  options: ControlServerOptions,
): Promise<{ url: string; server: FastifyInstance }> {
  const { system, port, onArrival } = options;
  const app = Fastify({ logger: false });

  const status = () => ({
    cloudUrl: system.cloudUrl,
    broker: system.broker,
    cloudSync: system.cloudSync !== null,
    lots: [...system.lots.values()].map((l) => ({
      lotId: l.def.id,
      name: l.def.name,
      uiUrl: l.uiUrl,
      link: { up: l.link.up, changedAt: new Date(l.link.changedAt).toISOString() },
      connectivity: {
        state: l.edge.connectivity.state,
        since: new Date(l.edge.connectivity.sinceMs).toISOString(),
      },
    })),
    traffic: { running: system.traffic.running, ...system.traffic.counts },
  });

  app.get('/demo/status', async () => status());

  app.post<{ Params: { lotId: string } }>('/demo/link/:lotId', async (req, reply) => {
    const lot = system.lots.get(req.params.lotId);
    if (!lot) return reply.code(404).send({ error: 'not_found', message: `no lot ${req.params.lotId}` });
    const body = LinkBody.safeParse(req.body);
    if (!body.success)
      return reply.code(400).send({ error: 'bad_request', message: 'body must be {"up": true|false}' });
    lot.link.set(body.data.up);
    return { lotId: lot.def.id, link: { up: lot.link.up }, connectivity: lot.edge.connectivity.state };
  });

  app.post('/demo/arrive', async (req, reply) => {
    const body = ArriveBody.safeParse(req.body);
    if (!body.success)
      return reply
        .code(400)
        .send({ error: 'bad_request', message: body.error.issues[0]?.message ?? 'bad body' });
    const { lotId, plate, qr, lane, patienceMs } = body.data;
    if (!system.lots.has(lotId))
      return reply.code(404).send({ error: 'not_found', message: `no lot ${lotId}` });
    const result = await system.traffic.arrive({ lotId, plate, qr: qr ?? null, lane, patienceMs });
    onArrival?.({ lotId, plate, lane, ...result });
    return result;
  });

  const url = await app.listen({ host: '127.0.0.1', port });
  return { url: url.replace('://localhost', '://127.0.0.1'), server: app };
}
