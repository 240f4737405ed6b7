import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import type { Logger } from '../../protocol/logger.js';
import { buildTestCloud } from './helpers.js';

/**
 * Per-request logging (LOG_REQUESTS=true): off by default; when on, each request is logged with its
 * request id, which every reply carries in X-Request-ID (the caller's when it sent a sane one).
 */

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const raw of chunk.toString('utf8').split('\n')) if (raw.trim()) lines.push(JSON.parse(raw));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink) as unknown as Logger, lines };
}

t.test('off by default: no request lines, but the reply has a request id', async (t) => {
  const { logger, lines } = capture();
  const cloud = await buildTestCloud({ logger });
  t.teardown(() => cloud.close());
  const res = await cloud.call('GET', '/v1/keys');
  t.match(res.headers['x-request-id'], /^[A-Za-z0-9_-]{16}$/, 'a generated request id');
  t.same(
    lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed'),
    [],
  );
});

t.test('LOG_REQUESTS: one line in, one out, with the request id', async (t) => {
  const { logger, lines } = capture();
  const cloud = await buildTestCloud({ logger, config: { logRequests: true } });
  t.teardown(() => cloud.close());
  const res = await cloud.call('GET', '/v1/keys', { headers: { 'x-request-id': 'abc-123' } });
  t.equal(res.headers['x-request-id'], 'abc-123', "the caller's request id is kept");
  const mine = lines.filter((l) => l.reqId === 'abc-123');
  t.match(mine, [
    { msg: 'incoming request', req: { method: 'GET', url: '/v1/keys' } },
    { msg: 'request completed', res: { statusCode: res.status } },
  ]);
  const odd = await cloud.call('GET', '/v1/keys', { headers: { 'x-request-id': 'has spaces in it' } });
  t.not(odd.headers['x-request-id'], 'has spaces in it', 'a malformed id is replaced');
});
