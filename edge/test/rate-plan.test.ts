import t from 'tap';
import type { LotConfig } from '../../protocol/domain.js';
import { RatePlanSchema } from '../../protocol/rate-plan.js';
import { type DecisionContext, decide, driveupPlan } from '../lane/decision.js';
import { timeFormatter } from '../lane/messages.js';
import type { EdgeStore } from '../store/store.js';
import { HOUR, MIN, openTestStore, T0, testKey } from './support.js';

/** The exit fee follows the lot's rate plan, and a plan delivered with a new config version prices the next exit. */

function exitCtx(store: EdgeStore): DecisionContext {
  const lot: LotConfig = store.mirror.config().lot;
  return {
    lot,
    publicKeys: [testKey().publicEntry],
    laneId: 'out-1',
    direction: 'exit',
    overflowAvailable: false,
    driveupCapacity: store.mirror.lotIndex().driveupCount,
    spotsById: new Map(lot.spots.map((s) => [s.id, s])),
    times: timeFormatter(lot.timeZone),
  };
}

// T0 = Monday 2025-06-02 10:00Z = 12:00 in Amsterdam.
const PLAN = RatePlanSchema.parse({
  currency: 'EUR',
  hourlyRate: 200,
  freeMinutes: 15,
  dailyMax: 3000,
  rules: [
    { kind: 'band', name: 'Lunch', days: ['mon'], from: '12:00', to: '14:00', hourlyRate: 600 },
    { kind: 'evening', name: 'Evening', enterFrom: '18:00', leaveBefore: '08:00', price: 500 },
  ],
});

t.test('a plan delivered by the cloud prices the next exit, no restart', async (t) => {
  const { store, cleanup } = openTestStore();
  t.teardown(cleanup);
  const enter = (id: string, plate: string, atMs: number) =>
    store.ledger.recordEntry({
      sessionId: id,
      atMs,
      laneId: 'in-1',
      correlationId: null,
      ...driveupPlan({ plate }),
    });
  const leave = (plate: string, atMs: number) =>
    decide(exitCtx(store), store.gateView, { kind: 'plate', plate, confidence: 1 }, atMs);

  enter('s1', 'PL1', T0);
  t.match(leave('PL1', T0 + 2 * HOUR), { kind: 'exit', plan: { charge: { amount: 800 } } }, 'the card: €4/h');

  const lot = store.mirror.config().lot;
  const applied = store.mirror.setConfig({
    version: 7,
    lot: { ...lot, ratePlan: PLAN },
    publicKeys: [testKey().publicEntry],
  });
  t.same(applied, { applied: true });
  t.match(
    leave('PL1', T0 + 2 * HOUR),
    { kind: 'exit', plan: { charge: { amount: 1200 } } },
    'two Lunch hours at €6',
  );
  t.match(
    leave('PL1', T0 + 10 * MIN),
    { kind: 'exit', plan: { charge: null, due: null } },
    'first 15 minutes free',
  );
  enter('s2', 'PL2', T0 + 8 * HOUR);
  t.match(
    leave('PL2', T0 + 19 * HOUR),
    { kind: 'exit', plan: { charge: { amount: 500 } } },
    'evening flat (20:00 → 07:00)',
  );
  t.match(
    leave('PL2', T0 + 21 * HOUR),
    { kind: 'exit', plan: { charge: { amount: 800 + 1800 } } },
    'leaving at 09:00: by the hour, €2 a night hour',
  );
});
