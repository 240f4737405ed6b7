import type { Timers } from '../../protocol/timers.js';
import type { EdgeBus } from '../bus.js';

/**
 * Waits at an exit lane for a stay's fee to be paid: by the QR (the cloud's capture reaches the lot
 * as a new money state: down/money → the `money` bus event) or in cash at the booth (an audited
 * attendant action: the `audit` bus event). `covered()` says whether what was paid now covers the
 * fee; it is asked again on each of those events. Resolves true once covered, false at the deadline.
 */
export function waitForExitPayment(o: {
  bus: Pick<EdgeBus, 'on'>;
  covered: () => boolean;
  timers: Timers;
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
      if ((e.type === 'money' || e.type === 'audit') && o.covered()) finish(true);
    });
    const timer = o.timers.setTimeout(() => finish(false), Math.max(0, o.timeoutMs));
    // Paid between the decision and the subscription.
    if (o.covered()) finish(true);
  });
}
