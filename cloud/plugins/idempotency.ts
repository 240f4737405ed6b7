import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../protocol/clock.js';
import { toIso } from '../../protocol/slots.js';
import type { Database } from '../db/database.js';
import { HttpError } from '../errors.js';
import type { CloudMetrics } from '../metrics.js';
import { definePlugin } from '../plugin.js';

/**
 * `Idempotency-Key` for routes with `config.idempotent`: the same key with the same request gets
 * the first response again (flagged `idempotent-replayed: true`); the same key with a different
 * request is refused with 422. Keys are scoped per user, stored in `idempotency_keys`. A request
 * still running under a key answers 409; a key left in progress by a crash is taken over after a
 * minute (the operations themselves are safe to repeat: plate overlap, status checks, payment rows).
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency: { owner: string; key: string } | null;
  }
}

const STALE_MS = 60_000;

/** Key order does not matter: `{a,b}` and `{b,a}` are the same body. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const idempotencyPlugin = definePlugin(
  async (app) => {
    const deps: IdempotencyDeps = { db: app.db, clock: app.clock, metrics: app.metrics };
    app.decorateRequest('idempotency', null);
    // Two and three parameters: Fastify treats them as async hooks, not callback ones.
    const before = (req: FastifyRequest, reply: FastifyReply) => claimOrReplay(deps, req, reply);
    const after = (req: FastifyRequest, reply: FastifyReply, payload: unknown) =>
      rememberResponse(deps, req, reply, payload);

    app.addHook('onRoute', (route) => {
      if (!route.config?.idempotent) return;
      route.preHandler = [...hookList(route.preHandler), before];
      route.onSend = [...hookList(route.onSend), after];
    });
  },
  { name: 'idempotency', dependencies: ['core', 'db', 'metrics'] },
);

interface IdempotencyDeps {
  db: Database;
  clock: Clock;
  metrics: CloudMetrics;
}

interface KeyRef {
  owner: string;
  key: string;
}

interface StoredKey {
  request_hash: string;
  status_code: number | null;
  content_type: string | null;
  body: string | null;
}

const hookList = <H>(hooks: H | H[] | undefined): H[] =>
  Array.isArray(hooks) ? hooks : hooks ? [hooks] : [];

/** preHandler: claim the key for this request, or answer with the response stored under it. */
async function claimOrReplay(deps: IdempotencyDeps, req: FastifyRequest, reply: FastifyReply) {
  const key = keyOf(req);
  if (key === null) return;
  const owner = req.user?.id ?? 'anonymous';
  const hash = requestHash(req);
  if (await claim(deps, { owner, key }, hash)) {
    req.idempotency = { owner, key };
    return;
  }
  const prior = replayable(await stored(deps.db, { owner, key }), hash);
  deps.metrics.idempotentReplays.inc();
  reply
    .code(prior.status_code)
    .header('idempotent-replayed', 'true')
    .type(prior.content_type ?? 'application/json; charset=utf-8');
  return reply.send(prior.body ?? '');
}

/** The Idempotency-Key header, null when absent; a malformed one is refused. */
function keyOf(req: FastifyRequest): string | null {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return null;
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (typeof key !== 'string' || key.length === 0 || key.length > 255) {
    throw new HttpError({
      status: 400,
      error: 'validation_failed',
      message: 'Idempotency-Key must be 1-255 characters',
      field: 'headers.idempotency-key',
      rule: 'invalid_format',
    });
  }
  return key;
}

/** What makes two requests "the same": method, route, params and body (key order ignored). */
function requestHash(req: FastifyRequest): string {
  return createHash('sha256')
    .update(`${req.method} ${req.routeOptions.url} ${canonical(req.params)} ${canonical(req.body ?? null)}`)
    .digest('hex');
}

/** Insert the key, or take over one a crashed request left in progress for the same request. */
async function claim(deps: IdempotencyDeps, ref: KeyRef, hash: string): Promise<boolean> {
  const now = deps.clock.now();
  const inserted = await deps.db.rows(
    `insert into idempotency_keys (owner, key, request_hash, created_at) values ($1, $2, $3, $4)
         on conflict (owner, key) do update set request_hash = excluded.request_hash, created_at = excluded.created_at
           where idempotency_keys.status_code is null and idempotency_keys.created_at < $5
             and idempotency_keys.request_hash = excluded.request_hash
         returning 1`,
    [ref.owner, ref.key, hash, toIso(now), toIso(now - STALE_MS)],
  );
  return inserted.length > 0;
}

async function stored(db: Database, ref: KeyRef): Promise<StoredKey | undefined> {
  const rows = await db.rows<StoredKey>(
    'select request_hash, status_code, content_type, body from idempotency_keys where owner = $1 and key = $2',
    [ref.owner, ref.key],
  );
  return rows[0];
}

/** The stored response to replay, or the refusal when there is nothing (yet) to replay. */
function replayable(prior: StoredKey | undefined, hash: string): StoredKey & { status_code: number } {
  if (prior === undefined) {
    throw new HttpError({ status: 409, error: 'idempotency_in_progress', message: 'retry this request' });
  }
  if (prior.request_hash !== hash) {
    throw new HttpError({
      status: 422,
      error: 'idempotency_key_reused',
      message: 'this Idempotency-Key was used for a different request',
      field: 'headers.idempotency-key',
    });
  }
  if (prior.status_code === null) {
    throw new HttpError({
      status: 409,
      error: 'idempotency_in_progress',
      message: 'a request with this Idempotency-Key is still being processed',
    });
  }
  return { ...prior, status_code: prior.status_code };
}

/** onSend: store the response under the claimed key, or free the key when there is none to replay. */
async function rememberResponse(
  deps: IdempotencyDeps,
  req: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
) {
  const idem = req.idempotency;
  if (idem === null) return payload;
  req.idempotency = null;
  if (reply.statusCode >= 500 || typeof payload !== 'string') {
    // Nothing stable to replay: let the client retry under the same key.
    await deps.db.rows('delete from idempotency_keys where owner = $1 and key = $2 and status_code is null', [
      idem.owner,
      idem.key,
    ]);
    return payload;
  }
  const type = reply.getHeader('content-type');
  await deps.db.rows(
    `update idempotency_keys set status_code = $3, content_type = $4, body = $5, completed_at = $6
         where owner = $1 and key = $2`,
    [
      idem.owner,
      idem.key,
      reply.statusCode,
      typeof type === 'string' ? type : null,
      payload,
      toIso(deps.clock.now()),
    ],
  );
  return payload;
}
