/**
 * The operator fleet API (cloud/routes/fleet.ts) over app.inject, backed by the running cloud sync:
 * presence and heartbeat of a lot, operator commands and their acknowledgements.
 */
import t from 'tap';
import { buildApp } from '../../cloud/app.js';
import { ephemeralConfig } from '../../cloud/config.js';
import { migrate } from '../../cloud/db/migrate.js';
import { createMetrics } from '../../cloud/metrics.js';
import type { FleetSync } from '../../cloud/routes/fleet.js';
import type { CloudSync } from '../../cloud/sync/index.js';
import { startCloudSyncForApp } from '../../cloud/sync/repo-adapter.js';
import { lotBody, openTestDatabase } from '../../cloud/test/helpers.js';
import { seededRandom } from '../../protocol/random.js';
import { accounts, edge, embeddedBroker, logger, waitFor } from './support/harness.js';
import { LiveClock, realEdgeStore } from './support/real.js';

const LOT = `pf${process.pid}`;

t.test('fleet API: presence, commands and acknowledgements, access rules', async (t) => {
  const testDb = await openTestDatabase(logger);
  t.teardown(() => testDb.close());
  await migrate(testDb.db, logger);
  const clock = new LiveClock();
  let sync: CloudSync | null = null;
  const app = await buildApp({
    config: ephemeralConfig(),
    logger,
    clock,
    random: seededRandom(1),
    db: testDb.db,
    metrics: createMetrics({ defaultMetrics: false }),
    fleet: (): FleetSync | null => sync,
  });
  await app.ready();
  t.teardown(() => app.close());

  const token = async (role: 'operator' | 'driver' | 'admin', email: string) => {
    const u = await app.users.create({ email, password: 'correct horse battery', role, lotIds: [] });
    if (!u.ok) throw new Error(u.error.message);
    return (await app.issueTokens(u.value)).accessToken;
  };
  const call = async (method: 'GET' | 'POST', url: string, tok: string, body?: unknown) => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${tok}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, body: res.body ? res.json() : null };
  };
  const op = await token('operator', 'op@fleet.test');
  const other = await token('operator', 'other@fleet.test');
  const driver = await token('driver', 'driver@fleet.test');
  const body = lotBody({ id: LOT });
  body.spots = [...body.spots, { id: 'd1', label: 'D-1', level: '0', type: 'car', pool: 'driveup' }];
  t.equal((await call('POST', '/v1/lots', op, body)).status, 201);

  t.equal((await call('GET', '/v1/fleet', op)).status, 503, 'sync not running yet: 503');

  const acc = accounts([LOT]);
  const broker = await embeddedBroker(acc);
  t.teardown(() => broker.close());
  sync = await startCloudSyncForApp(app, {
    mqtt: {
      url: broker.url,
      username: acc.cloud.username,
      password: acc.cloud.password,
      instanceId: `fleet-${process.pid}`,
      sharedSubscription: false,
      reconnectPeriodMs: 100,
    },
    logger,
    clock,
    tuning: { relayPollMs: 250, configPollMs: 250, effectsSweepMs: 250 },
  });
  t.teardown(() => sync?.stop());

  const lot = (await app.lots.get(LOT))!;
  const re = realEdgeStore({ ...body, rates: lot.rates, policy: lot.policy } as never);
  t.teardown(() => {
    re.close();
    re.remove();
  });
  const opened: string[] = [];
  const e = await edge(broker.url, acc, LOT, re.port, {
    onCommand: async (cmd) => {
      opened.push(cmd.kind === 'open_lane' ? cmd.laneId : cmd.reservationId);
      return { ok: true, detail: 'lane opened' };
    },
  });
  t.teardown(() => e.stop());

  await waitFor(async () => {
    const r = await call('GET', '/v1/fleet', op);
    return (
      r.status === 200 &&
      r.body.lots.some((l: { lotId: string; state: string }) => l.lotId === LOT && l.state === 'online')
    );
  }, 'lot online in the fleet view');
  const fleet = await call('GET', '/v1/fleet', op);
  t.equal(fleet.body.cloudProtocolVersion, '1.0');
  const p = await call('GET', `/v1/lots/${LOT}/presence`, op);
  t.equal(p.status, 200);
  t.equal(p.body.state, 'online');
  t.equal(p.body.protocolVersion, '1.0');
  t.equal(p.body.protocolSupported, true);
  t.equal(p.body.edgeVersion, '0.1.0-test');
  t.equal(typeof p.body.skewMs, 'number');
  t.equal(p.body.skewAlarm, false);
  t.equal(p.body.outboxDepth, 0);
  t.ok(p.body.occupancy.bookable && p.body.occupancy.driveup, 'occupancy per pool');

  t.equal((await call('GET', '/v1/fleet', other)).body.lots.length, 0, 'another operator sees none of it');
  t.equal((await call('GET', `/v1/lots/${LOT}/presence`, other)).status, 404);
  t.equal((await call('GET', `/v1/lots/${LOT}/presence`, driver)).status, 403);
  t.equal(
    (
      await call('POST', `/v1/lots/${LOT}/commands`, other, {
        kind: 'open_lane',
        laneId: 'in-1',
        reason: 'x',
      })
    ).status,
    404,
  );
  t.equal(
    (await call('POST', `/v1/lots/${LOT}/commands`, op, { kind: 'open_lane', laneId: 'in-1' })).status,
    400,
    'a reason is required',
  );
  t.equal(
    (await call('POST', `/v1/lots/${LOT}/commands`, op, { kind: 'open_lane', laneId: 'in 1', reason: 'x' }))
      .status,
    400,
  );

  const sent = await call('POST', `/v1/lots/${LOT}/commands`, op, {
    kind: 'open_lane',
    laneId: 'in-1',
    reason: 'ticket jam',
  });
  t.equal(sent.status, 202);
  t.equal(sent.body.kind, 'open_lane');
  t.equal(sent.body.ackedAt, null);
  await waitFor(async () => {
    const list = await call('GET', `/v1/lots/${LOT}/commands`, op);
    return list.body.commands[0]?.ackedAt !== null;
  }, 'command acknowledged by the lot');
  const list = await call('GET', `/v1/lots/${LOT}/commands`, op);
  t.equal(list.body.commands.length, 1);
  t.equal(list.body.commands[0].ok, true);
  t.equal(list.body.commands[0].detail, 'lane opened');
  t.same(opened, ['in-1'], 'executed once at the edge');
});
