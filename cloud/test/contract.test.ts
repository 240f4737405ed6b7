import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import t from 'tap';
import { z } from 'zod';
import { RegisterBody } from '../../protocol/http.js';
import type { SandboxProvider } from '../payments/sandbox.js';
import { signWebhook } from '../payments/webhook-signature.js';
import { docsPlugin } from '../plugins/docs.js';
import { errorsPlugin, frameworkErrors } from '../plugins/errors.js';
import { ContractChecker, type ContractStep, openApiToJsonSchema } from './contract-check.js';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout, T0, type TestCloud } from './helpers.js';

/**
 * The OpenAPI document is the contract: every documented route and method, called with a valid
 * request and with requests derived from its own schemas, answers only statuses and bodies the
 * document lists; nothing is served undocumented (`contract-check.ts`). The last sub-test shows the
 * check failing on an app that drifts from its document.
 */

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

/** Served on purpose without being in the document. */
const UNDOCUMENTED = [/^\/openapi\.json$/, /^\/metrics$/, /^\/docs(\/.*)?$/, /^\/console(\/.*)?$/];

// biome-ignore lint/suspicious/noExplicitAny: the test walks the document's JSON freely
async function openapi(app: TestCloud): Promise<Record<string, any>> {
  const res = await app.app.inject({ method: 'GET', url: '/openapi.json' });
  return res.json();
}

