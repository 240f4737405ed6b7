import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import type { ErrorBody } from '../../protocol/http.js';
import { HttpError } from '../errors.js';
import { definePlugin } from '../plugin.js';

/**
 * One error shape for every failure: `{ error, message, field?, rule?, issues? }`. Validation
 * errors are 400s naming the field and the rule; client errors keep their status; anything else
 * is a 500 with a generic message — stack traces and internals only go to the log.
 */

const PART: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'params',
  headers: 'headers',
};

/** A custom check names its rule in its params (e.g. `invalid_plate`); else zod's issue code. */
function ruleOf(v: { keyword: string; params?: unknown }): string {
  const rule = (v.params as { params?: { rule?: unknown } } | undefined)?.params?.rule;
  return typeof rule === 'string' ? rule : v.keyword;
}

/**
 * Errors the router raises before any route runs (Fastify's `frameworkErrors` option): a path
 * parameter longer than the router's limit (2,048 characters) or a malformed %-escape in the path.
 * Both are 400s in the one error shape, which every route with a path parameter documents; the
 * URL is never echoed back.
 */
export function frameworkErrors(error: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    const body: ErrorBody = {
      error: 'validation_failed',
      message: 'a path parameter is longer than 2048 characters',
      field: 'params',
      rule: 'too_big',
    };
    void reply.code(400).send(body);
    return;
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    const body: ErrorBody = {
      error: 'validation_failed',
      message: 'a path parameter has a malformed %-escape',
      field: 'params',
      rule: 'invalid_format',
    };
    void reply.code(400).send(body);
    return;
  }
  req.log.error({ err: error }, 'router error');
  void reply.code(500).send({ error: 'internal', message: 'internal error' });
}

export const errorsPlugin = definePlugin(
  async (app) => {
    app.setErrorHandler((error: FastifyError, req, reply) => {
      if (error instanceof HttpError) {
        return reply.code(error.statusCode).send(error.body);
      }
      if (hasZodFastifySchemaValidationErrors(error)) {
        const part = PART[error.validationContext ?? 'body'] ?? 'body';
        const issues = error.validation.slice(0, 20).map((v) => ({
          field: [part, ...v.instancePath.split('/').filter(Boolean)].join('.'),
          rule: ruleOf(v),
          message: v.message ?? 'invalid',
        }));
        const first = issues[0]!;
        const body: ErrorBody = {
          error: 'validation_failed',
          message: `${first.field}: ${first.message}`,
          field: first.field,
          rule: first.rule,
          issues,
        };
        return reply.code(400).send(body);
      }
      if (isResponseSerializationError(error)) {
        req.log.error({ err: error, issues: error.cause.issues }, 'response did not match its schema');
        return reply.code(500).send({ error: 'internal', message: 'internal error' });
      }
      const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
      if (status >= 400 && status < 500) {
        // Fastify's own client errors: bad JSON, unsupported media type, body too large, rate limit.
        const code =
          status === 429
            ? 'rate_limited'
            : status === 413
              ? 'payload_too_large'
              : status === 415
                ? 'unsupported_media_type'
                : status === 404
                  ? 'not_found'
                  : 'bad_request';
        const message =
          typeof error.message === 'string' && error.message.length < 300 ? error.message : code;
        return reply.code(status).send({ error: code, message });
      }
      req.log.error({ err: error }, 'request failed');
      return reply.code(500).send({ error: 'internal', message: 'internal error' });
    });

    app.setNotFoundHandler((req, reply) => {
      reply
        .code(404)
        .send({ error: 'not_found', message: `no route ${req.method} ${req.url.slice(0, 200)}` });
    });
  },
  { name: 'errors' },
);
