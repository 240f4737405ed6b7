import t from 'tap';
import { receiptPdf } from '../receipts/render.js';
import { findReceipt } from '../receipts/store.js';
import { buildTestCloud, HOUR, iso, lotBody, MIN, payCheckout, T0 } from './helpers.js';

/**
 * An operator gives its legal identity and a lot's VAT rate; a driver pays a booking and reads its
 * receipt (PDF and page) from the booking's view; the signed link works without an account; the
 * receipt is hidden from everybody else.
 */

/** The text an uncompressed pdfkit file shows: its `[<hex> kern <hex>] TJ` strings, decoded, a line each. */
function pdfText(pdf: string): string {
  const shows = pdf.match(/\[[^\]]*\] TJ/g) ?? [];
  return shows
    .map((tj) =>
      (tj.match(/<([0-9a-f]*)>/g) ?? [])
        .map((h) => Buffer.from(h.slice(1, -1), 'hex').toString('latin1'))
        .join(''),
    )
    .join('\n');
}

t.test('operator identity, VAT rate, and the receipt of a paid booking', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  const lot = lotBody({}, 2);
  const lotId = lot.id!;
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lot });
  const op = await cloud.userWithToken('operator', [lotId]);
  const stranger = await cloud.userWithToken('operator');
  const driver = await cloud.userWithToken('driver');
  const other = await cloud.userWithToken('driver');

  // ---- the operator finds its operator entity and gives it a legal identity ----
  const list = await cloud.call('GET', '/v1/operators', { token: op.token });
  t.equal(list.status, 200);
  t.equal(list.body.operators.length, 1, 'the operator of the lot it staffs');
  const operatorId: string = list.body.operators[0].id;
  t.same(list.body.operators[0].lots, [{ lotId, name: lot.name, vatRateBp: 0 }]);
  t.same((await cloud.call('GET', '/v1/operators', { token: stranger.token })).body.operators, []);
  t.equal((await cloud.call('GET', `/v1/operators/${operatorId}`, { token: stranger.token })).status, 404);
  t.equal((await cloud.call('GET', `/v1/operators/${operatorId}`, { token: driver.token })).status, 403);

  const empty = await cloud.call('PATCH', `/v1/operators/${operatorId}`, { token: op.token, body: {} });
  t.equal(empty.status, 400);
  const badPrefix = await cloud.call('PATCH', `/v1/operators/${operatorId}`, {
    token: op.token,
    body: { receiptPrefix: 'no spaces' },
  });
  t.equal(badPrefix.status, 400);
  t.match(badPrefix.body, { field: 'body.receiptPrefix' });
  const patched = await cloud.call('PATCH', `/v1/operators/${operatorId}`, {
    token: op.token,
    body: {
      legalName: 'Acme Parking GmbH',
      vatId: 'DE 123 456 789',
      address: 'Hauptstr. 1, Berlin',
      receiptPrefix: 'ACME',
    },
  });
  t.equal(patched.status, 200);
  t.match(patched.body, { legalName: 'Acme Parking GmbH', vatId: 'DE 123 456 789', receiptPrefix: 'ACME' });

  const vat = await cloud.call('PUT', `/v1/lots/${lotId}/vat`, {
    token: op.token,
    body: { vatRateBp: 2000 },
  });
  t.equal(vat.status, 200);
  t.same(vat.body, { lotId, operatorId, vatRateBp: 2000 });
  t.equal(
    (await cloud.call('PUT', `/v1/lots/${lotId}/vat`, { token: op.token, body: { vatRateBp: 10_001 } }))
      .status,
    400,
    'at most 100 %',
  );
  t.equal(
    (await cloud.call('PUT', `/v1/lots/${lotId}/vat`, { token: stranger.token, body: { vatRateBp: 0 } }))
      .status,
    404,
    'only on lots you operate',
  );

  // ---- a driver books 3 h at 400/h and pays: 1200 gross, 20 % VAT included = 200, net 1000 ----
  const r = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: { lotId, vehicleType: 'car', plate: 'B-AC 1', start: iso(T0 + HOUR), end: iso(T0 + 4 * HOUR) },
  });
  const before = await cloud.call('GET', `/v1/reservations/${r.body.id}`, { token: driver.token });
  t.equal(before.body.receipt, null, 'no receipt before it is paid');
  const token = await payCheckout(cloud, r.body.paymentUrl);
  await cloud.call('POST', `/v1/reservations/${r.body.id}/complete`, {
    token: driver.token,
    body: { paymentToken: token },
  });
  const view = await cloud.call('GET', `/v1/reservations/${r.body.id}`, { token: driver.token });
  t.equal(view.status, 200);
  t.equal(view.body.receipt.number, 'ACME-000001');
  const url = new URL(view.body.receipt.url);
  const path = `${url.pathname}${url.search}`;
  t.match(path, /^\/v1\/payments\/[^/]+\/receipt\?t=[\w-]+$/);
  const paymentId = url.pathname.split('/')[3]!;

  // ---- the signed link, without an account: PDF and page ----
  const pdf = await cloud.app.inject({ method: 'GET', url: path });
  t.equal(pdf.statusCode, 200);
  t.match(pdf.headers['content-type'], /^application\/pdf/);
  t.equal(pdf.rawPayload.subarray(0, 5).toString('latin1'), '%PDF-', 'a PDF');
  const html = await cloud.app.inject({ method: 'GET', url: `${path}&format=html` });
  t.equal(html.statusCode, 200);
  t.match(html.headers['content-type'], /^text\/html/);
  for (const shown of [
    'ACME-000001',
    'Acme Parking GmbH',
    'DE 123 456 789',
    '<th>Net</th><td>10.00 EUR</td>',
    '<th>VAT 20 %</th><td>2.00 EUR</td>',
    '<th>Total paid</th><td>12.00 EUR</td>',
    'plate BAC1',
  ]) {
    t.ok(html.body.includes(shown), `the page shows ${shown}`);
  }

  // The same content in the PDF (uncompressed, text is hex-encoded glyph strings).
  const stored = await findReceipt(cloud.db.pooled, paymentId);
  const plain = (await receiptPdf(stored!.receipt, { compress: false })).toString('latin1');
  t.equal(plain.slice(0, 5), '%PDF-');
  const text = pdfText(plain);
  for (const shown of [
    'ACME-000001',
    'Acme Parking GmbH',
    'DE 123 456 789',
    'Net: 10.00 EUR',
    'VAT 20 %: 2.00 EUR',
    'Total paid: 12.00 EUR',
  ]) {
    t.ok(text.includes(shown), `the PDF prints ${shown}`);
  }

  // ---- who else may read it ----
  const byOwner = await cloud.call('GET', `/v1/payments/${paymentId}/receipt?format=html`, {
    token: driver.token,
  });
  t.equal(byOwner.status, 200, 'the driver who paid');
  const byOperator = await cloud.call('GET', `/v1/payments/${paymentId}/receipt?format=html`, {
    token: op.token,
  });
  t.equal(byOperator.status, 200, "the lot's operator");
  for (const [who, opts] of [
    ['no token, no account', {}],
    ['another driver', { token: other.token }],
    ['another operator', { token: stranger.token }],
  ] as const) {
    t.equal((await cloud.call('GET', `/v1/payments/${paymentId}/receipt`, opts)).status, 404, who);
  }
  const forged = await cloud.call('GET', `/v1/payments/${paymentId}/receipt?t=${'A'.repeat(43)}`);
  t.equal(forged.status, 404, 'a forged link');
  const otherPayment = await cloud.call('GET', `/v1/payments/nope/receipt?t=${url.searchParams.get('t')}`);
  t.equal(otherPayment.status, 404, 'a link is good for its own payment only');

  // ---- left 20 minutes late: the overstay charge gets the next number, with its minutes ----
  cloud.clock.set(T0 + HOUR);
  t.equal(
    (
      await cloud.call('POST', `/v1/lots/${lotId}/arrivals`, {
        token: op.token,
        body: { reservationId: r.body.id },
      })
    ).status,
    200,
  );
  cloud.clock.set(T0 + 4 * HOUR + 20 * MIN);
  const left = await cloud.call('POST', `/v1/lots/${lotId}/departures`, {
    token: op.token,
    body: { reservationId: r.body.id },
  });
  t.same(left.body.charge, { amount: 200, currency: 'EUR' }, '2 started slots × 400/4');
  const [overstay] = await cloud.db.rows<{ id: string }>(
    `select id from payments where reservation_id = $1 and kind = 'overstay' and status = 'succeeded'`,
    [r.body.id],
  );
  const over = await cloud.call('GET', `/v1/payments/${overstay!.id}/receipt?format=html`, {
    token: driver.token,
  });
  t.equal(over.status, 200);
  for (const shown of [
    'ACME-000002',
    'Overstay after a booking',
    '20 minutes',
    '<th>VAT 20 %</th><td>0.33 EUR</td>',
  ]) {
    t.ok(over.body.includes(shown), `the overstay receipt shows ${shown}`);
  }

  // A later change of identity does not rewrite the issued receipt.
  await cloud.call('PATCH', `/v1/operators/${operatorId}`, {
    token: op.token,
    body: { legalName: 'Renamed AG' },
  });
  const again = await cloud.app.inject({ method: 'GET', url: `${path}&format=html` });
  t.ok(again.body.includes('Acme Parking GmbH'), 'issued receipts keep what they printed');
});
