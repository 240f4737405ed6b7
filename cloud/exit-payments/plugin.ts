import { EventEmitter } from 'node:events';
import { debtPurpose } from '../debts/purpose.js';
import { debtRoutes } from '../debts/routes.js';
import { definePlugin } from '../plugin.js';
import type { PaymentPurposes } from '../payments/purposes.js';
import { exitPurpose } from './purpose.js';
import { exitPaymentRoutes } from './routes.js';

/** `changed` (lotId, or null for every lot): the money state lots hold moved (a debt, a paid stay). */
export type MoneySignals = EventEmitter<{ changed: [lotId: string | null] }>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The sync engine's money publisher listens here to tell the lots at once (down/money). */
    moneySignals: MoneySignals;
  }
}

/**
 * Debts and exit payments: registers the `exit` and `debt` payment purposes with the app's
 * purposes (built by the composition root) and serves their routes and pay pages.
 */
export const exitDebtsPlugin = definePlugin<{ purposes: PaymentPurposes }>(
  async (app, opts) => {
    const signals: MoneySignals = new EventEmitter();
    app.decorate('moneySignals', signals);
    const base = { db: app.db, clock: app.clock, random: app.random };
    opts.purposes.register('exit', exitPurpose({ ...base, paid: (lotId) => signals.emit('changed', lotId) }));
    opts.purposes.register(
      'debt',
      debtPurpose({
        ...base,
        settled: () => signals.emit('changed', null),
        refund: (paymentId) => app.reservations.settlePayment(paymentId),
      }),
    );
    const deps = {
      ...base,
      payments: app.payments,
      purposes: opts.purposes,
      lots: app.lots,
    };
    await app.register(exitPaymentRoutes(() => deps));
    await app.register(debtRoutes);
  },
  { name: 'exit-debts', dependencies: ['core', 'db', 'payments'] },
);
