import { request as httpRequest } from 'node:http';
import t from 'tap';
import { ErrorBody } from '../../protocol/http.js';
import { change, HOUR, MIN, reservation, type SimEdge, simEdge, T0 } from './support.js';

async function login(s: SimEdge, username = 'alice', password = 'correct horse') {
  const res = await s.inject({ method: 'POST', url: '/api/login', payload: { username, password } });
  return {
    status: res.statusCode,
    body: res.json() as { token: string; expiresAt: string; lotId: string; lotName: string },
  };
}

function api(s: SimEdge, token: string) {
  const call = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const res = await s.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    const json = String(res.headers['content-type'] ?? '').includes('json');
    return { status: res.statusCode, body: json ? res.json() : res.body, res };
  };
  return {
    get: (url: string) => call('GET', url),
    post: (url: string, payload?: unknown) => call('POST', url, payload),
  };
}

t.test('login: bad credentials refused and audited; good ones give a token', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const bad = await login(s, 'alice', 'wrong password');
  t.equal(bad.status, 401);
  t.equal((await login(s, 'mallory', 'whatever1')).status, 401, 'unknown user');
  t.match(s.edge.store.attendants.recentAudit(5), [
    { action: 'login_failed', attendant: 'mallory' },
    { action: 'login_failed', attendant: 'alice' },
  ]);
  t.equal(
    (await s.inject({ method: 'POST', url: '/api/login', payload: { username: 'alice' } })).statusCode,
    400,
  );

  const good = await login(s);
  t.equal(good.status, 200);
  t.equal(good.body.expiresAt, new Date(T0 + 12 * HOUR).toISOString(), 'expiry from the injected clock');
  t.match(good.body, { lotId: 'lot-test', lotName: 'Test Lot' }, 'the lot for the UI header');
  const { get } = api(s, good.body.token);
  t.same((await get('/api/me')).body, {
    username: 'alice',
    displayName: 'Alice',
    lotId: 'lot-test',
    lotName: 'Test Lot',
    currency: 'EUR',
    simulatedLanes: ['in-1', 'out-1'],
  });
  // The name follows a config update from the cloud.
  const cfg = s.edge.store.mirror.config();
  s.edge.syncPort.setConfig({
    version: 1,
    lot: { ...cfg.lot, name: 'Riverside' },
    publicKeys: cfg.publicKeys,
  });
  t.match((await get('/api/me')).body, { lotId: 'lot-test', lotName: 'Riverside' });
  t.equal((await s.inject({ method: 'GET', url: '/api/lanes' })).statusCode, 401, 'no token');
  t.equal((await api(s, `${good.body.token}x`).get('/api/lanes')).status, 401, 'tampered token');
  await s.run(12 * HOUR + 1000);
  t.equal((await get('/api/me')).status, 401, 'expired token');
});

t.test('manual open: reason required, audited, sent up, lane opens', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const { post, get } = api(s, (await login(s)).body.token);
  const missing = await post('/api/lanes/in-1/open', {});
  t.equal(missing.status, 400);
  t.match(missing.body, { error: 'bad_request', message: /reason/ });
  t.same(
    missing.body,
    { error: 'bad_request', message: missing.body.message, field: 'body.reason' },
    "the cloud's error shape (protocol/http.ts ErrorBody)",
  );
  t.ok(ErrorBody.strict().safeParse(missing.body).success);
  t.match((await post('/api/lanes/nope/open', { reason: 'broken ticket' })).body, {
    error: 'not_found',
    message: 'no lane nope',
  });
  t.equal((await post('/api/lanes/in-1/open', { reason: '  ' })).status, 400, 'blank reason');
  t.equal((await post('/api/lanes/nope/open', { reason: 'broken ticket' })).status, 404);
  t.same(s.events(), [], 'nothing recorded for refused requests');

  const ok = await post('/api/lanes/in-1/open', { reason: 'QR scanner broken, driver has booking' });
  t.same(ok.body, { ok: true, detail: 'opened' });
  await s.run(1200);
  t.equal(s.edge.lanes.get('in-1')!.state, 'OPEN');
  t.same(s.entry.display.current(), ['Opened by attendant']);
  t.match(s.events(), [
    {
      kind: 'manual_open',
      laneId: 'in-1',
      attendant: 'alice',
      reason: 'QR scanner broken, driver has booking',
      commandId: null,
    },
  ]);
  const audit = s.edge.store.attendants.recentAudit(1)[0]!;
  t.match(audit, {
    action: 'manual_open',
    attendant: 'alice',
    reason: 'QR scanner broken, driver has booking',
    target: 'in-1',
    eventId: 1,
  });
  t.match((await get('/api/audit?limit=5')).body, {
    entries: [{ action: 'manual_open' }, { action: 'login' }],
  });
  t.match((await get('/api/lanes')).body, {
    lanes: [
      { id: 'in-1', direction: 'entry', state: 'OPEN', arm: 'up' },
      { id: 'out-1', direction: 'exit', state: 'IDLE', arm: 'down' },
    ],
  });
  // Nobody drives through: the lane closes after the back-out timeout.
  await s.run(10_000);
  t.equal(s.edge.lanes.get('in-1')!.state, 'IDLE');
});