/** A valid request for every documented route, in an order that makes each succeed. */
async function storySteps(cloud: TestCloud): Promise<ContractStep[]> {
  const admin = await cloud.userWithToken('admin');
  const driver = await cloud.userWithToken('driver');
  const lotId = 'ct-lot';
  const created = await cloud.call('POST', '/v1/lots', {
    token: admin.token,
    body: lotBody({ id: lotId }, 4),
  });
  if (created.status !== 201) throw new Error(`lot: ${created.status}`);
  const permitLot = lotBody({ id: 'ct-permits' }, 1);
  permitLot.spots.push({ id: 'p1', label: 'P-1', level: '0', type: 'car', pool: 'permit' });
  const permitLotCreated = await cloud.call('POST', '/v1/lots', { token: admin.token, body: permitLot });
  if (permitLotCreated.status !== 201) throw new Error(`permit lot: ${permitLotCreated.status}`);
  const permit = { id: '', closureId: '' };
  // Debts and a drive-up inside, as uploaded gate events leave them (cloud/debts/, cloud/exit-payments/).
  for (const [id, key] of [
    ['ct-debt-1', 's-ct-1'],
    ['ct-debt-2', 's-ct-2'],
  ])
    await cloud.db.rows(
      `insert into debts (id, plate, lot_id, source, source_key, amount, currency, created_at)
       values ($1, 'CTOWE1', $2, 'unpaid_exit', $3, 500, 'EUR', $4)`,
      [id, lotId, key, iso(T0)],
    );
  await cloud.db.rows(
    `insert into gate_events (lot_id, event_id, kind, at, body) values ($1, 1, 'entry', $2, $3)`,
    [lotId, iso(T0 - HOUR), JSON.stringify({ sessionId: 's-ct-in', plate: 'CTIN1', reservationId: null })],
  );
  const window = { start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) };
  const s = {
    refreshToken: '',
    reservationId: '',
    checkout: '',
    paymentToken: '',
    webhookId: '',
    paymentId: '',
    retiredKid: '',
    receiptPath: '',
    debtPaymentUrl: '',
  };
  const email = 'contract-driver@example.com';
  const password = 'a long enough password';
  return [
    { route: 'GET /health', expect: 200, request: () => ({}) },
    { route: 'GET /ready', expect: 200, request: () => ({}) },
    {
      route: 'POST /v1/auth/register',
      expect: 201,
      request: () => ({ body: { email, password } }),
      after: (b) => {
        s.refreshToken = (b as { refreshToken: string }).refreshToken;
      },
    },
    { route: 'POST /v1/auth/token', expect: 200, request: () => ({ body: { email, password } }) },
    {
      route: 'POST /v1/auth/refresh',
      expect: 200,
      request: () => ({ body: { refreshToken: s.refreshToken } }),
    },
    { route: 'GET /v1/me', expect: 200, request: () => ({ token: driver.token }) },
    {
      route: 'POST /v1/users',
      expect: 201,
      request: () => ({
        token: admin.token,
        body: { email: 'contract-op@example.com', password, role: 'operator', lotIds: [lotId] },
      }),
    },
    { route: 'GET /v1/keys', expect: 200, request: () => ({}) },
    {
      route: 'POST /v1/lots',
      expect: 201,
      request: () => ({ token: admin.token, body: lotBody({ id: 'ct-new' }, 2) }),
    },
    {
      route: 'GET /v1/lots',
      expect: 200,
      request: () => ({
        token: driver.token,
        query: { lat: '52.5', lng: '13.4', radiusKm: '50', limit: '10' },
      }),
    },
    {
      route: 'GET /v1/lots/{lotId}',
      expect: 200,
      request: () => ({ token: driver.token, params: { lotId } }),
    },
    {
      route: 'PATCH /v1/lots/{lotId}',
      expect: 200,
      request: () => ({ token: admin.token, params: { lotId }, body: { name: 'Contract Garage' } }),
    },
    {
      route: 'GET /v1/lots/{lotId}/capacity',
      expect: 200,
      request: () => ({ token: driver.token, params: { lotId }, query: { vehicleType: 'car', ...window } }),
    },
    {
      route: 'GET /v1/lots/{lotId}/rate-plan',
      expect: 200,
      request: () => ({ token: admin.token, params: { lotId } }),
    },
    {
      route: 'PUT /v1/lots/{lotId}/rate-plan',
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { lotId },
        body: {
          currency: 'EUR',
          hourlyRate: 400,
          rules: [{ kind: 'band', name: 'Night', from: '00:00', to: '07:00', hourlyRate: 100 }],
        },
      }),
    },
    {
      route: 'POST /v1/lots/{lotId}/validations',
      expect: 201,
      request: () => ({
        token: admin.token,
        params: { lotId },
        headers: { 'idempotency-key': 'contract-validation-1' },
        body: { kind: 'minutes', value: 60 },
      }),
    },
    {
      route: 'GET /v1/lots/{lotId}/validations/report',
      expect: 200,
      request: () => ({ token: admin.token, params: { lotId } }),
    },
    {
      route: 'GET /v1/lots/{lotId}/price',
      expect: 200,
      request: () => ({ params: { lotId }, query: { vehicleType: 'car', ...window } }),
    },
    {
      route: 'POST /v1/reservations',
      expect: 201,
      request: () => ({
        token: driver.token,
        headers: { 'idempotency-key': 'contract-reserve-1' },
        body: { lotId, vehicleType: 'car', plate: 'B-CT 101', ...window },
      }),
      after: (b) => {
        const r = b as { id: string; paymentUrl: string };
        s.reservationId = r.id;
        s.checkout = r.paymentUrl.slice(r.paymentUrl.lastIndexOf('/') + 1);
      },
    },
    {
      route: 'GET /v1/sandbox/checkout/{checkout}',
      expect: 200,
      request: () => ({ params: { checkout: s.checkout } }),
    },
    {
      route: 'POST /v1/sandbox/pay',
      expect: 200,
      request: () => ({ body: { checkout: s.checkout } }),
      after: (b) => {
        s.paymentToken = (b as { paymentToken: string }).paymentToken;
      },
    },
    {
      route: 'POST /v1/reservations/{id}/complete',
      expect: 200,
      request: () => ({
        token: driver.token,
        params: { id: s.reservationId },
        body: { paymentToken: s.paymentToken },
      }),
    },
    {
      route: 'POST /v1/payments/sandbox/webhook',
      expect: 200,
      request: () => {
        const body = JSON.stringify({ id: 'evt_contract_1', type: 'customer.created', data: { object: {} } });
        const secret = (cloud.app.payments as SandboxProvider).webhookSecret;
        return {
          headers: {
            'content-type': 'application/json',
            'stripe-signature': signWebhook(body, secret, cloud.clock.now()),
          },
          body,
        };
      },
    },
    {
      route: 'GET /v1/payments/{paymentId}',
      expect: 200,
      request: async () => {
        const [p] = await cloud.db.rows<{ id: string }>(
          `select id from payments where reservation_id = $1 and kind = 'capture'`,
          [s.reservationId],
        );
        s.paymentId = p?.id ?? '';
        return { token: driver.token, params: { paymentId: s.paymentId } };
      },
    },
    {
      route: 'POST /v1/payments/{paymentId}/refunds',
      expect: 200,
      request: () => ({
        token: admin.token,
        headers: { 'idempotency-key': 'contract-refund-1' },
        params: { paymentId: s.paymentId },
        body: { amount: 100, reason: 'contract refund' },
      }),
    },
    {
      route: 'PATCH /v1/reservations/{id}',
      expect: 200,
      request: () => ({
        token: driver.token,
        headers: { 'idempotency-key': 'contract-change-1' },
        params: { id: s.reservationId },
        body: { endAt: iso(T0 + 3 * HOUR) },
      }),
    },
    {
      route: 'GET /v1/reservations/{id}',
      expect: 200,
      request: () => ({ token: driver.token, params: { id: s.reservationId } }),
      after: (b) => {
        s.receiptPath = new URL((b as { receipt: { url: string } }).receipt.url).pathname;
      },
    },
    {
      route: 'GET /v1/payments/{paymentId}/receipt',
      expect: 200,
      request: () => ({
        token: driver.token,
        params: { paymentId: s.receiptPath.split('/')[3]! },
        query: { format: 'html' },
      }),
    },
    { route: 'GET /v1/operators', expect: 200, request: () => ({ token: admin.token }) },
    {
      route: 'GET /v1/operators/{id}',
      expect: 200,
      request: () => ({ token: admin.token, params: { id: `op-${admin.user.id}` } }),
    },
    {
      route: 'PATCH /v1/operators/{id}',
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { id: `op-${admin.user.id}` },
        body: { legalName: 'Contract Parking GmbH', vatId: 'DE123456789' },
      }),
    },
    {
      route: 'PUT /v1/lots/{lotId}/vat',
      expect: 200,
      request: () => ({ token: admin.token, params: { lotId }, body: { vatRateBp: 1900 } }),
    },
    {
      route: 'GET /v1/reservations',
      expect: 200,
      request: () => ({ token: admin.token, query: { lotId, status: 'CONFIRMED', limit: '5' } }),
    },
    {
      route: 'GET /v1/reservations/{id}/qr',
      expect: 200,
      request: () => ({ token: driver.token, params: { id: s.reservationId }, query: { format: 'svg' } }),
    },
    {
      route: 'POST /v1/reservations/{id}/cancel',
      expect: 200,
      request: async () => {
        const other = await cloud.call('POST', '/v1/reservations', {
          token: driver.token,
          body: { lotId, vehicleType: 'car', plate: 'CT202', ...window },
        });
        return { token: driver.token, params: { id: String(other.body.id) } };
      },
    },
    {
      route: 'POST /v1/lots/{lotId}/arrivals',
      expect: 200,
      request: () => {
        cloud.clock.set(T0 + HOUR);
        return { token: admin.token, params: { lotId }, body: { reservationId: s.reservationId } };
      },
    },
    {
      route: 'POST /v1/lots/{lotId}/departures',
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { lotId },
        body: { plate: 'BCT101', at: iso(T0 + HOUR) },
      }),
    },
    // No sync engine in this app: the fleet routes answer their documented 503.
    { route: 'GET /v1/fleet', expect: 503, request: () => ({ token: admin.token }) },
    {
      route: 'GET /v1/lots/{lotId}/presence',
      expect: 503,
      request: () => ({ token: admin.token, params: { lotId } }),
    },
    {
      route: 'POST /v1/lots/{lotId}/commands',
      expect: 503,
      request: () => ({
        token: admin.token,
        params: { lotId },
        body: { kind: 'open_lane', laneId: 'entry-1', reason: 'contract test' },
      }),
    },
    {
      route: 'GET /v1/lots/{lotId}/commands',
      expect: 503,
      request: () => ({ token: admin.token, params: { lotId }, query: { limit: '5' } }),
    },
    ...(['occupancy', 'revenue', 'usage', 'no-shows'] as const).map((kind) => ({
      route: `GET /v1/lots/{lotId}/reports/${kind}`,
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { lotId },
        query: { from: iso(T0 - 24 * HOUR), to: iso(T0 + 24 * HOUR), bucket: 'day' },
      }),
    })),
    {
      route: 'GET /v1/lots/{lotId}/reconciliation',
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { lotId },
        query: { from: '2030-01-06', to: '2030-01-08' },
      }),
    },
    {
      route: 'POST /v1/webhooks',
      expect: 201,
      request: () => ({
        token: admin.token,
        body: { url: 'https://example.com/parkedge-hook', events: ['booking_confirmed'], lotId },
      }),
      after: (b) => {
        s.webhookId = (b as { id: string }).id;
      },
    },
    { route: 'GET /v1/webhooks', expect: 200, request: () => ({ token: admin.token }) },
    {
      route: 'GET /v1/webhooks/{id}/deliveries',
      expect: 200,
      request: () => ({ token: admin.token, params: { id: s.webhookId } }),
    },
    {
      route: 'DELETE /v1/webhooks/{id}',
      expect: 200,
      request: () => ({ token: admin.token, params: { id: s.webhookId } }),
    },
    { route: 'GET /v1/keys/all', expect: 200, request: () => ({ token: admin.token }) },
    {
      route: 'POST /v1/keys/rotate',
      expect: 200,
      request: () => ({ token: admin.token, body: {} }),
      after: (b) => {
        s.retiredKid = (b as { retired: { keyId: string } | null }).retired?.keyId ?? '';
      },
    },
    {
      route: 'POST /v1/keys/{kid}/revoke',
      expect: 200,
      request: () => ({ token: admin.token, params: { kid: s.retiredKid } }),
    },
    // The operator console's API (cloud/console/).
    {
      route: 'POST /v1/console/session',
      expect: 200,
      request: () => ({
        headers: { 'x-parkedge-console': '1' },
        body: { email: 'contract-op@example.com', password },
      }),
    },
    { route: 'GET /v1/console/session', expect: 200, request: () => ({ token: admin.token }) },
    { route: 'GET /v1/console/lots', expect: 200, request: () => ({ token: admin.token }) },
    {
      route: 'GET /v1/console/reservations',
      expect: 200,
      request: () => ({ token: admin.token, query: { plate: 'BCT', lotId, limit: '5' } }),
    },
    {
      route: 'GET /v1/console/reservations/{id}/story',
      expect: 200,
      request: () => ({ token: admin.token, params: { id: s.reservationId } }),
    },
    {
      route: 'POST /v1/reservations/{id}/refund',
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { id: s.reservationId },
        body: { amount: 100, reason: 'contract' },
      }),
    },
    {
      route: 'GET /v1/debts',
      expect: 200,
      request: () => ({ token: admin.token, query: { plate: 'CTOWE1' } }),
    },
    {
      route: 'POST /v1/debts/{id}/checkout',
      expect: 200,
      request: () => ({ params: { id: 'ct-debt-1' }, body: {} }),
      after: (b) => {
        s.debtPaymentUrl = (b as { checkout: { paymentUrl: string } }).checkout.paymentUrl;
      },
    },
    {
      route: 'POST /v1/pay/complete',
      expect: 200,
      request: async () => ({
        body: { reference: 'debt:ct-debt-1', paymentToken: await payCheckout(cloud, s.debtPaymentUrl) },
      }),
    },
    {
      route: 'POST /v1/debts/{id}/settle',
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { id: 'ct-debt-2' },
        body: { method: 'write_off', reason: 'contract test' },
      }),
    },
    {
      route: 'GET /v1/lots/{lotId}/exit-fee',
      expect: 200,
      request: () => ({ params: { lotId }, query: { plate: 'CTIN1' } }),
    },
    {
      route: 'POST /v1/lots/{lotId}/exit-payments',
      expect: 201,
      request: () => ({ params: { lotId }, body: { plate: 'CTIN1' } }),
    },
    {
      route: 'GET /pay/{lotId}',
      expect: 200,
      request: () => ({ params: { lotId }, query: { plate: 'CTIN1' } }),
    },
    { route: 'GET /pay/debt/{id}', expect: 200, request: () => ({ params: { id: 'ct-debt-1' } }) },
    {
      route: 'DELETE /v1/console/session',
      expect: 200,
      request: () => ({ headers: { 'x-parkedge-console': '1' } }),
    },
    // Permits (docs/permits.md).
    {
      route: 'POST /v1/lots/{lotId}/permits',
      expect: 201,
      request: () => ({
        token: admin.token,
        headers: { 'idempotency-key': 'contract-permit-1' },
        params: { lotId: 'ct-permits' },
        body: {
          holder: 'Contract GmbH',
          plates: ['B-CT 900'],
          validFrom: iso(T0),
          validTo: iso(T0 + 30 * 24 * HOUR),
          accessHours: [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '19:00' }],
          maxInside: 1,
          price: { amount: 9000, currency: 'EUR' },
          period: 'month',
        },
      }),
      after: (b) => {
        permit.id = (b as { id: string }).id;
      },
    },
    {
      route: 'GET /v1/lots/{lotId}/permits',
      expect: 200,
      request: () => ({ token: admin.token, params: { lotId: 'ct-permits' }, query: { status: 'active' } }),
    },
    {
      route: 'GET /v1/permits/{id}',
      expect: 200,
      request: () => ({ token: admin.token, params: { id: permit.id } }),
    },
    {
      route: 'PATCH /v1/permits/{id}',
      expect: 200,
      request: () => ({ token: admin.token, params: { id: permit.id }, body: { status: 'suspended' } }),
    },
    {
      route: 'GET /v1/permits/{id}/qr',
      expect: 200,
      request: () => ({ token: admin.token, params: { id: permit.id } }),
    },
    {
      route: 'DELETE /v1/permits/{id}',
      expect: 200,
      request: () => ({ token: admin.token, params: { id: permit.id } }),
    },
    // Changing a lot (docs/permits.md#changing-a-lot).
    {
      route: 'POST /v1/lots/{lotId}/spots',
      expect: 201,
      request: () => ({
        token: admin.token,
        params: { lotId: 'ct-permits' },
        body: { spots: [{ id: 'n1', label: 'N-1', level: '0', type: 'car', pool: 'bookable' }] },
      }),
    },
    {
      route: 'PATCH /v1/lots/{lotId}/spots/{spotId}',
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { lotId: 'ct-permits', spotId: 'n1' },
        body: { pool: 'driveup' },
      }),
    },
    {
      route: 'DELETE /v1/lots/{lotId}/spots/{spotId}',
      expect: 200,
      request: () => ({ token: admin.token, params: { lotId: 'ct-permits', spotId: 'n1' } }),
    },
    {
      route: 'PUT /v1/lots/{lotId}/hours',
      expect: 200,
      request: () => ({
        token: admin.token,
        params: { lotId: 'ct-permits' },
        body: { operatingHours: [{ days: [1, 2, 3, 4, 5], from: '06:00', to: '22:00' }] },
      }),
    },
    {
      route: 'POST /v1/lots/{lotId}/closures',
      expect: 201,
      request: () => ({
        token: admin.token,
        params: { lotId: 'ct-permits' },
        body: { from: '2030-02-01', to: '2030-02-02', reason: 'Resurfacing' },
      }),
      after: (b) => {
        permit.closureId = (b as { id: string }).id;
      },
    },
    {
      route: 'DELETE /v1/lots/{lotId}/closures/{closureId}',
      expect: 200,
      request: () => ({ token: admin.token, params: { lotId: 'ct-permits', closureId: permit.closureId } }),
    },
  ];
}

