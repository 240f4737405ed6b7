import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { type SmtpCatcher, startSmtpCatcher } from '../notifications/smtp-catcher.js';
import { defaultNotificationsConfig } from '../notifications/dispatcher.js';
import { gateEventEffects } from '../sync/effects.js';
import { buildTestCloud, HOUR, iso, lotBody, MIN, payCheckout, T0, type TestCloud } from './helpers.js';

/** A webhook receiver on a fixed port that can be taken down and brought back. */
class Receiver {
  received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  status = 200;
  #server: Server | null = null;
  port = 0;
  async up(): Promise<void> {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        this.received.push({ headers: req.headers, body });
        res.writeHead(this.status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }
  async down(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  get url() {
    return `http://127.0.0.1:${this.port}/hook`;
  }
}

async function setup(
  t: { teardown(fn: () => unknown): void; equal(a: unknown, b: unknown): void },
  overrides: Partial<typeof defaultNotificationsConfig> = {},
) {
  const smtp = await startSmtpCatcher();
  t.teardown(() => smtp.close());
  const cloud = await buildTestCloud({
    config: {
      notifications: { ...defaultNotificationsConfig, dispatch: false, smtpUrl: smtp.url, ...overrides },
    },
  });
  t.teardown(() => cloud.close());
  const op = await cloud.userWithToken('operator');
  const body = lotBody({ name: 'Tom & Jerry <Garage>' });
  t.equal((await cloud.call('POST', '/v1/lots', { token: op.token, body })).status, 201);
  const driver = await cloud.userWithToken('driver');
  return { smtp, cloud, op, driver, lotId: body.id as string };
}

async function book(cloud: TestCloud, token: string, lotId: string, plate: string, pay = true) {
  const r = await cloud.call('POST', '/v1/reservations', {
    token,
    body: { lotId, vehicleType: 'car', plate, start: iso(T0 + 2 * HOUR), end: iso(T0 + 4 * HOUR) },
  });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  if (pay) {
    const paymentToken = await payCheckout(cloud, r.body.paymentUrl);
    const done = await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
      token,
      body: { paymentToken },
    });
    if (done.status !== 200) throw new Error(JSON.stringify(done.body));
  }
  return r.body.id as string;
}

const bodyOf = (smtp: SmtpCatcher, i: number) => smtp.messages[i]!.raw.replace(/=\r?\n/g, '');

