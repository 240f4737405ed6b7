import t from 'tap';
import type { PublicKeyEntry } from '../../protocol/credential.js';
import { silentLogger } from '../../protocol/logger.js';
import { verifyValidation } from '../../protocol/validation.js';
import { gateEventEffects } from '../sync/effects.js';
import { buildTestCloud, iso, lotBody, MIN, T0 } from './helpers.js';

/** Validations in the cloud: validators issue signed codes, exits report uses, the report reconciles. */

t.test(
  'validators issue codes the lot verifies; the report counts uses and flags a code used twice',
  async (t) => {
    const cloud = await buildTestCloud();
    t.teardown(() => cloud.close());
    const admin = await cloud.userWithToken('admin');
    for (const id of ['val', 'val2'])
      t.equal(
        (await cloud.call('POST', '/v1/lots', { token: admin.token, body: lotBody({ id }) })).status,
        201,
      );
    const op = await cloud.userWithToken('operator', ['val']);
    const cinema = await cloud.userWithToken('validator', ['val']);
    const stranger = await cloud.userWithToken('validator', ['val2']);
    const driver = await cloud.userWithToken('driver');
    const issue = (token: string, body: unknown, lotId = 'val') =>
      cloud.call('POST', `/v1/lots/${lotId}/validations`, { token, body });

    const first = await issue(cinema.token, { kind: 'minutes', value: 60 });
    t.equal(first.status, 201);
    t.match(first.body, {
      lotId: 'val',
      kind: 'minutes',
      value: 60,
      currency: 'EUR',
      expiresAt: iso(T0 + 1440 * MIN),
    });
    t.match(first.body.qrSvg, /^<svg/);
    const { keys } = (await cloud.call('GET', '/v1/keys')).body as { keys: PublicKeyEntry[] };
    const verified = verifyValidation(first.body.code, keys, { lotId: 'val', nowMs: T0 });
    t.match(verified, {
      ok: true,
      value: { id: first.body.id, merchant: cinema.user.id, kind: 'minutes', value: 60 },
    });
    t.match(verifyValidation(first.body.code, keys, { lotId: 'val2', nowMs: T0 }), {
      ok: false,
      error: 'wrong_lot',
    });
    const second = await issue(cinema.token, { kind: 'percent', value: 50, validMinutes: 30 });
    t.equal(second.status, 201);
    t.equal((await issue(op.token, { kind: 'flat', value: 300 })).status, 201, 'the operator may issue too');

    t.equal((await issue(stranger.token, { kind: 'minutes', value: 60 })).status, 404, 'not their lot');
    t.equal((await issue(driver.token, { kind: 'minutes', value: 60 })).status, 403);
    t.match(await issue(cinema.token, { kind: 'percent', value: 150 }), {
      status: 400,
      body: { field: 'body.value' },
    });

    // Two lots report the first code used while offline; one exit is delivered twice.
    const effects = gateEventEffects({} as never, cloud.db.pooled as never, silentLogger());
    const exit = (eventId: number, sessionId: string) => ({
      eventId,
      kind: 'exit',
      at: iso(T0 + eventId * MIN),
      laneId: 'out-1',
      correlationId: null,
      sessionId,
      reservationId: null,
      plate: 'CIN1',
      charge: { amount: 500, currency: 'EUR' },
      overstayMinutes: 0,
      settlement: 'owed',
      validation: { id: first.body.id, merchant: cinema.user.id, discount: { amount: 400, currency: 'EUR' } },
    });
    await effects.apply('val', exit(1, 's-1') as never);
    await effects.apply('val', exit(1, 's-1') as never);
    let report = await cloud.call('GET', '/v1/lots/val/validations/report', { token: op.token });
    t.equal(report.status, 200);
    t.match(report.body.merchants, [
      { email: op.user.email, issued: 1, used: 0, discount: { amount: 0 } },
      { email: cinema.user.email, issued: 2, used: 1, discount: { amount: 400, currency: 'EUR' } },
    ]);
    t.same(report.body.flagged, [], 'a redelivered event is one use');
    await effects.apply('val2', exit(7, 's-9') as never);
    report = await cloud.call('GET', '/v1/lots/val/validations/report', { token: op.token });
    t.match(report.body.flagged, [
      {
        validationId: first.body.id,
        merchantId: cinema.user.id,
        uses: [
          { lotId: 'val', sessionId: 's-1', at: iso(T0 + MIN) },
          { lotId: 'val2', sessionId: 's-9', at: iso(T0 + 7 * MIN) },
        ],
      },
    ]);
    t.equal(
      (await cloud.call('GET', '/v1/lots/val/validations/report', { token: cinema.token })).status,
      403,
    );
  },
);