t.test('look-ups, occupancy, cash payment, passback reset, alarms, unable-to-collect report', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const { post, get } = api(s, (await login(s)).body.token);
  s.edge.store.mirror.applyChanges([
    change(1, reservation({ id: 'r1', plate: 'LK-100', startMs: T0, endMs: T0 + HOUR })),
  ]);

  // A drive-up comes in.
  void s.entry.vehicleArrives('CASH01', { misread: false });
  await s.run(400 + 4000 + 1200);
  void s.entry.driveThrough();
  await s.run(3000);
  const occupancy = (await get('/api/occupancy')).body;
  t.match(occupancy, {
    pools: { driveup: { total: 2, inside: 1, free: 1, full: false }, bookable: { total: 6, held: 1 } },
    vehiclesInside: 1,
  });
  // The drive-up counts on its level and spot type too (the lot's drive-up spots are all on level 1).
  t.match(occupancy.levels, [
    { key: '0', total: 6, held: 1, driveupSpots: 0, driveupInside: 0, free: 5 },
    { key: '1', total: 2, held: 0, driveupSpots: 2, driveupInside: 1, free: 1 },
  ]);

  const byPlate = (await get('/api/lookup?plate=cash01')).body;
  t.equal(byPlate.sessions.length, 1);
  const sessionId: string = byPlate.sessions[0].id;
  t.match(byPlate.sessions[0], {
    plate: 'CASH01',
    kind: 'driveup',
    exitedAt: null,
    dueNow: { amount: 100, currency: 'EUR' },
  });
  t.match((await get('/api/lookup?reservationId=r1')).body, {
    reservations: [{ id: 'r1', plate: 'LK100', status: 'CONFIRMED' }],
  });
  t.equal((await get('/api/lookup')).status, 400, 'plate or reservation id required');

  // Pays cash at the booth, then leaves: settled in cash.
  await s.run(40 * MIN);
  const cash = await post(`/api/sessions/${sessionId}/cash`, {});
  t.match(cash.body, { paid: { amount: 300, currency: 'EUR' }, stillDue: null });
  t.equal((await post(`/api/sessions/${sessionId}/cash`, {})).status, 409, 'nothing more due');
  void s.exit.vehicleArrives('CASH01', { misread: false });
  await s.run(400);
  t.same(s.exit.display.current(), ['Goodbye — €3.00 paid']);
  await s.run(1200);
  void s.exit.driveThrough();
  await s.run(3000);
  t.match(
    s.events().filter((e) => e.kind === 'cash_payment' || e.kind === 'exit'),
    [
      { kind: 'cash_payment', sessionId, amount: { amount: 300 }, attendant: 'alice' },
      { kind: 'exit', sessionId, settlement: 'cash', charge: { amount: 300 } },
    ],
  );
  t.equal((await post(`/api/sessions/${sessionId}/cash`, {})).status, 404, 'left already');

  // Passback reset.
  const reset = await post('/api/passback/r1/reset', {
    reason: 'car left through the exit while the lane was broken',
  });
  t.match(reset.body, { ok: true, closedSessionId: null });
  t.match(s.events().at(-1), { kind: 'passback_reset', reservationId: 'r1', attendant: 'alice' });
  t.equal((await post('/api/passback/r1/reset', {})).status, 400, 'reason required');
  const before = s.events().length;
  const unknown = await post('/api/passback/no-such-booking/reset', { reason: 'typo in the id' });
  t.equal(unknown.status, 404, 'an unknown reservation is not found');
  t.equal(s.events().length, before, 'nothing recorded or sent upstream for it');
  const audited = (await get('/api/audit?limit=50')).body.entries as Array<{ target: string | null }>;
  t.notOk(
    audited.some((a) => a.target === 'no-such-booking'),
    'nor audited',
  );

  // A drive-up inside (so refused as "already inside" at the entry) is reset by its session.
  void s.entry.vehicleArrives('PB0001', { misread: false });
  await s.run(400 + 4000 + 1200);
  void s.entry.driveThrough();
  await s.run(3000);
  const pbSession = s.edge.store.ledger.insideByPlate('PB0001')!.id;
  const bySession = await post(`/api/passback/session/${pbSession}/reset`, { reason: 'it left on foot' });
  t.match(bySession.body, { ok: true, closedSessionId: pbSession });
  t.match(s.events().at(-1), { kind: 'passback_reset', reservationId: null, sessionId: pbSession });
  t.equal(s.edge.store.ledger.insideByPlate('PB0001'), undefined, 'no longer inside: it can enter again');
  t.equal(
    (await post(`/api/passback/session/${pbSession}/reset`, { reason: 'again' })).status,
    404,
    'a closed session is not found',
  );

  // Alarms: a tailgate, acknowledged once.
  s.entry.jamArm(true);
  await post('/api/lanes/in-1/open', { reason: 'testing the arm' });
  await s.run(9000);
  const alarms = (await get('/api/alarms')).body.alarms as Array<{ id: number; kind: string }>;
  t.match(alarms, [{ kind: 'barrier_fault', laneId: 'in-1', ackedAt: null }]);
  const ack = await post(`/api/alarms/${alarms[0]!.id}/ack`, { note: 'arm freed' });
  t.match(ack.body, { ackedBy: 'alice', ackNote: 'arm freed' });
  t.equal((await post(`/api/alarms/${alarms[0]!.id}/ack`, {})).status, 409);
  t.equal((await post('/api/alarms/999/ack', {})).status, 404);
  t.same((await get('/api/alarms')).body.alarms, []);
  t.equal((await get('/api/alarms?status=all')).body.alarms.length, 1);
  s.entry.jamArm(false);

  // An offline exit owed shows up in the report, JSON and CSV.
  await s.run(30_000);
  void s.entry.vehicleArrives('OWE001', { misread: false });
  await s.run(400 + 4000 + 1200);
  void s.entry.driveThrough();
  await s.run(3000);
  void s.exit.vehicleArrives('OWE001', { misread: false });
  await s.run(1600);
  void s.exit.driveThrough();
  await s.run(3000);
  const report = (await get('/api/reports/unable-to-collect')).body;
  t.match(report, {
    records: [{ plate: 'OWE001', amount: { amount: 100, currency: 'EUR' } }],
    totals: [{ amount: 100, currency: 'EUR' }],
  });
  const csv = await get('/api/reports/unable-to-collect.csv');
  t.match(csv.res.headers['content-type'], /text\/csv/);
  t.match(
    csv.body,
    /^at,lane,session,reservation,plate,amount,currency,event_id\r\n.*,out-1,.*,,OWE001,1\.00,EUR,\d+\r\n$/,
  );
  t.match((await get('/api/connectivity')).body, {
    state: 'offline',
    outboxDepth: s.events().length,
    lastAppliedSeq: 1,
    configVersion: 0,
  });
});