// One app for the two sub-tests that need a database (each builds its own lot and users).
const cloud = await buildTestCloud();
t.teardown(() => cloud.close());
t.comment(`database: ${cloud.kind}`);

t.test('every documented route keeps to the document', async (t) => {
  const checker = new ContractChecker(cloud.app, await openapi(cloud));
  const steps = await storySteps(cloud);
  await checker.run(steps, { undocumented: UNDOCUMENTED, randomPerRoute: 12, seed: 15 });
  t.ok(checker.documentedRoutes().length >= 27, `${checker.documentedRoutes().length} documented routes`);
  t.comment(`${checker.sent} requests`);
  t.same(checker.problems, [], 'no route answers outside its document');
});

t.test('the document states the rules the API applies', async (t) => {
  cloud.clock.set(T0);
  const doc = openApiToJsonSchema(await openapi(cloud));
  const admin = await cloud.userWithToken('admin');
  const driver = await cloud.userWithToken('driver');
  await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id: 'rules' }, 2) });
  const body = (path: string, method: string) =>
    doc.paths[path][method].requestBody.content['application/json'].schema;
  const ajv = addFormats(new Ajv({ strict: false }));
  const compile = (schema: object) => ajv.compile({ components: doc.components, allOf: [schema] });

  t.test('PATCH a lot: at least one known field', async (t) => {
    const schema = body('/v1/lots/{lotId}', 'patch');
    t.equal(schema.minProperties, 1, 'documented: minProperties 1');
    t.equal(schema.additionalProperties, false, 'documented: no other fields');
    t.notOk(compile(schema)({}), 'the document refuses {}');
    const empty = await cloud.call('PATCH', '/v1/lots/rules', { token: admin.token, body: {} });
    t.equal(empty.status, 400);
    t.match(empty.body.message, /at least one of name, rates, policy/);
    const typo = await cloud.call('PATCH', '/v1/lots/rules', { token: admin.token, body: { nmae: 'x' } });
    t.equal(typo.status, 400, 'a misspelt field is refused, not ignored');
    t.match(typo.body.message, /nmae/);
  });

  t.test('arrivals and departures: reservationId or plate, as an anyOf', async (t) => {
    for (const kind of ['arrivals', 'departures']) {
      const schema = body(`/v1/lots/{lotId}/${kind}`, 'post');
      t.same(schema.anyOf, [{ required: ['reservationId'] }, { required: ['plate'] }], kind);
      t.notOk(compile(schema)({ at: iso(T0) }), `${kind}: the document refuses neither`);
      const r = await cloud.call('POST', `/v1/lots/rules/${kind}`, { token: admin.token, body: {} });
      t.equal(r.status, 400);
      t.equal(r.body.message, 'body.reservationId: give reservationId or plate');
    }
  });

  t.test('plates: 2 to 10 letters or digits, and the message says which rule failed', async (t) => {
    const schema = body('/v1/reservations', 'post').properties.plate;
    t.ok(schema.pattern, 'documented pattern');
    const reserve = (plate: string) =>
      cloud.call('POST', '/v1/reservations', {
        token: driver.token,
        body: { lotId: 'rules', vehicleType: 'car', plate, start: iso(T0 + HOUR), end: iso(T0 + 2 * HOUR) },
      });
    const long = await reserve('ABCDEFGHIJK');
    t.equal(long.status, 400);
    t.equal(long.body.field, 'body.plate');
    t.equal(long.body.rule, 'invalid_plate');
    t.equal(long.body.message, 'body.plate: plate must have 2 to 10 letters or digits, has 11');
    const odd = await reserve('AB#12');
    t.match(odd.body.message, /only letters A-Z and digits/);
    t.equal((await reserve('b-xy 42')).status, 201, 'separators are dropped');
    // The documented pattern and the server agree on any text.
    const documented = compile({ type: 'object', properties: { p: schema } });
    const plates = fc.sample(
      fc.oneof(
        fc.string({ maxLength: 14 }),
        fc.stringMatching(/^[A-Za-z0-9 .-]{0,14}$/),
        fc.string({ unit: 'grapheme', maxLength: 6 }),
      ),
      { numRuns: 40, seed: 7 },
    );
    for (const plate of plates) {
      const r = await cloud.call('POST', '/v1/lots/rules/arrivals', { token: admin.token, body: { plate } });
      const refusedAsInvalid = r.status === 400 && r.body.field === 'body.plate';
      t.equal(refusedAsInvalid, !documented({ p: plate }), `plate ${JSON.stringify(plate)}: ${r.status}`);
    }
  });

  t.test('emails: the documented format, hyphen-ended labels refused', async (t) => {
    const schema = body('/v1/auth/register', 'post').properties.email;
    const documented = compile({ type: 'object', properties: { e: schema } });
    const r = await cloud.call('POST', '/v1/auth/register', {
      body: { email: 'x@b-.cd', password: 'long enough password' },
    });
    t.equal(r.status, 400);
    t.equal(r.body.field, 'body.email');
    t.notOk(documented({ e: 'x@b-.cd' }), 'the document refuses it too');
    const emails = fc.sample(
      fc.oneof(
        fc.emailAddress(),
        fc.stringMatching(/^[a-z0-9.+_-]{1,6}@[a-z0-9.-]{1,10}$/),
        fc.constantFrom('a@b.co', 'a.b@c-d.ef', 'a..b@c.de', '.a@b.cd', 'a@-b.cd', 'a@b.c', 'a@b_c.de'),
      ),
      { numRuns: 200, seed: 11 },
    );
    for (const email of emails) {
      const server = RegisterBody.shape.email.safeParse(email).success;
      t.equal(server, documented({ e: email }), `email ${JSON.stringify(email)}`);
    }
  });

  t.test('an over-long path parameter is a documented 400 that does not echo the URL', async (t) => {
    const long = 'A'.repeat(3000);
    const r = await cloud.call('GET', `/v1/lots/${long}`, { token: driver.token });
    t.equal(r.status, 400);
    t.same(Object.keys(r.body).sort(), ['error', 'field', 'message', 'rule']);
    t.equal(r.body.error, 'validation_failed');
    t.notMatch(JSON.stringify(r.body), /AAAAAAAAAA/, 'the URL is not echoed');
    t.ok(doc.paths['/v1/lots/{lotId}'].get.responses['400'], '400 is documented');
    const bad = await cloud.call('GET', '/v1/lots/%E0%A4%A', { token: driver.token });
    t.equal(bad.status, 400, 'a malformed escape too');
    t.equal(bad.body.error, 'validation_failed');
  });

  t.test('the sandbox routes are documented as public', async (t) => {
    for (const [path, method] of [
      ['/v1/sandbox/checkout/{checkout}', 'get'],
      ['/v1/sandbox/pay', 'post'],
    ] as const) {
      t.same(doc.paths[path][method].security, [], `${method.toUpperCase()} ${path}`);
    }
  });
});

