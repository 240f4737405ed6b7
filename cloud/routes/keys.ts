import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  ErrorBody,
  KeyIdParams,
  KeysResponse,
  RotateKeysBody,
  RotateKeysResponse,
  SigningKeyList,
  SigningKeyView,
} from '../../protocol/http.js';
import { HttpError } from '../errors.js';

/**
 * Public keys that verify QR credentials, for edges (and anyone: they are public), and the admin's
 * key ring: list, rotate (a new key signs; the old one verifies until its grace ends), revoke.
 */
export const keyRoutes: FastifyPluginAsyncZod = async (app) => {
  const ring = app.signingKeys;
  app.get(
    '/v1/keys',
    {
      config: { access: 'public' },
      schema: {
        tags: ['keys'],
        summary: 'Credential verification keys valid now, with their validity windows',
        security: [],
        response: { 200: KeysResponse },
      },
    },
    async () => ({ keys: ring.publicKeys(app.clock.now()) }),
  );

  app.get(
    '/v1/keys/all',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['keys'],
        summary: 'Every signing key with its window and revocation (admin)',
        response: { 200: SigningKeyList, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async () => {
      await ring.refresh();
      return { keys: ring.list() };
    },
  );

  app.post(
    '/v1/keys/rotate',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['keys'],
        summary: 'Rotate the signing key: a new key signs; the old one verifies for graceDays more (admin)',
        body: RotateKeysBody,
        response: { 200: RotateKeysResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (req) => {
      const graceDays = req.body.graceDays ?? app.config.keys.rotationGraceDays;
      const rotated = await ring.rotate(app.clock.now(), graceDays);
      req.log.warn(
        { kid: rotated.current.keyId, retired: rotated.retired?.keyId, graceDays },
        'signing key rotated',
      );
      return rotated;
    },
  );

  app.post(
    '/v1/keys/:kid/revoke',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['keys'],
        summary:
          'Revoke a signing key: lots drop it with their next config; QRs it signed are refused (admin)',
        params: KeyIdParams,
        response: {
          200: SigningKeyView,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (req) => {
      const r = await ring.revoke(req.params.kid, app.clock.now());
      if (r === 'unknown')
        throw new HttpError({ status: 404, error: 'not_found', message: `no signing key ${req.params.kid}` });
      if (r === 'current') {
        throw new HttpError({
          status: 409,
          error: 'current_key',
          message: 'the current signing key cannot be revoked; rotate first, then revoke it',
        });
      }
      req.log.warn({ kid: r.keyId }, 'signing key revoked');
      return r;
    },
  );
};