t.test('health, metrics, commands from the cloud, sync port', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const health = await s.inject({ method: 'GET', url: '/health' });
  t.match(health.json(), {
    status: 'ok',
    lotId: 'lot-test',
    connectivity: 'offline',
    lanes: [{ id: 'in-1' }, { id: 'out-1' }],
  });
  void s.entry.vehicleArrives('MET001', { misread: false });
  await s.run(500);
  const metrics = await s.inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, /parkedge_gate_decision_seconds_count\{[^}]*lane="in-1"[^}]*outcome="wait"[^}]*\} 1/);
  t.match(metrics.body, /parkedge_outbox_depth\{lot="lot-test"\} 0/);

  const opened = await s.edge.handleCommand({
    kind: 'open_lane',
    commandId: 'cmd-1',
    laneId: 'out-1',
    reason: 'remote',
    by: 'op@hq',
  });
  t.same(opened, { ok: true, detail: 'opened' });
  t.match(s.events(), [{ kind: 'manual_open', laneId: 'out-1', attendant: 'op@hq', commandId: 'cmd-1' }]);
  t.same(
    await s.edge.handleCommand({ kind: 'open_lane', commandId: 'cmd-2', laneId: 'x', reason: 'r', by: 'op' }),
    {
      ok: false,
      detail: 'no lane x',
    },
  );
  const port = s.edge.syncPort;
  t.equal(port.commandSeen('cmd-1'), false);
  port.recordCommandAck('cmd-1', true, 'opened');
  t.equal(port.commandSeen('cmd-1'), true);
  t.match(port.pendingEvents(0, 10), [
    { kind: 'manual_open' },
    { kind: 'command_ack', commandId: 'cmd-1', ok: true },
  ]);
  port.ackEvents(1);
  t.equal(port.outboxDepth(), 1);
  t.equal(port.lastEventId(), 2);
  t.match(port.health(), {
    occupancy: { bookable: { held: 0, total: 6 }, driveup: { held: 0, total: 2 } },
    lanes: [{ id: 'in-1', state: 'IDENTIFYING' }, { id: 'out-1' }],
  });
  port.setConnectivity('degraded', T0);
  t.equal(s.edge.connectivity.state, 'degraded');
  const cfg = s.edge.store.mirror.config();
  port.setConfig({ version: 2, lot: { ...cfg.lot, name: 'Renamed' }, publicKeys: cfg.publicKeys });
  t.equal(port.configVersion(), 2);
  t.equal(s.edge.decisionContext('in-1').lot.name, 'Renamed', 'lanes see the new config');
  port.applySnapshot([reservation({ id: 'snap1', plate: 'SN1', startMs: T0, endMs: T0 + HOUR })], 77);
  t.equal(port.getCursor(), 77);
});

