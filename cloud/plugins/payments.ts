import type { FastifyInstance } from 'fastify';
import type { PaymentProvider } from '../payments/provider.js';
import { createPaymentPurposes, type PaymentPurposes } from '../payments/purposes.js';
import { createSandboxProvider } from '../payments/sandbox.js';
import { createStripeProvider } from '../payments/stripe.js';
import { definePlugin } from '../plugin.js';

declare module 'fastify' {
  interface FastifyInstance {
    payments: PaymentProvider;
    /** What a captured checkout pays for, by reference prefix (`booking`, `exit`, `debt`). */
    paymentPurposes: PaymentPurposes;
  }
}

/**
 * The payment provider chosen by configuration (PAYMENT_PROVIDER=sandbox|stripe, or injected by a
 * test), plus whatever routes the provider serves itself, and the registry of payment purposes
 * (built by the composition root, or here). The only place that knows which provider is in use.
 */
export const paymentsPlugin = definePlugin<{ provider?: PaymentProvider; purposes?: PaymentPurposes }>(
  async (app, opts) => {
    const log = app.log.child({ component: 'payments' });
    const provider = opts.provider ?? configuredProvider(app);
    app.decorate('payments', provider);
    app.decorate('paymentPurposes', opts.purposes ?? createPaymentPurposes(log));
    if (provider.routes) await app.register(provider.routes);
  },
  { name: 'payments', dependencies: ['core'] },
);

function configuredProvider(app: FastifyInstance): PaymentProvider {
  const { config } = app;
  const log = app.log.child({ component: 'payments' });
  if (config.payments.provider === 'stripe') {
    if (config.payments.stripe === undefined)
      throw new Error('PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET');
    return createStripeProvider({ settings: config.payments.stripe, clock: app.clock, log });
  }
  return createSandboxProvider({
    secret: config.payments.sandboxSecret,
    publicUrl: config.publicUrl,
    clock: app.clock,
    random: app.random,
    log,
  });
}
