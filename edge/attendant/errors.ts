import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  type ZodFastifySchemaValidationError,
} from 'fastify-type-provider-zod';
import type { ErrorBody } from '../../protocol/http.js';
import type { Logger } from '../../protocol/logger.js';

/**
 * Errors in the cloud's shape (protocol/http.ts ErrorBody: `{ error, message, field? }`), so a
 * client reads both the same way. Internals go to the log only.
 */

/** Request parts as the cloud names them in `field` (`body.reason`, `query.limit`). */
const PART: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'params',
  headers: 'headers',
};

export function validationErrorBody(
  validation: readonly ZodFastifySchemaValidationError[],
  context: string | undefined,
): ErrorBody {
  const message = validation
    .slice(0, 3)
    .map(
      (v) =>
        `${v.instancePath.replace(/^\//, '').replaceAll('/', '.') || context || 'request'}: ${v.message}`,
    )
    .join('; ');
  const first = validation[0];
  const part = PART[context ?? 'body'] ?? 'body';
  const field = first ? [part, ...first.instancePath.split('/').filter(Boolean)].join('.') : part;
  return { error: 'bad_request', message, field };
}

export function attendantErrorHandler(log: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      return reply.code(400).send(validationErrorBody(error.validation, error.validationContext));
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) log.error({ err: error, url: request.url }, 'attendant API error');
    const body: ErrorBody =
      status >= 500
        ? { error: 'internal', message: 'internal error' }
        : { error: 'error', message: error.message };
    return reply.code(status).send(body);
  };
}
