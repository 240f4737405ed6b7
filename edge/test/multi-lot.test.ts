import { join } from 'node:path';
import sinon from 'sinon';
import t from 'tap';
import { hostClock, SIM_FAKE_TIMERS } from '../../hardware-sim/index.js';
import { silentLogger } from '../../protocol/logger.js';
import { seededRandom } from '../../protocol/random.js';
import { createEdge } from '../app.js';
import { parseEdgeConfig } from '../config.js';
import { LOT_ID, T0, tempDir, testKey, testLot, testSimulator } from './support.js';

t.test('two lots in one process: separate stores, lanes, metrics and event ids', async (t) => {
  const tmp = tempDir();
  const fake = sinon.useFakeTimers({ now: T0, toFake: [...SIM_FAKE_TIMERS.toFake] });
  t.teardown(() => {
    fake.restore();
    tmp.cleanup();
  });
  const clock = hostClock();
  const make = (lotId: string, seed: number) =>
    createEdge(
      parseEdgeConfig({
        lotId,
        dbPath: join(tmp.dir, `${lotId}.sqlite`),
        lot: { ...testLot(), id: lotId },
        publicKeys: [testKey().publicEntry],
        // Same lane ids in both lots on purpose.
        lanes: [
          { id: 'in-1', direction: 'entry', devices: 'sim' },
          { id: 'out-1', direction: 'exit', devices: 'sim' },
        ],
      }),
      {
        clock,
        timers: clock,
        random: seededRandom(seed),
        logger: silentLogger(),
        simulator: testSimulator(),
        ui: false,
        startSync: false,
      },
    );
  const a = await make(LOT_ID, 1);
  const b = await make('lot-other', 2);
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  await a.start({ listen: false });
  await b.start({ listen: false });
  void a.sims.get('in-1')!.vehicleArrives('AAA111', { misread: false });
  await fake.tickAsync(400 + 4000 + 1200);
  void a.sims.get('in-1')!.driveThrough();
  await fake.tickAsync(3000);
  t.match(a.store.ledger.eventsAfter(0, 10), [{ eventId: 1, kind: 'entry', plate: 'AAA111' }]);
  t.same(b.store.ledger.eventsAfter(0, 10), [], 'the other lot saw nothing');
  t.equal(b.lanes.get('in-1')!.state, 'IDLE');
  const metricsA = await a.metrics.registry.metrics();
  const metricsB = await b.metrics.registry.metrics();
  t.match(metricsA, /parkedge_passages_total\{[^}]*lot="lot-test"[^}]*\} 1/);
  t.notMatch(metricsB, /parkedge_passages_total\{/);
});