t.test('event stream: hello, then lane changes, passages and connectivity', async (t) => {
  const s = await simEdge({
    config: { attendant: { port: 0, accounts: [{ username: 'alice', password: 'correct horse' }] } },
  });
  t.teardown(s.close);
  const token = (await login(s)).body.token;
  const address = await s.settle(s.edge.http.listen({ host: '127.0.0.1', port: 0 }));
  const received: string[] = [];
  const req = httpRequest(`${address}/api/events`, { headers: { cookie: `parkedge_session=${token}` } });
  const ready = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      t.equal(res.statusCode, 200);
      t.match(res.headers['content-type'], /text\/event-stream/);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        received.push(chunk);
        resolve();
      });
    });
    req.on('error', reject);
  });
  req.end();
  await s.settle(ready);
  s.edge.store.mirror.applyChanges([
    change(1, reservation({ id: 'r1', plate: 'SSE001', startMs: T0, endMs: T0 + HOUR })),
  ]);
  void s.entry.vehicleArrives('SSE001', { misread: false });
  await s.run(1600);
  void s.entry.driveThrough();
  await s.run(3000);
  s.edge.syncPort.setConnectivity('online', Date.now());
  await s.settle(new Promise((r) => process.nextTick(r)));
  await s.settle(s.run(10));
  req.destroy();
  const text = received.join('');
  t.match(text, /event: hello\ndata: \{"lotId":"lot-test","lotName":"Test Lot"/);
  t.match(text, /event: lane\ndata: \{"type":"lane","laneId":"in-1","state":"IDENTIFYING"/);
  t.match(text, /event: read\ndata: .*"plate":"SSE001"/);
  t.match(text, /event: passage\ndata: .*"direction":"entry".*"reservationId":"r1"/);
  t.match(text, /event: connectivity\ndata: .*"state":"online"/);
  const unauth = await s.inject({ method: 'GET', url: '/api/events' });
  t.equal(unauth.statusCode, 401);
});