t.test('the check fails on an app that drifts from its document', async (t) => {
  const app = Fastify({ frameworkErrors }).withTypeProvider<ZodTypeProvider>();
  t.teardown(() => app.close());
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(errorsPlugin);
  await app.register(docsPlugin);
  const Ok = z.object({ ok: z.boolean() });
  app.get('/v1/ok', { schema: { response: { 200: Ok } } }, async () => ({ ok: true }));
  app.get('/v1/hidden', { schema: { hide: true } }, async () => ({ ok: true }));
  app.get('/v1/teapot', { schema: { response: { 200: Ok } } }, async (_req, reply) =>
    reply.code(418 as 200).send({ ok: false }),
  );
  // A Buffer skips the serializer, as the QR route does: the shape is whatever the handler wrote.
  app.get('/v1/shape', { schema: { response: { 200: Ok } } }, async (_req, reply) =>
    reply.type('application/json').send(Buffer.from('{"ok":"yes"}') as unknown as { ok: boolean }),
  );
  // The document lets `name` be left out; the handler refuses that.
  app.post(
    '/v1/stricter',
    {
      schema: {
        body: z
          .object({ name: z.string().max(8).optional() })
          .refine((b) => b.name !== undefined, 'give name'),
        response: { 200: Ok, 400: z.looseObject({ error: z.string(), message: z.string() }) },
      },
    },
    async () => ({ ok: true }),
  );
  app.get('/v1/undrilled', { schema: { response: { 200: Ok } } }, async () => ({ ok: true }));
  await app.ready();
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const checker = new ContractChecker(app, doc);
  await checker.run(
    [
      { route: 'GET /v1/ok', expect: 200, request: () => ({}) },
      { route: 'GET /v1/teapot', expect: 200, request: () => ({}) },
      { route: 'GET /v1/shape', expect: 200, request: () => ({}) },
      { route: 'POST /v1/stricter', expect: 200, request: () => ({ body: { name: 'x' } }) },
    ],
    { undocumented: UNDOCUMENTED, randomPerRoute: 0, seed: 1 },
  );
  const found = checker.problems.join('\n');
  t.match(found, 'GET /v1/hidden is served but not in /openapi.json', 'an undocumented route');
  t.match(found, 'GET /v1/teapot (valid request): answered 418', 'an undocumented status');
  t.match(
    found,
    'GET /v1/shape (valid request): 200 body does not match its schema',
    'an undocumented shape',
  );
  t.match(
    found,
    'POST /v1/stricter (drop body.name): the document allows it but it was refused',
    'a stricter server',
  );
  t.match(found, 'GET /v1/undrilled is documented but has no contract fixture', 'a route nobody checks');
  t.notMatch(found, 'GET /v1/ok', 'the route that keeps to its document passes');
  t.equal(
    checker.problems.length,
    6,
    `five drifts, the teapot twice (status, and not the expected one)\n${found}`,
  );
});
