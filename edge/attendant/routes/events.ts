import type { EdgeEvent } from '../../bus.js';
import type { AttendantApi, RouteDeps } from '../context.js';
import { alarmView, iso } from '../views.js';

/**
 * Server-sent events: `hello` (lot, lanes + connectivity now), then `lane`, `read`, `passage`,
 * `alarm`, `alarm_ack`, `device`, `audit`, `connectivity` and `outbox` as they happen. Authenticated
 * like every /api route (the console's session cookie; never a token in the URL). `outbox` is sent
 * when events are written and, while a backlog is left, as the cloud acknowledges it (the depth is
 * checked every `outboxWatchMs`), so the console can show it draining after the link returns.
 */
export function eventRoutes(api: AttendantApi, { edge, lot }: RouteDeps): void {
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
    let depth = edge.store.ledger.outboxDepth();
    send('hello', {
      ...lot(),
      lanes: edge.lanes().map((l) => l.status()),
      connectivity: { state: edge.connectivity.state, since: iso(edge.connectivity.sinceMs) },
      outboxDepth: depth,
    });
    const off = edge.bus.on((e: EdgeEvent) => {
      if (e.type === 'alarm' || e.type === 'alarm_ack') send(e.type, alarmView(e.alarm));
      else send(e.type, e);
      if (e.type === 'outbox') depth = e.depth;
    });
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), edge.keepAliveMs ?? 15_000);
    keepAlive.unref();
    // Acknowledgements announce nothing on the bus: watch the backlog shrink while there is one.
    const drain = setInterval(() => {
      if (depth === 0) return;
      const now = edge.store.ledger.outboxDepth();
      if (now === depth) return;
      depth = now;
      send('outbox', { type: 'outbox', lastEventId: edge.store.ledger.lastEventId(), depth });
    }, edge.outboxWatchMs ?? 1000);
    drain.unref();
    const close = () => {
      off();
      clearInterval(keepAlive);
      clearInterval(drain);
    };
    request.raw.on('close', close);
    res.on('error', close);
  });
}
