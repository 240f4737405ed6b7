import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { publicEntryOf, signingKeyFromPem } from '../../protocol/credential.js';
import { KeysResponse } from '../../protocol/http.js';

/** Public keys that verify QR credentials, for edges (and anyone: they are public). */
export const keyRoutes: FastifyPluginAsyncZod = async (app) => {
  const current = publicEntryOf(signingKeyFromPem(app.config.signing.keyId, app.config.signing.privatePem));
  app.get(
    '/v1/keys',
    {
      config: { access: 'public' },
      schema: {
        tags: ['keys'],
        summary: 'Credential verification keys',
        security: [],
        response: { 200: KeysResponse },
      },
    },
    async () => ({ keys: [current] }),
  );
};
