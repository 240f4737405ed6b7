import type { EdgeEvent } from '../../bus.js';
import type { AttendantApi, RouteDeps } from '../context.js';
import { alarmView, iso } from '../views.js';

/**
 * Server-sent events: `hello` (lot, lanes + connectivity now), then `lane`, `read`, `passage`,
 * `alarm`, `alarm_ack`, `device`, `audit`, `connectivity` and `outbox` as they happen.
 * EventSource cannot set headers, so the token may come as ?token=.
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
}
