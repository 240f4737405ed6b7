import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** The Fastify scope a route plugin gets (Zod type provider): what each route registration takes. */
export type CloudApi = Parameters<FastifyPluginAsyncZod>[0];
