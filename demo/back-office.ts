import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import { CloudApi } from './cloud-api.js';

/**
 * The demo operator's back office, through the cloud API as a real operator would: once in a while
 * it refunds part of one paid booking as a goodwill gesture (a reason, audited) and writes off the
 * oldest small debt of a lot that has more than one (keeping the newest on show). With the drive-ups
 * paying by QR or in cash, the late leavers' overstay and the debts left while a link is cut, every
 * column of the reconciliation report then has figures (docs/money.md).
 */
export interface BackOfficeOptions {
  cloudUrl: string;
  operator: { email: string; password: string };
  lotIds: readonly string[];
  everyMs: number;
  random: Random;
  logger: Logger;
  /** What it did, for the terminal. */
  onAction: (lotId: string, detail: string) => void;
}

interface OpenDebt {
  id: string;
  plate: string;
  amount: { amount: number; currency: string };
  createdAt: string;
}

export class DemoBackOffice {
  readonly #api: CloudApi;
  readonly #refunded = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #loggedIn = false;

  constructor(private readonly o: BackOfficeOptions) {
    this.#api = new CloudApi(o.cloudUrl);
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.round().catch((err: unknown) => this.o.logger.warn({ err }, 'demo back office round failed'));
    }, this.o.everyMs);
    this.#timer.unref?.();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async round(): Promise<void> {
    if (!this.#loggedIn) {
      await this.#api.login(this.o.operator.email, this.o.operator.password);
      this.#loggedIn = true;
    }
    for (const lotId of this.o.lotIds) {
      await this.#writeOffSmallDebt(lotId);
      if (!this.#refunded.has(lotId)) await this.#goodwillRefund(lotId);
    }
  }

  async #writeOffSmallDebt(lotId: string): Promise<void> {
    const { debts } = await this.#api.request<{ debts: OpenDebt[] }>(
      'GET',
      `/v1/debts?lotId=${encodeURIComponent(lotId)}&status=open`,
    );
    if (debts.length < 2) return;
    const oldest = [...debts].sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0]!;
    if (oldest.amount.amount > 200) return;
    await this.#api.request('POST', `/v1/debts/${oldest.id}/settle`, {
      method: 'write_off',
      reason: 'under the collection threshold (demo back office)',
    });
    this.o.onAction(lotId, `wrote off ${oldest.plate}'s debt of ${money(oldest.amount)}`);
  }

  async #goodwillRefund(lotId: string): Promise<void> {
    const { reservations } = await this.#api.request<{ reservations: Array<{ id: string; plate: string }> }>(
      'GET',
      `/v1/reservations?lotId=${encodeURIComponent(lotId)}&status=CONFIRMED&limit=5`,
    );
    for (const r of reservations) {
      const view = await this.#api.request<{ receipt: { url: string } | null }>(
        'GET',
        `/v1/reservations/${r.id}`,
      );
      const paymentId = view.receipt?.url.match(/\/v1\/payments\/([^/]+)\/receipt/)?.[1];
      if (paymentId === undefined) continue;
      const amount = { amount: 100, currency: 'EUR' };
      await this.#api.request(
        'POST',
        `/v1/payments/${paymentId}/refunds`,
        { amount: amount.amount, reason: 'goodwill: the barrier was slow (demo back office)' },
        { 'idempotency-key': `demo-refund-${lotId}-${this.o.random.id(8)}` },
      );
      this.#refunded.add(lotId);
      this.o.onAction(lotId, `refunded ${money(amount)} of ${r.plate}'s booking (goodwill)`);
      return;
    }
  }
}

const money = (m: { amount: number; currency: string }) => `${(m.amount / 100).toFixed(2)} ${m.currency}`;
