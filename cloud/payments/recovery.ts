import type { Logger } from '../../protocol/logger.js';
import type { PaymentProvider } from './provider.js';
import type { PaymentPurposes } from './purposes.js';

/**
 * Crash recovery for captures: a checkout paid while we were down (or whose webhook was lost) is
 * found by asking the provider about every reference still waiting for its payment (sandbox: its
 * ledger; Stripe: a PaymentIntent search by `metadata.reference`), and applied through the same
 * purposes as a webhook. Pending charges and refunds are retried by the payments sweeper with their
 * original idempotency keys, which gives the provider's existing answer instead of a second movement.
 */
export interface CaptureRecovery {
  /** References to ask about (each purpose's open ones); sources are added by the purposes. */
  addSource(source: (nowMs: number, lookbackMs: number) => Promise<string[]>): void;
  /** Ask the provider about each; returns how many captures were applied. */
  run(nowMs: number, lookbackMs: number): Promise<number>;
}

export function createCaptureRecovery(deps: {
  provider: PaymentProvider;
  purposes: PaymentPurposes;
  log: Logger;
}): CaptureRecovery {
  const { provider, purposes, log } = deps;
  const sources: ((nowMs: number, lookbackMs: number) => Promise<string[]>)[] = [];
  return {
    addSource(source) {
      sources.push(source);
    },
    async run(nowMs, lookbackMs) {
      let applied = 0;
      for (const source of sources) {
        for (const reference of await source(nowMs, lookbackMs)) {
          let capture: Awaited<ReturnType<PaymentProvider['findCapture']>>;
          try {
            capture = await provider.findCapture(reference);
          } catch (err) {
            log.warn({ err, reference }, 'payment provider unreachable; recovery resumes on the next sweep');
            return applied;
          }
          if (capture === null) continue;
          const outcome = await purposes.dispatch(capture);
          if (outcome === 'applied' || outcome === 'recorded') {
            applied++;
            log.info({ reference, paymentRef: capture.paymentRef }, 'recovered a capture we had not applied');
          }
        }
      }
      return applied;
    },
  };
}
