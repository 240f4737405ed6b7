import type { Random } from '../protocol/random.js';
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
  #edgeToken: string | null = null;
  #loggedIn = false;

  constructor(
    readonly def: DemoMerchantDef,
    cloudUrl: string,
    private readonly edge: { url: string; attendant: { username: string; password: string } },
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
    const found = await this.#edge<{ sessions: Array<{ id: string; exitedAt: string | null }> }>(
      'GET',
      `/api/lookup?plate=${encodeURIComponent(plate)}`,
    );
    const inside = found.sessions.find((s) => s.exitedAt === null);
    if (inside === undefined) throw new Error(`${plate} is not inside`);
    const r = await this.#edge<{ validation: { label: string } }>(
      'POST',
      `/api/sessions/${inside.id}/validation`,
      {
        code,
      },
    );
    return `${this.def.name}: ${r.validation.label}`;
  }

  async #edge<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    if (this.#edgeToken === null) {
      const login = await this.#call<{ token: string }>('POST', '/api/login', this.edge.attendant, null);
      this.#edgeToken = login.token;
    }
    return this.#call<T>(method, path, body, this.#edgeToken);
  }

  async #call<T>(method: string, path: string, body: unknown, token: string | null): Promise<T> {
    const res = await fetch(`${this.edge.url}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    const data = (await res.json().catch(() => ({}))) as T & { message?: string };
    if (res.status === 401) this.#edgeToken = null;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${data.message ?? ''}`);
    return data;
  }
}
