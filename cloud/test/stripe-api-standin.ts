import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signWebhook } from '../payments/webhook-signature.js';

/**
 * A LOCAL STAND-IN FOR THE STRIPE API — the documented subset the adapter (`payments/stripe.ts`)
 * calls, so tests run the real `stripe` client over HTTP without a Stripe account. It answers:
 * - `POST /v1/checkout/sessions` (mode, client_reference_id, metadata, line_items[0].price_data
 *   {currency, unit_amount}, payment_intent_data {setup_future_usage, metadata}, success/cancel
 *   url) → a Session {id, url, client_reference_id, amount_total, currency, payment_status,
 *   payment_intent, metadata};
 * - `GET /v1/checkout/sessions/:id` (`expand[]=payment_intent`);
 * - `POST /v1/payment_intents` (amount, currency, customer, payment_method, off_session, confirm,
 *   metadata) → a PaymentIntent, or a 402 `card_error` for a declined method;
 * - `GET /v1/payment_intents/:id`, `GET /v1/payment_intents/search` (query on
 *   `metadata['reference']`);
 * - `POST /v1/refunds` (payment_intent, amount, metadata) → a Refund, or a 400
 *   `invalid_request_error` for more than is left to refund.
 * Every POST honours `Idempotency-Key` (same key → same answer). Switches: `mode = 'down'`
 * (connection dropped), `'error'` (500 api_error), `slowMs` (answers delayed). `pay()` plays the
 * payer on the hosted page; `signedEvent()` builds a webhook signed with Stripe's documented scheme.
 * NOT covered: 3-D Secure/SCA, real declines and risk rules, payouts, Stripe's own webhook retries,
 * API version drift — only a real Stripe account proves those.
 */

type Obj = Record<string, unknown>;

export interface StripeStandin {
  url: string;
  mode: 'up' | 'down' | 'error';
  slowMs: number;
  /** Every request, in order (method and path). */
  requests: { method: string; path: string; idempotencyKey: string | null }[];
  sessions: Map<string, Obj>;
  intents: Map<string, Obj>;
  refunds: Map<string, Obj>;
  /** The payer pays a session: a customer, a saved card and a succeeded PaymentIntent. */
  pay(sessionId: string, opts?: { declineLater?: boolean }): Obj;
  /** A webhook event body and its `Stripe-Signature` header, signed at `atMs`. */
  signedEvent(
    type: string,
    object: Obj,
    secret: string,
    atMs: number,
  ): { body: string; signature: string; id: string };
  close(): Promise<void>;
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

/** Stripe's form encoding (`a[b][0][c]=v`) into nested objects (arrays as index-keyed objects). */
function parseForm(text: string): Obj {
  const out: Obj = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const path = key.replace(/\]/g, '').split('[');
    let node = out;
    for (const [i, part] of path.entries()) {
      if (i === path.length - 1) node[part] = value;
      else {
        if (node[part] === undefined) node[part] = {};
        node = node[part] as Obj;
      }
    }
  }
  return out;
}

const num = (v: unknown) => (typeof v === 'string' ? Number(v) : NaN);

