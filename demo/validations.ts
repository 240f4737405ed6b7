import type { Random } from '../protocol/random.js';
import type { AttendantClient } from './attendant-api.js';
import { CloudApi } from './cloud-api.js';

/**
 * A merchant at each demo lot (a cinema, a mall) that validates some drive-ups' parking: it issues a
 * validation through the cloud API as its `validator` account, and the lot's attendant redeems it at
 * the booth through the edge's attendant API — the paths a real shop and a real attendant use. The
 * exit lane then shows the lower fee (docs/pricing.md#validations).
 */

export interface DemoMerchantDef {
  lotId: string;
  name: string;
  account: { email: string; password: string };
  /** What it gives: 50% off, or parking for a flat price. */
  offer: { kind: 'percent' | 'flat'; value: number };
}

export const DEMO_MERCHANTS: readonly DemoMerchantDef[] = [
  {
    lotId: 'lot-riverside',
    name: 'Riverside Cinema',
    account: { email: 'cinema@parkedge.demo', password: 'demo-validator-password' },
    offer: { kind: 'percent', value: 50 },
  },
  {
    lotId: 'lot-central',
    name: 'Central Mall',
    account: { email: 'mall@parkedge.demo', password: 'demo-validator-password' },
    offer: { kind: 'flat', value: 50 },
  },
];

export class DemoMerchant {
  readonly #cloud: CloudApi;
  #loggedIn = false;

  constructor(
    readonly def: DemoMerchantDef,
    cloudUrl: string,
    private readonly booth: AttendantClient,
    private readonly random: Random,
  ) {
    this.#cloud = new CloudApi(cloudUrl);
  }

  /** Validate the stay of the drive-up with this plate; the label of what it got. */
  async validate(plate: string): Promise<string> {
    if (!this.#loggedIn) {
      await this.#cloud.login(this.def.account.email, this.def.account.password);
      this.#loggedIn = true;
    }
    const { code } = await this.#cloud.request<{ code: string }>(
      'POST',
      `/v1/lots/${this.def.lotId}/validations`,
      { ...this.def.offer, validMinutes: 120 },
      { 'idempotency-key': `demo-${this.random.id(12)}` },
    );
    const sessionId = await this.booth.insideSession(plate);
    const r = await this.booth.request<{ validation: { label: string } }>(
      'POST',
      `/api/sessions/${sessionId}/validation`,
      { code },
    );
    return `${this.def.name}: ${r.validation.label}`;
  }
}
