/**
 * The lot controller's attendant API as the demo's people at the booth use it (a merchant redeeming
 * a validation, an attendant taking cash): logs in with the lot's attendant account, once.
 */
export class AttendantClient {
  #token: string | null = null;

  constructor(private readonly edge: { url: string; attendant: { username: string; password: string } }) {}

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    if (this.#token === null) {
      const login = await this.#call<{ token: string }>('POST', '/api/login', this.edge.attendant, null);
      this.#token = login.token;
    }
    return this.#call<T>(method, path, body, this.#token);
  }

  /** The session of the vehicle with this plate that is inside now. */
  async insideSession(plate: string): Promise<string> {
    const found = await this.request<{ sessions: Array<{ id: string; exitedAt: string | null }> }>(
      'GET',
      `/api/lookup?plate=${encodeURIComponent(plate)}`,
    );
    const inside = found.sessions.find((s) => s.exitedAt === null);
    if (inside === undefined) throw new Error(`${plate} is not inside`);
    return inside.id;
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
    if (res.status === 401) this.#token = null;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${data.message ?? ''}`);
    return data;
  }
}

/** The attendant at a lot's booth takes the fee in cash from a driver inside (the whole amount due). */
export async function takeCash(attendant: AttendantClient, plate: string): Promise<string> {
  const sessionId = await attendant.insideSession(plate);
  const r = await attendant.request<{ paid: { amount: number; currency: string } }>(
    'POST',
    `/api/sessions/${sessionId}/cash`,
    {},
  );
  return `${(r.paid.amount / 100).toFixed(2)} ${r.paid.currency} in cash at the booth`;
}
