import t from 'tap';
import { signValidation, type ValidationClaims } from '../../protocol/validation.js';
import { HOUR, type SimEdge, simEdge, T0, testKey } from './support.js';

/**
 * Merchant validations at the lot, offline: a signed code is verified with the lot's public keys,
 * used once (recorded at once in SQLite), lowers the drive-up's exit fee on the lane display, and the
 * exit event carries the use and its discount up to the cloud.
 */

async function login(s: SimEdge) {
  const res = await s.inject({
    method: 'POST',
    url: '/api/login',
    payload: { username: 'alice', password: 'correct horse' },
  });
  return (res.json() as { token: string }).token;
}

const code = (over: Partial<ValidationClaims> = {}) =>
  signValidation(
    {
      id: 'v-1',
      lot: 'lot-test',
      merchant: 'cinema',
      kind: 'minutes',
      value: 60,
      exp: T0 + 6 * HOUR,
      ...over,
    },
    testKey().signing,
  );

t.test('a validation lowers the exit fee once, offline, and is reported with the exit', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const token = await login(s);
  const post = async (url: string, payload: unknown) => {
    const res = await s.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${token}` },
      payload: payload as object,
    });
    return { status: res.statusCode, body: res.json() };
  };
  const enter = async (plate: string) => {
    void s.entry.vehicleArrives(plate, { misread: false });
    await s.run(400 + 4000 + 1200);
    void s.entry.driveThrough();
    await s.run(3000);
    return s.edge.store.ledger.insideByPlate(plate)!.id;
  };
  const a = await enter('VAL001');
  const b = await enter('VAL002');
  await s.run(2 * HOUR);

  // The test lot's card: €4/h. Two hours and a bit: 9 started units = €9.00; 60 free minutes → €5.00.
  const first = await post(`/api/sessions/${a}/validation`, { code: code() });
  t.equal(first.status, 200);
  t.match(first.body, {
    validation: {
      id: 'v-1',
      merchant: 'cinema',
      kind: 'minutes',
      value: 60,
      label: 'Validation: 60 minutes free',
    },
    charge: { amount: 500, currency: 'EUR' },
  });
  t.match(await post(`/api/sessions/${b}/validation`, { code: code() }), {
    status: 409,
    body: { error: 'used', message: 'This validation has already been used' },
  });
  t.match(await post(`/api/sessions/${a}/validation`, { code: code({ id: 'v-2' }) }), {
    status: 409,
    body: { error: 'stay_validated' },
  });
  t.match(await post(`/api/sessions/${b}/validation`, { code: code({ id: 'v-3', lot: 'lot-other' }) }), {
    status: 409,
    body: { message: 'This validation is for another car park' },
  });
  t.match(await post(`/api/sessions/${b}/validation`, { code: code({ id: 'v-4', exp: T0 + HOUR }) }), {
    status: 409,
    body: { message: 'This validation has expired' },
  });
  const genuine = code({ id: 'v-5' });
  const at = genuine.length - 20;
  const forged = `${genuine.slice(0, at)}${genuine[at] === 'A' ? 'B' : 'A'}${genuine.slice(at + 1)}`;
  t.match(await post(`/api/sessions/${b}/validation`, { code: forged }), { status: 400 });
  t.match(await post(`/api/sessions/${b}/validation`, { code: 'PK1.garbage' }), {
    status: 400,
    body: { error: 'malformed' },
  });
  t.match(
    await post(`/api/sessions/${b}/validation`, { code: code({ id: 'v-6', kind: 'percent', value: 50 }) }),
    {
      status: 200,
      body: { charge: { amount: 450 } },
    },
  );

  // At the exit lane's scanner: checked offline, refused with the reason on the display.
  const atLane = async (text: string) => {
    void s.exit.vehicleArrives('VAL002', { unreadable: true });
    await s.run(400);
    void s.exit.presentQr(text);
    await s.run(2000);
    const shown = s.exit.display.current();
    void s.exit.backOut();
    await s.run(15_000);
    return shown;
  };
  t.same(await atLane(code()), ['Validation already used', 'Please see attendant']);
  t.same(await atLane(code({ id: 'v-7', exp: T0 + HOUR })), ['Validation expired', 'Please see attendant']);
  t.same(await atLane(code({ id: 'v-8', lot: 'lot-other' })), ['Validation is for another car park']);
  t.same(await atLane(code({ id: 'v-9' })), ['Validation: please see', 'the attendant at the booth']);

  void s.exit.vehicleArrives('VAL001', { misread: false });
  await s.run(400);
  t.match(s.exit.display.current().join(' '), /5[.,]00/, 'the lane shows the validated fee');
  await s.run(1200);
  void s.exit.driveThrough();
  await s.run(3000);
  t.match(
    s.events().filter((e) => e.kind === 'exit'),
    [
      {
        sessionId: a,
        charge: { amount: 500, currency: 'EUR' },
        validation: { id: 'v-1', merchant: 'cinema', discount: { amount: 400, currency: 'EUR' } },
      },
    ],
  );
  t.match(s.edge.store.attendants.recentAudit(10), [
    { action: 'validation', target: b },
    { action: 'validation', target: a },
  ]);
});