t.test(
  'session cookie: set at log-in, sent by the stream, cleared at log-out; no token in a URL',
  async (t) => {
    const s = await simEdge();
    t.teardown(s.close);
    const res = await s.inject({
      method: 'POST',
      url: '/api/login',
      payload: { username: 'alice', password: 'correct horse' },
    });
    const token = (res.json() as { token: string }).token;
    const cookie = String(res.headers['set-cookie']);
    t.match(
      cookie,
      new RegExp(`^parkedge_session=${token.replaceAll('.', '\\.')};`),
      'the token, as a cookie',
    );
    t.match(cookie, /; HttpOnly/, 'page scripts cannot read it');
    t.match(cookie, /; SameSite=Strict/, 'other sites cannot make the browser send it');
    t.match(cookie, /; Path=\/api/);
    t.match(cookie, /; Max-Age=43200/, 'it lasts as long as the token');
    const withCookie = { cookie: `other=1; parkedge_session=${token}` };
    t.equal((await s.inject({ method: 'GET', url: '/api/me', headers: withCookie })).statusCode, 200);
    const viaUrl = await s.inject({ method: 'GET', url: `/api/events?token=${token}` });
    t.equal(viaUrl.statusCode, 401, 'a token in the URL is not accepted');
    t.equal((await s.inject({ method: 'GET', url: '/api/events' })).statusCode, 401, 'no cookie: 401');
    t.equal(
      (await s.inject({ method: 'GET', url: '/api/me', headers: { cookie: 'parkedge_session=nope' } }))
        .statusCode,
      401,
      'a forged cookie: 401',
    );
    const out = await s.inject({ method: 'POST', url: '/api/logout', headers: withCookie });
    t.equal(out.statusCode, 200);
    t.match(
      String(out.headers['set-cookie']),
      /^parkedge_session=; Path=\/api; Max-Age=0; HttpOnly/,
      'cleared',
    );
  },
);

t.test('event stream: with the cookie it streams, and shows the backlog draining', async (t) => {
  const s = await simEdge({
    config: { attendant: { port: 0, accounts: [{ username: 'alice', password: 'correct horse' }] } },
  });
  t.teardown(s.close);
  const token = (await login(s)).body.token;
  // Offline: events pile up in the outbox.
  s.edge.syncPort.setConnectivity('offline', Date.now());
  await api(s, token).post('/api/lanes/out-1/open', { reason: 'Barrier test' });
  await api(s, token).post('/api/lanes/in-1/open', { reason: 'Barrier test' });
  const backlog = s.edge.store.ledger.outboxDepth();
  t.ok(backlog >= 2, `a backlog of ${backlog} events`);
  const stream = await openStream(s, token);
  t.teardown(stream.close);
  t.match((await stream.waitFor('hello'))[0], { outboxDepth: backlog, currency: 'EUR' });
  // The link returns and the cloud acknowledges in two batches: the stream says so each time.
  s.edge.syncPort.ackEvents(s.edge.store.ledger.lastEventId() - 1);
  await s.run(1000);
  t.match((await stream.waitFor('outbox'))[0], { depth: 1 });
  s.edge.syncPort.ackEvents(s.edge.store.ledger.lastEventId());
  await s.run(1000);
  t.match((await stream.waitFor('outbox', 2))[1], { depth: 0 });
});

/** An SSE client over a real socket: parsed events as they arrive. */
async function openStream(s: SimEdge, token: string) {
  const address = await s.settle(s.edge.http.listen({ host: '127.0.0.1', port: 0 }));
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  let buffer = '';
  const req = httpRequest(`${address}/api/events`, { headers: { cookie: `parkedge_session=${token}` } });
  const ready = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.+)$/m.exec(frame)?.[1];
          const data = /^data: (.+)$/m.exec(frame)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
          end = buffer.indexOf('\n\n');
        }
        resolve();
      });
    });
    req.on('error', reject);
  });
  req.end();
  await s.settle(ready);
  /** Lets real socket I/O through (fake timers stay put) until `count` events of `type` arrived. */
  const waitFor = async (type: string, count = 1) => {
    for (let i = 0; i < 200; i++) {
      if (events.filter((e) => e.event === type).length >= count) break;
      await s.settle(new Promise((r) => setImmediate(r)));
    }
    return events.filter((e) => e.event === type).map((e) => e.data);
  };
  return { events, waitFor, close: () => req.destroy() };
}