t.test('booking confirmed, hold expiring and cancelled arrive by email, each once', async (t) => {
  const { smtp, cloud, driver, lotId } = await setup(t);
  const id = await book(cloud, driver.token, lotId, 'B-XY 42');
  t.same(await cloud.app.notifications.drain(), { sent: 1, failed: 0 });
  t.equal(smtp.messages.length, 1);
  const mail = smtp.messages[0]!;
  t.same(mail.to, [driver.user.email]);
  t.match(mail.subject, /Booking confirmed/);
  const raw = bodyOf(smtp, 0);
  t.match(raw, /Tom &amp; Jerry &lt;Garage&gt;/, 'the lot name is escaped in the HTML');
  const html = raw.slice(raw.indexOf('Content-Type: text/html'));
  t.notMatch(html.slice(0, html.indexOf('Content-Type: image/png')), /<Garage>/, 'never raw in HTML');
  t.match(raw, /Content-Type: image\/png/, 'the QR code as an inline image');
  t.match(raw, new RegExp(`Content-ID: <qr-${id}@parkedge>`));
  t.match(raw, new RegExp(`/v1/reservations/${id}`), 'the booking link');
  const receiptLink = /\/v1\/payments\/([\w-]+)\/receipt\?t=([\w-]+)/.exec(raw.replaceAll('=3D', '='));
  t.ok(receiptLink, 'the receipt link');
  const receipt = await cloud.app.inject({ method: 'GET', url: receiptLink![0] });
  t.equal(receipt.statusCode, 200, 'which opens the PDF without an account');
  t.match(mail.messageId, /^<n\d+\.[0-9a-f]{16}@parkedge>$/);
  t.same(await cloud.app.notifications.drain(), { sent: 0, failed: 0 }, 'nothing more to send');

  // A hold that is not paid: warned 5 minutes before it expires, once.
  await book(cloud, driver.token, lotId, 'M-AB 1', false);
  cloud.clock.set(T0 + 10 * MIN + 1);
  await cloud.app.notifications.drain();
  cloud.clock.set(T0 + 11 * MIN);
  await cloud.app.notifications.drain();
  t.equal(smtp.messages.length, 2);
  t.match(smtp.messages[1]!.subject, /expires in 5 minutes/);
  t.match(bodyOf(smtp, 1), /\/v1\/sandbox\/checkout\//, 'with a pay link');

  const cancelled = await cloud.call('POST', `/v1/reservations/${id}/cancel`, { token: driver.token });
  t.equal(cancelled.status, 200);
  await cloud.app.notifications.drain();
  t.equal(smtp.messages.length, 3);
  t.match(smtp.messages[2]!.subject, /Booking cancelled/);
});

t.test('a plate or name cannot inject a header', async (t) => {
  const { smtp, cloud, op, lotId } = await setup(t);
  const patched = await cloud.call('PATCH', `/v1/lots/${lotId}`, {
    token: op.token,
    body: { name: 'Evil\r\nBcc: victim@example.com' },
  });
  const effects = gateEventEffects({} as never, cloud.db.pooled as never, silentLogger());
  await effects.apply(lotId, {
    eventId: 1,
    kind: 'tailgate',
    at: iso(T0),
    laneId: 'in-1',
    correlationId: null,
    sessionId: null,
  } as never);
  await cloud.app.notifications.drain();
  t.equal(smtp.messages.length, 1, 'the operator is told about the alarm');
  t.same(smtp.messages[0]!.to, [op.user.email]);
  t.match(smtp.messages[0]!.subject, /Alarm at .*tailgate/);
  const head = smtp.messages[0]!.raw.split('\r\n\r\n')[0]!;
  if (patched.status === 200) t.notMatch(head, /^Bcc:/im, 'no injected header line');
  t.equal(patched.status, 200, 'the name was accepted (so the check above ran)');
});

t.test('webhooks: signed, retried while the receiver is down, logged; validation', async (t) => {
  const { cloud, op, driver, lotId } = await setup(t);
  const bad = ['ftp://example.com/x', 'http://user:pw@example.com/x', 'not a url'];
  for (const url of bad) {
    const r = await cloud.call('POST', '/v1/webhooks', {
      token: op.token,
      body: { url, events: ['booking_confirmed'], lotId },
    });
    t.equal(r.status, 400, url);
  }
  const other = await cloud.userWithToken('operator');
  const foreign = await cloud.call('POST', '/v1/webhooks', {
    token: other.token,
    body: { url: 'http://127.0.0.1:9/x', events: ['booking_confirmed'], lotId },
  });
  t.equal(foreign.status, 404, "not for another operator's lot");

  const receiver = new Receiver();
  await receiver.up();
  await receiver.down(); // the port is known, nobody listens
  const created = await cloud.call('POST', '/v1/webhooks', {
    token: op.token,
    body: { url: receiver.url, events: ['booking_confirmed'], lotId },
  });
  t.equal(created.status, 201);
  const { id, secret } = created.body;
  t.match(secret, /^whsec_/);
  t.equal((await cloud.call('GET', '/v1/webhooks', { token: op.token })).body.webhooks.length, 1);
  t.equal((await cloud.call('GET', '/v1/webhooks', { token: other.token })).body.webhooks.length, 0);

  await book(cloud, driver.token, lotId, 'B-XY 42');
  await cloud.app.notifications.drain();
  let log = await cloud.call('GET', `/v1/webhooks/${id}/deliveries`, { token: op.token });
  t.equal(log.body.deliveries[0].status, 'pending');
  t.equal(log.body.deliveries[0].attempts, 1);
  t.ok(log.body.deliveries[0].lastError, 'the failure is logged');

  await receiver.up();
  cloud.clock.advance(10_000);
  await cloud.app.notifications.drain();
  t.equal(receiver.received.length, 0, 'not before the backoff');
  cloud.clock.advance(30_000);
  await cloud.app.notifications.drain();
  t.teardown(() => receiver.down());
  t.equal(receiver.received.length, 1, 'delivered once the receiver is back');
  const got = receiver.received[0]!;
  const sig = String(got.headers['parkedge-signature']);
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
  t.ok(m, sig);
  const expected = createHmac('sha256', secret).update(`${m![1]}.${got.body}`).digest('hex');
  t.equal(m![2], expected, 'HMAC-SHA256 over timestamp.body');
  const payload = JSON.parse(got.body);
  t.equal(payload.kind, 'booking_confirmed');
  t.equal(payload.lotId, lotId);
  t.equal(payload.data.reservation.plate, 'BXY42');
  log = await cloud.call('GET', `/v1/webhooks/${id}/deliveries`, { token: op.token });
  t.equal(log.body.deliveries[0].status, 'sent');
  t.equal(log.body.deliveries[0].attempts, 2);

  t.equal((await cloud.call('DELETE', `/v1/webhooks/${id}`, { token: op.token })).status, 200);
  t.equal((await cloud.call('GET', '/v1/webhooks', { token: op.token })).body.webhooks.length, 0);
});

t.test('a webhook that keeps failing is disabled and its owner told by email', async (t) => {
  const { smtp, cloud, op, driver, lotId } = await setup(t, { webhookDisableAfter: 2 });
  const receiver = new Receiver();
  receiver.status = 500;
  await receiver.up();
  t.teardown(() => receiver.down());
  const created = await cloud.call('POST', '/v1/webhooks', {
    token: op.token,
    body: { url: receiver.url, events: ['booking_confirmed'], lotId },
  });
  await book(cloud, driver.token, lotId, 'B-XY 42');
  await cloud.app.notifications.drain();
  cloud.clock.advance(HOUR);
  await cloud.app.notifications.drain();
  t.equal(receiver.received.length, 2);
  const list = await cloud.call('GET', '/v1/webhooks', { token: op.token });
  t.ok(list.body.webhooks[0].disabledAt, 'disabled');
  const toOperator = smtp.messages.filter((m) => m.to.includes(op.user.email));
  t.equal(toOperator.length, 1);
  t.match(toOperator[0]!.subject, /webhook was disabled/);
  cloud.clock.advance(HOUR);
  await cloud.app.notifications.drain();
  t.equal(receiver.received.length, 2, 'nothing more is sent to it');
  t.equal(created.status, 201);
});

t.test('lot offline for 3 minutes, then back online; a debt opened', async (t) => {
  const { smtp, cloud, op, lotId } = await setup(t);
  const presence = (state: string) =>
    cloud.db.rows(
      `insert into lot_presence (lot_id, state, last_seen) values ($1, $2, $3)
       on conflict (lot_id) do update set state = excluded.state`,
      [lotId, state, iso(cloud.clock.now())],
    );
  await presence('offline');
  await cloud.app.notifications.drain();
  cloud.clock.advance(2 * MIN);
  await cloud.app.notifications.drain();
  t.equal(smtp.messages.length, 0, 'not before 3 minutes');
  cloud.clock.advance(MIN + 1);
  await cloud.app.notifications.drain();
  t.equal(smtp.messages.length, 1);
  t.match(smtp.messages[0]!.subject, /Lot offline/);
  await presence('online');
  await cloud.app.notifications.drain();
  t.equal(smtp.messages.length, 2);
  t.match(smtp.messages[1]!.subject, /back online/);

  const effects = gateEventEffects({} as never, cloud.db.pooled as never, silentLogger());
  const debt = {
    eventId: 7,
    kind: 'unable_to_collect',
    at: iso(cloud.clock.now()),
    laneId: 'out-1',
    correlationId: null,
    sessionId: 'sess-1',
    reservationId: null,
    plate: 'BXY42',
    amount: { amount: 1250, currency: 'EUR' },
  };
  await effects.apply(lotId, debt as never);
  await effects.apply(lotId, debt as never);
  await cloud.app.notifications.drain();
  t.equal(smtp.messages.length, 3, 'once, though the event was applied twice');
  t.same(smtp.messages[2]!.to, [op.user.email]);
  t.match(bodyOf(smtp, 2), /12\.50 EUR/);
});
