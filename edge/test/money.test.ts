import t from 'tap';
import type { SimLaneControl } from '../../hardware-sim/index.js';
import type { MoneyStateBody } from '../../protocol/money-sync.js';
import { MIN, type SimEdge, simEdge, T0, testLot } from './support.js';

/**
 * The lot's money state at the lanes (through the simulator, sinon time): a plate with open debt
 * at the entry (warn: admitted, "owes €X" shown; refuse: kept out with where to pay), offline as
 * online; a drive-up's fee at the exit shown with the pay link, the arm opening when the payment
 * arrives from the cloud, and the lane refusing at its timeout when nobody pays.
 */

const ARRIVE_MS = 400;
const OPEN_MS = 1200;
const PASS_MS = 1400 + 1200;
const PAY_URL = 'http://cloud.test/pay/lot-test';

async function arrive(s: SimEdge, lane: SimLaneControl, plate: string) {
  void lane.vehicleArrives(plate, { misread: false });
  await s.run(ARRIVE_MS);
}

function money(over: Partial<MoneyStateBody> = {}): MoneyStateBody {
  return { debts: [], paidSessions: [], payUrl: PAY_URL, at: new Date(T0).toISOString(), ...over };
}

const owes = (plate: string, amount: number) => ({ plate, amount: { amount, currency: 'EUR' }, count: 1 });

async function driveUpInside(s: SimEdge, plate: string) {
  await arrive(s, s.entry, plate);
  await s.run(4000 + OPEN_MS);
  void s.entry.driveThrough();
  await s.run(PASS_MS);
  return s.edge.store.attendants.sessionsInside().find((x) => x.plate === plate)!;
}

t.test('debt policy warn (default): admitted, the display says what the plate owes', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  s.edge.syncPort.setMoney(money({ debts: [owes('OWE111', 700)] }));
  await arrive(s, s.entry, 'OWE111');
  await s.run(4000);
  t.equal(s.edge.lanes.get('in-1')!.state, 'OPENING', 'offline, from the local copy');
  t.same(s.entry.display.current(), ['Welcome', 'Pay on exit', 'Owes €7.00 — please pay']);
  await s.run(OPEN_MS);
  void s.entry.driveThrough();
  await s.run(PASS_MS);
  await arrive(s, s.entry, 'CLEAN1');
  await s.run(4000);
  t.notMatch(s.entry.display.current().join(' '), /Owes/, 'a plate without debt sees nothing');
});

t.test('debt policy refuse: the arm stays down and the display says where to pay', async (t) => {
  const s = await simEdge({ lot: testLot({ policy: { debtPolicy: 'refuse' } }) });
  t.teardown(s.close);
  s.edge.syncPort.setMoney(money({ debts: [owes('OWE222', 1250)] }));
  await arrive(s, s.entry, 'OWE222');
  await s.run(4000 + OPEN_MS);
  t.equal(s.entry.armState(), 'down');
  t.same(s.entry.display.current(), ['Owes €12.50', `Pay at ${PAY_URL}?plate=OWE222 or see attendant`]);
  t.match(s.events().at(-1), { kind: 'denied', reason: 'debt', plate: 'OWE222' });
  // Settled in the cloud: the next state clears it and the plate gets in.
  s.edge.syncPort.setMoney(money());
  void s.entry.backOut();
  await s.run(2000);
  await arrive(s, s.entry, 'OWE222');
  await s.run(4000 + OPEN_MS);
  t.equal(s.entry.armState(), 'up');
});

t.test('exit: the fee with the pay link; paid online → the arm opens, settled by the cloud', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  s.edge.syncPort.setMoney(money());
  const session = await driveUpInside(s, 'PAY333');
  s.edge.syncPort.setConnectivity('online', Date.now());
  await s.run(50 * MIN);
  await arrive(s, s.exit, 'PAY333');
  await s.run(50);
  t.same(s.exit.display.current(), [
    '€4.00 to pay',
    'Scan the QR code to pay, or see the attendant',
    `${PAY_URL}?plate=PAY333`,
  ]);
  t.equal(s.exit.armState(), 'down');
  await s.run(5000);
  t.equal(s.exit.armState(), 'down', 'still waiting');
  s.edge.syncPort.setMoney(
    money({
      paidSessions: [
        {
          sessionId: session.id,
          paid: { amount: 400, currency: 'EUR' },
          coversUntil: new Date().toISOString(),
        },
      ],
    }),
  );
  await s.run(OPEN_MS);
  t.equal(s.exit.armState(), 'up', 'paid: the arm opens');
  t.same(s.exit.display.current(), ['Goodbye — €4.00 paid']);
  void s.exit.driveThrough();
  await s.run(PASS_MS);
  t.match(s.events().at(-1), { kind: 'exit', plate: 'PAY333', settlement: 'cloud', charge: { amount: 400 } });
  t.notOk(
    s.events().some((e) => e.kind === 'unable_to_collect'),
    'nothing owed',
  );
});

