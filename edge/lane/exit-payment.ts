import type { Timers } from '../../protocol/timers.js';
import type { EdgeBus } from '../bus.js';
import type { MoneyView } from './money-policy.js';

/**
 * Waits at an exit lane for a stay's fee to be paid by the QR: the cloud's capture reaches the lot
 * as a new money state (down/money → the `money` bus event), which says how much the stay has paid
 * online. Resolves true as soon as that covers `needed` (minor units), false at the deadline.
 */
export function waitForExitPayment(o: {
  bus: Pick<EdgeBus, 'on'>;
  money: Pick<MoneyView, 'paidFor'>;
  timers: Timers;
  sessionId: string;
  needed: number;
  timeoutMs: number;
}): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (paid: boolean) => {
      if (done) return;
      done = true;
      off();
      o.timers.clearTimeout(timer);
      resolve(paid);
    };
    const off = o.bus.on((e) => {
      if (e.type === 'money' && o.money.paidFor(o.sessionId) >= o.needed) finish(true);
    });
    const timer = o.timers.setTimeout(() => finish(false), Math.max(0, o.timeoutMs));
    // Paid between the decision and the subscription.
    if (o.money.paidFor(o.sessionId) >= o.needed) finish(true);
  });
}
