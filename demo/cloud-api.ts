import type { z } from 'zod';
import type { ReservationCreated } from '../protocol/http.js';

/**
 * A small client of the cloud's public HTTP API (v1), as a driver app or an operator tool would use
 * it. The demo seeds accounts and lots and books its traffic through this, over real HTTP.
 */

export class CloudApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CloudApiError';
  }
}

export interface Money {
  amount: number;
  currency: string;
}

export interface Reservation {
  id: string;
  lotId: string;
  plate: string;
  spotLabel: string;
  start: string;
  end: string;
  status: string;
  credential: string | null;
  price: Money;
}

/** POST /v1/reservations answers with the protocol's ReservationCreated. */
export type Created = z.output<typeof ReservationCreated>;

export class CloudApi {
  #token: string | null = null;

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  get token(): string | null {
    return this.#token;
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { message: text };
    }
    if (!res.ok) {
      const err = (data ?? {}) as { error?: string; message?: string };
      throw new CloudApiError(
        res.status,
        err.error ?? `http_${res.status}`,
        `${method} ${path}: ${res.status} ${err.message ?? ''}`.trim(),
      );
    }
    return data as T;
  }

  /** Log in; with `registerIfMissing` a driver account is created on the first 401. */
  async login(email: string, password: string, options: { registerIfMissing?: boolean } = {}): Promise<void> {
    try {
      const r = await this.request<{ accessToken: string }>('POST', '/v1/auth/token', { email, password });
      this.#token = r.accessToken;
    } catch (err) {
      if (!(options.registerIfMissing && err instanceof CloudApiError && err.status === 401)) throw err;
      const r = await this.request<{ accessToken: string }>('POST', '/v1/auth/register', { email, password });
      this.#token = r.accessToken;
    }
  }

  capacity(lotId: string, q: { vehicleType: string; start: string; end: string }) {
    const qs = new URLSearchParams(q).toString();
    return this.request<{ available: number; price: Money }>(
      'GET',
      `/v1/lots/${encodeURIComponent(lotId)}/capacity?${qs}`,
    );
  }

  reserve(
    body: { lotId: string; vehicleType: string; plate: string; start: string; end: string },
    idempotencyKey?: string,
  ) {
    return this.request<Created>(
      'POST',
      '/v1/reservations',
      body,
      idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
    );
  }

  /** The sandbox payment provider: "pays" the checkout named by the payment URL, returns the token. */
  sandboxPay(paymentUrl: string) {
    const checkout = decodeURIComponent(new URL(paymentUrl).pathname.split('/').pop() ?? '');
    return this.request<{ paymentToken: string }>('POST', '/v1/sandbox/pay', { checkout });
  }

  complete(reservationId: string, paymentToken: string) {
    return this.request<Reservation>(
      'POST',
      `/v1/reservations/${encodeURIComponent(reservationId)}/complete`,
      {
        paymentToken,
      },
    );
  }

  /** reserve → sandbox pay → complete: a CONFIRMED reservation with its signed QR credential. */
  async book(body: {
    lotId: string;
    vehicleType: string;
    plate: string;
    start: string;
    end: string;
  }): Promise<Reservation> {
    const created = await this.reserve(body);
    const { paymentToken } = await this.sandboxPay(created.paymentUrl);
    const done = await this.complete(created.id, paymentToken);
    // The route answers with the reservation (or wraps it); accept both.
    return ((done as unknown as { reservation?: Reservation }).reservation ?? done) as Reservation;
  }
}
