/**
 * Permits down the change stream on the real stores (docs/permits.md): the cloud app on PostgreSQL
 * (or PGlite), the edge's SQLite store, the embedded broker with the project's ACL. Issue and suspend
 * reach an online lot in seconds; a cancellation made while the lot is offline reaches it on reconnect.
 */
import t from 'tap';
import { decide } from '../../edge/lane/decision.js';
import { timeFormatter } from '../../edge/lane/messages.js';
import { accounts, edge, embeddedBroker, waitFor } from './support/harness.js';
import { type RealEdge, realCloud, realCloudSync, realEdgeStore } from './support/real.js';

const LOT = `pp${process.pid}`;
const DAY = 86_400_000;

function entryDecision(re: RealEdge, plate: string, nowMs: number) {
  const { lot, publicKeys } = re.store.mirror.config();
  const index = re.store.mirror.lotIndex();
  return decide(
    {
      lot,
      publicKeys,
      laneId: 'in-1',
      direction: 'entry',
      overflowAvailable: false,
      driveupCapacity: index.driveupCount,
      permitCapacity: index.permitCount,
      spotsById: new Map(lot.spots.map((s) => [s.id, s])),
      times: timeFormatter(lot.timeZone),
    },
    re.store.gateView,
    { kind: 'plate', plate, confidence: 0.95 },
    nowMs,
  );
}

t.test('issue, suspend online; cancel while offline arrives on reconnect', async (t) => {
  const acc = accounts([LOT]);
  const broker = await embeddedBroker(acc);
  t.teardown(() => broker.close());
  const rc = await realCloud([LOT], { bookable: 4, driveup: 1, permit: 2 });
  t.teardown(() => rc.close());
  const cs = await realCloudSync(rc, broker.url, acc);
  t.teardown(() => cs.stop());
  const re = realEdgeStore(rc.lotConfigs.get(LOT)!);
  t.teardown(() => {
    re.close();
    re.remove();
  });
  let e = await edge(broker.url, acc, LOT, re.port);
  await waitFor(() => re.store.mirror.config().version >= 1, 'cloud config arrived');
  t.equal(re.store.mirror.lotIndex().permitCount, 2, 'the permit pool came with the config');

  const now = rc.clock.now();
  const created = await rc.cloud.call('POST', `/v1/lots/${LOT}/permits`, {
    token: rc.operatorToken,
    body: {
      holder: 'Sync GmbH',
      plates: ['S-PM 1'],
      validFrom: new Date(now - DAY).toISOString(),
      validTo: new Date(now + 30 * DAY).toISOString(),
      maxInside: 1,
      price: { amount: 5000, currency: 'EUR' },
      period: 'month',
    },
  });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id as string;
  await waitFor(() => re.store.mirror.permitById(id)?.status === 'active', 'permit at the edge');
  t.match(entryDecision(re, 'SPM1', rc.clock.now()), {
    kind: 'admit',
    plan: { permitId: id, pool: 'permit' },
  });

  const suspended = await rc.cloud.call('PATCH', `/v1/permits/${id}`, {
    token: rc.operatorToken,
    body: { status: 'suspended' },
  });
  t.equal(suspended.status, 200);
  await waitFor(() => re.store.mirror.permitById(id)?.status === 'suspended', 'suspension at the edge');
  t.match(entryDecision(re, 'SPM1', rc.clock.now()), { kind: 'refuse', reason: 'permit_suspended' });

  await e.stop();
  const cancelled = await rc.cloud.call('DELETE', `/v1/permits/${id}`, { token: rc.operatorToken });
  t.equal(cancelled.status, 200);
  t.equal(re.store.mirror.permitById(id)?.status, 'suspended', 'offline: the lot still has the old state');
  e = await edge(broker.url, acc, LOT, re.port);
  t.teardown(() => e.stop());
  await waitFor(() => re.store.mirror.permitById(id)?.status === 'cancelled', 'cancellation on reconnect');
  t.match(entryDecision(re, 'SPM1', rc.clock.now()), { kind: 'refuse', reason: 'cancelled' });
  t.equal(re.port.getCursor(), await rc.headSeq(LOT), 'the edge is at the cloud’s head');
});