export async function startStripeStandin(): Promise<StripeStandin> {
  const replies = new Map<string, { status: number; body: Obj }>();
  const s: StripeStandin = {
    url: '',
    mode: 'up',
    slowMs: 0,
    requests: [],
    sessions: new Map(),
    intents: new Map(),
    refunds: new Map(),
    pay(sessionId) {
      const session = s.sessions.get(sessionId);
      if (session === undefined) throw new Error(`no session ${sessionId}`);
      if (session.payment_status === 'paid') return session;
      const pi: Obj = {
        id: id('pi'),
        object: 'payment_intent',
        amount: session.amount_total,
        amount_received: session.amount_total,
        currency: session.currency,
        status: 'succeeded',
        customer: id('cus'),
        payment_method: id('pm'),
        metadata: (session.payment_intent_data as Obj | undefined)?.metadata ?? {},
      };
      s.intents.set(pi.id as string, pi);
      Object.assign(session, {
        payment_status: 'paid',
        status: 'complete',
        payment_intent: pi.id,
        customer: pi.customer,
      });
      return session;
    },
    signedEvent(type, object, secret, atMs) {
      const eventId = id('evt');
      const body = JSON.stringify({
        id: eventId,
        object: 'event',
        api_version: '2025-01-01',
        created: Math.floor(atMs / 1000),
        type,
        data: { object },
      });
      return { body, signature: signWebhook(body, secret, atMs), id: eventId };
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  function createSession(f: Obj): [number, Obj] {
    const li = ((f.line_items as Obj | undefined)?.['0'] as Obj | undefined)?.price_data as Obj | undefined;
    const amount = num(li?.unit_amount);
    if (!Number.isInteger(amount) || typeof li?.currency !== 'string')
      return [
        400,
        { error: { type: 'invalid_request_error', message: 'line_items[0][price_data] is required' } },
      ];
    const session: Obj = {
      id: id('cs_test'),
      object: 'checkout.session',
      mode: f.mode,
      url: `${s.url}/pay/${''}`,
      client_reference_id: f.client_reference_id ?? null,
      metadata: f.metadata ?? {},
      amount_total: amount,
      currency: li.currency,
      payment_status: 'unpaid',
      status: 'open',
      payment_intent: null,
      customer: null,
      payment_intent_data: f.payment_intent_data ?? {},
      success_url: f.success_url,
    };
    session.url = `${s.url}/pay/${session.id as string}`;
    s.sessions.set(session.id as string, session);
    return [200, session];
  }

  function createIntent(f: Obj): [number, Obj] {
    const pm = f.payment_method as string | undefined;
    const known = [...s.intents.values()].some((p) => p.payment_method === pm && p.customer === f.customer);
    const pi: Obj = {
      id: id('pi'),
      object: 'payment_intent',
      amount: num(f.amount),
      amount_received: num(f.amount),
      currency: f.currency,
      customer: f.customer,
      payment_method: pm,
      status: 'succeeded',
      metadata: f.metadata ?? {},
    };
    if (!known)
      return [
        402,
        {
          error: {
            type: 'card_error',
            code: 'card_declined',
            message: 'Your card was declined.',
            payment_intent: pi,
          },
        },
      ];
    s.intents.set(pi.id as string, pi);
    return [200, pi];
  }

  function createRefund(f: Obj): [number, Obj] {
    const pi = s.intents.get(f.payment_intent as string);
    if (pi === undefined)
      return [
        404,
        {
          error: {
            type: 'invalid_request_error',
            code: 'resource_missing',
            message: 'No such payment_intent',
          },
        },
      ];
    const amount = f.amount === undefined ? (pi.amount as number) : num(f.amount);
    const done = [...s.refunds.values()]
      .filter((r) => r.payment_intent === pi.id)
      .reduce((sum, r) => sum + (r.amount as number), 0);
    if (!(amount > 0) || done + amount > (pi.amount as number))
      return [
        400,
        {
          error: {
            type: 'invalid_request_error',
            code: 'amount_too_large',
            message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${(pi.amount as number) - done})`,
          },
        },
      ];
    const r: Obj = {
      id: id('re'),
      object: 'refund',
      amount,
      currency: pi.currency,
      payment_intent: pi.id,
      status: 'succeeded',
      metadata: f.metadata ?? {},
    };
    s.refunds.set(r.id as string, r);
    return [200, r];
  }

  function route(method: string, url: URL, form: Obj): [number, Obj] {
    const p = url.pathname;
    const missing: [number, Obj] = [
      404,
      { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such object: ${p}` } },
    ];
    if (method === 'POST' && p === '/v1/checkout/sessions') return createSession(form);
    if (method === 'POST' && p === '/v1/payment_intents') return createIntent(form);
    if (method === 'POST' && p === '/v1/refunds') return createRefund(form);
    if (method === 'GET' && p === '/v1/payment_intents/search') {
      const ref = /metadata\['reference'\]:'([^']*)'/.exec(url.searchParams.get('query') ?? '')?.[1];
      const data = [...s.intents.values()].filter(
        (pi) => (pi.metadata as Obj).reference === ref && pi.status === 'succeeded',
      );
      return [200, { object: 'search_result', data, has_more: false, next_page: null, url: p }];
    }
    const session = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(p);
    if (method === 'GET' && session) {
      const found = s.sessions.get(session[1]!);
      if (found === undefined) return missing;
      const expand = [...url.searchParams.values()].includes('payment_intent');
      const pi =
        expand && typeof found.payment_intent === 'string' ? s.intents.get(found.payment_intent) : null;
      return [200, pi ? { ...found, payment_intent: pi } : found];
    }
    const intent = /^\/v1\/payment_intents\/([^/]+)$/.exec(p);
    if (method === 'GET' && intent) {
      const found = s.intents.get(intent[1]!);
      return found === undefined ? missing : [200, found];
    }
    return missing;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const key = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const url = new URL(req.url ?? '/', s.url);
    s.requests.push({ method: req.method ?? '', path: url.pathname, idempotencyKey: key });
    if (s.mode === 'down') {
      req.socket.destroy();
      return;
    }
    let reply: { status: number; body: Obj };
    if (s.mode === 'error')
      reply = { status: 500, body: { error: { type: 'api_error', message: 'stand-in is failing' } } };
    else if (key !== null && replies.has(`${req.method} ${url.pathname} ${key}`))
      reply = replies.get(`${req.method} ${url.pathname} ${key}`)!;
    else {
      const [status, body] = route(
        req.method ?? 'GET',
        url,
        parseForm(Buffer.concat(chunks).toString('utf8')),
      );
      reply = { status, body };
      if (key !== null && status < 500) replies.set(`${req.method} ${url.pathname} ${key}`, reply);
    }
    // Slow: the work is done (and remembered under its key) at once, the answer comes late.
    if (s.slowMs > 0) await new Promise((r) => setTimeout(r, s.slowMs));
    if (res.destroyed) return;
    res.writeHead(reply.status, { 'content-type': 'application/json', 'request-id': id('req') });
    res.end(JSON.stringify(reply.body));
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500).end(JSON.stringify({ error: { type: 'api_error', message: String(e) } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return s;
}