t.test('exit: paid before walking back, extra time is charged at the lane', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const session = await driveUpInside(s, 'PRE444');
  s.edge.syncPort.setConnectivity('online', Date.now());
  s.edge.syncPort.setMoney(
    money({
      paidSessions: [
        {
          sessionId: session.id,
          paid: { amount: 100, currency: 'EUR' },
          coversUntil: new Date().toISOString(),
        },
      ],
    }),
  );
  await s.run(10 * MIN);
  await arrive(s, s.exit, 'PRE444');
  await s.run(50 + OPEN_MS);
  t.equal(s.exit.armState(), 'up', 'the paid stay leaves without paying again');
  t.same(s.exit.display.current(), ['Goodbye — €1.00 paid']);
  void s.exit.driveThrough();
  await s.run(PASS_MS);

  const later = await driveUpInside(s, 'PRE555');
  s.edge.syncPort.setMoney(
    money({
      paidSessions: [
        {
          sessionId: later.id,
          paid: { amount: 100, currency: 'EUR' },
          coversUntil: new Date().toISOString(),
        },
      ],
    }),
  );
  await s.run(40 * MIN);
  await arrive(s, s.exit, 'PRE555');
  await s.run(50);
  t.equal(s.exit.display.current()[0], '€2.00 to pay', 'stayed longer than paid: the extra is due');
});

t.test(
  'exit: unpaid at the lane timeout → see attendant; the attendant opens, the fee is owed',
  async (t) => {
    const s = await simEdge();
    t.teardown(s.close);
    s.edge.syncPort.setMoney(money());
    await driveUpInside(s, 'NOP666');
    s.edge.syncPort.setConnectivity('online', Date.now());
    await s.run(20 * MIN);
    await arrive(s, s.exit, 'NOP666');
    await s.run(31_000);
    const lane = s.edge.lanes.get('out-1')!;
    t.equal(lane.state, 'REFUSED');
    t.same(s.exit.display.current(), ['Please see attendant']);
    t.equal(s.exit.armState(), 'down');
    t.ok(lane.manualOpen({ attendant: 'ann', reason: 'no card', commandId: null }).ok);
    await s.run(OPEN_MS);
    void s.exit.driveThrough();
    await s.run(PASS_MS);
    const [exit, owed] = s.events().slice(-2);
    t.match(exit, { kind: 'exit', plate: 'NOP666', settlement: 'owed' });
    t.match(owed, { kind: 'unable_to_collect', plate: 'NOP666', amount: { amount: 200 } });
  },
);

t.test('exit: waiting for the QR payment, the attendant takes cash instead and the arm opens', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  s.edge.syncPort.setMoney(money());
  const session = await driveUpInside(s, 'CSH777');
  s.edge.syncPort.setConnectivity('online', Date.now());
  await s.run(20 * MIN);
  await arrive(s, s.exit, 'CSH777');
  await s.run(2000);
  t.equal(s.exit.display.current()[0], '€2.00 to pay');
  t.equal(s.exit.armState(), 'down');
  s.edge.store.ledger.recordCashPayment({
    atMs: Date.now(),
    sessionId: session.id,
    amount: { amount: 200, currency: 'EUR' },
    attendant: 'ann',
  });
  await s.run(OPEN_MS);
  t.equal(s.exit.armState(), 'up', 'cash covers it: the arm opens');
  void s.exit.driveThrough();
  await s.run(PASS_MS);
  t.match(s.events().at(-1), { kind: 'exit', plate: 'CSH777', settlement: 'cash' });
});

t.test('attendant API: the plates that owe, and the QR of the lot’s pay link only', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const login = await s.inject({
    method: 'POST',
    url: '/api/login',
    payload: { username: 'alice', password: 'correct horse' },
  });
  const headers = { authorization: `Bearer ${login.json().token}` };
  const before = await s.inject({ method: 'GET', url: '/api/debts', headers });
  t.same(before.json(), { debts: [], payUrl: null, debtPolicy: 'warn' });
  s.edge.syncPort.setMoney(money({ debts: [owes('OWE888', 900)] }));
  const after = await s.inject({ method: 'GET', url: '/api/debts', headers });
  t.same(after.json(), {
    debts: [{ plate: 'OWE888', amount: { amount: 900, currency: 'EUR' }, count: 1 }],
    payUrl: PAY_URL,
    debtPolicy: 'warn',
  });
  const link = `${PAY_URL}?plate=OWE888`;
  const qr = await s.inject({
    method: 'GET',
    url: `/api/lanes/out-1/pay-qr.svg?link=${encodeURIComponent(link)}`,
    headers,
  });
  t.equal(qr.statusCode, 200);
  t.match(qr.headers['content-type'], /image\/svg\+xml/);
  t.match(qr.body, /^<svg/);
  const other = await s.inject({
    method: 'GET',
    url: `/api/lanes/out-1/pay-qr.svg?link=${encodeURIComponent('https://evil.example/pay/x')}`,
    headers,
  });
  t.equal(other.statusCode, 404, 'no QR for another address');
  t.equal((await s.inject({ method: 'GET', url: '/api/debts' })).statusCode, 401, 'staff only');
});
