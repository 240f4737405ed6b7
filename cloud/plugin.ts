import type { FastifyPluginAsync, FastifyPluginOptions } from 'fastify';

/**
 * Marks a plugin the way fastify-plugin does, through the symbols Fastify itself reads: not
 * encapsulated (its decorators and hooks reach the parent), named, and with declared dependencies
 * that Fastify checks at registration.
 */
export function definePlugin<O extends FastifyPluginOptions = Record<never, never>>(
  fn: FastifyPluginAsync<O>,
  meta: { name: string; dependencies?: string[]; decorators?: { fastify?: string[] } },
): FastifyPluginAsync<O> {
  const marked = fn as FastifyPluginAsync<O> & Record<symbol, unknown>;
  marked[Symbol.for('skip-override')] = true;
  marked[Symbol.for('fastify.display-name')] = meta.name;
  marked[Symbol.for('plugin-meta')] = meta;
  return marked;
}