t.test(
  'event stream: device health, audited attendant actions and acknowledgements are pushed',
  async (t) => {
    const s = await simEdge({
      config: { attendant: { port: 0, accounts: [{ username: 'alice', password: 'correct horse' }] } },
    });
    t.teardown(s.close);
    const token = (await login(s)).body.token;
    const { post } = api(s, token);
    const stream = await openStream(s, token);
    t.teardown(stream.close);
    t.match((await stream.waitFor('hello'))[0], { lotId: 'lot-test', lotName: 'Test Lot' });

    // The entry lane's camera is unplugged, retried, then back.
    await s.entry.disconnectCamera();
    await s.run(100);
    const lost = await stream.waitFor('device');
    t.match(lost[0], {
      type: 'device',
      laneId: 'in-1',
      device: 'camera',
      health: 'lost',
      detail: /retry in \d+ ms/,
    });
    t.match(await stream.waitFor('alarm'), [{ kind: 'device_fault', laneId: 'in-1' }]);
    await s.run(600);
    t.match((await stream.waitFor('device', 2))[1], { device: 'camera', health: 'retrying' });
    s.entry.reconnectCamera();
    await s.run(5000);
    const health = await stream.waitFor('device', 4);
    t.match(health.at(-1), { laneId: 'in-1', device: 'camera', health: 'ok' });
    t.equal(s.edge.lanes.get('in-1')!.status().devices.camera, 'ok', 'the push agrees with GET /api/lanes');
    for (let i = 1; i < health.length; i++) t.not(health[i]!.health, health[i - 1]!.health, 'only changes');
    s.entry.disconnectQr();
    await s.run(10);
    t.match((await stream.waitFor('device', health.length + 1)).at(-1), {
      laneId: 'in-1',
      device: 'qr',
      health: 'lost',
    });

    // Audited actions: a failed login, a manual open, cash, a passback reset, an alarm acknowledged.
    t.equal((await login(s, 'mallory', 'not-a-password')).status, 401);
    t.match((await stream.waitFor('audit'))[0], {
      type: 'audit',
      attendant: 'mallory',
      action: 'login_failed',
      reason: null,
    });
    await post('/api/lanes/out-1/open', { reason: 'driver lost the ticket' });
    void s.entry.vehicleArrives('AUD001', { misread: false });
    await s.run(400 + 4000 + 1200);
    void s.entry.driveThrough();
    await s.run(3000);
    const sessionId = s.edge.store.ledger.insideByPlate('AUD001')!.id;
    await post(`/api/sessions/${sessionId}/cash`, {});
    const mirror = s.edge.store.mirror;
    mirror.applyChanges([
      change(mirror.getCursor() + 1, reservation({ id: 'r-9', plate: 'R9', startMs: T0, endMs: T0 + HOUR })),
    ]);
    await post('/api/passback/r-9/reset', { reason: 'left while the exit was broken' });
    const alarmId = s.edge.store.attendants.alarms({ openOnly: true, limit: 1 })[0]!.id;
    await post(`/api/alarms/${alarmId}/ack`, { note: 'camera cable fixed' });
    const audits = await stream.waitFor('audit', 5);
    t.match(await stream.waitFor('alarm_ack'), [
      {
        id: alarmId,
        kind: 'device_fault',
        ackedBy: 'alice',
        ackNote: 'camera cable fixed',
        ackedAt: /^\d{4}-/,
      },
    ]);
    t.match(audits, [
      { action: 'login_failed' },
      { action: 'manual_open', attendant: 'alice', reason: 'driver lost the ticket', target: 'out-1' },
      { action: 'cash_payment', attendant: 'alice', target: sessionId },
      { action: 'passback_reset', reason: 'left while the exit was broken', target: 'r-9' },
      { action: 'alarm_ack', reason: 'camera cable fixed', target: String(alarmId), eventId: null },
    ]);
    // Each pushed entry is the one GET /api/audit lists.
    const listed = (await api(s, token).get('/api/audit?limit=5')).body.entries as unknown[];
    t.same(
      audits.map(({ type: _type, ...entry }) => entry),
      listed.reverse(),
    );
  },
);
