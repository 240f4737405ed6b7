import { definePlugin } from '../plugin.js';
import type { PaymentProvider } from '../payments/provider.js';
import { createSandboxProvider } from '../payments/sandbox.js';

declare module 'fastify' {
  interface FastifyInstance {
    payments: PaymentProvider;
  }
}

/**
 * The payment provider chosen by configuration (or injected by a test), plus whatever routes the
 * provider serves itself. The only place that knows which provider is in use.
 */
export const paymentsPlugin = definePlugin<{ provider?: PaymentProvider }>(
  async (app, opts) => {
    const provider =
      opts.provider ??
      createSandboxProvider({
        secret: app.config.payments.sandboxSecret,
        publicUrl: app.config.publicUrl,
        clock: app.clock,
        random: app.random,
      });
    app.decorate('payments', provider);
    if (provider.routes) await app.register(provider.routes);
  },
  { name: 'payments', dependencies: ['core'] },
);
