import fc from 'fast-check';
import t from 'tap';
import {
  DEFAULT_LANE_TIMING,
  type LaneCommand,
  type LaneInput,
  LaneStateMachine,
  type StepResult,
} from '../lane/state-machine.js';

type P = { n: number };

function machine(hasLimitSwitches = true) {
  let id = 0;
  const sm = new LaneStateMachine<P>({
    direction: 'entry',
    timing: DEFAULT_LANE_TIMING,
    hasLimitSwitches,
    newId: () => `id${++id}`,
  });
  let now = 0;
  const log: LaneCommand<P>[] = [];
  const step = (input: LaneInput<P>, advance = 0): StepResult<P> => {
    now += advance;
    const r = sm.step(input, now);
    log.push(...r.commands);
    return r;
  };
  const tick = (ms: number) => step({ type: 'tick' }, ms);
  sm.init({ arming: false, safety: false, limits: { open: false, closed: true } }, now);
  return { sm, step, tick, log, at: () => now };
}

const decideOf = (r: StepResult<P>) =>
  r.commands.find((c) => c.type === 'decide') as Extract<LaneCommand<P>, { type: 'decide' }> | undefined;

t.test('full cycle: arrive, admit, open, pass, close', async (t) => {
  const m = machine();
  let r = m.step({ type: 'arming', occupied: true });
  t.equal(r.state, 'IDENTIFYING');
  r = m.step({ type: 'credential', credential: { kind: 'plate', plate: 'AB12', confidence: 0.9 } });
  const d = decideOf(r)!;
  t.ok(d, 'asks for a decision');
  r = m.step({
    type: 'verdict',
    decisionId: d.decisionId,
    verdict: { kind: 'admit', display: ['hi'], passage: { n: 1 } },
  });
  t.equal(r.state, 'OPENING');
  t.match(r.commands, [{ type: 'display' }, { type: 'raise' }]);
  t.equal(m.step({ type: 'limits', open: true, closed: false }).state, 'OPEN');
  t.equal(m.step({ type: 'safety', occupied: true }).state, 'PASSING');
  m.step({ type: 'arming', occupied: false });
  r = m.step({ type: 'safety', occupied: false });
  t.same(
    r.transitions.map((x) => x.to),
    ['PASSED', 'CLOSING'],
  );
  t.match(r.commands, [
    { type: 'record_passage', passage: { n: 1 }, correlationId: d.correlationId },
    { type: 'lower' },
  ]);
  t.equal(m.step({ type: 'limits', open: false, closed: true }).state, 'IDLE');
});

t.test('a credential read before the loop is held for a few seconds', async (t) => {
  const m = machine();
  m.step({ type: 'credential', credential: { kind: 'qr', text: 'PK1.x' } });
  const r = m.step({ type: 'arming', occupied: true }, 3000);
  t.match(decideOf(r), { credential: { kind: 'qr', text: 'PK1.x' } });

  const late = machine();
  late.step({ type: 'credential', credential: { kind: 'qr', text: 'PK1.x' } });
  const r2 = late.step({ type: 'arming', occupied: true }, DEFAULT_LANE_TIMING.credentialHoldMs + 1);
  t.equal(decideOf(r2), undefined, 'too old: not used');
});

t.test('identify timeout refuses; drive-up timer asks for a drive-up decision', async (t) => {
  const m = machine();
  m.step({ type: 'arming', occupied: true });
  const d = decideOf(
    m.step({ type: 'credential', credential: { kind: 'plate', plate: 'ZZ99', confidence: 0.95 } }),
  )!;
  m.step({
    type: 'verdict',
    decisionId: d.decisionId,
    verdict: { kind: 'wait', display: ['scan'], driveupPlate: 'ZZ99' },
  });
  t.equal(m.sm.nextDeadline(), m.at() + DEFAULT_LANE_TIMING.driveupAfterMs);
  const r = m.tick(DEFAULT_LANE_TIMING.driveupAfterMs);
  t.match(decideOf(r), { credential: { kind: 'driveup', plate: 'ZZ99' } });
  m.step({
    type: 'verdict',
    decisionId: decideOf(r)!.decisionId,
    verdict: { kind: 'wait', display: ['?'], driveupPlate: null },
  });
  const timeout = m.tick(DEFAULT_LANE_TIMING.identifyTimeoutMs);
  t.equal(timeout.state, 'REFUSED');
  t.match(timeout.commands, [
    { type: 'display', lines: ['Please see attendant'] },
    { type: 'identify_timeout' },
  ]);
  t.equal(m.step({ type: 'arming', occupied: false }).state, 'IDLE');
});

t.test('camera repeats are not decided again; a late verdict after the car left is abandoned', async (t) => {
  const m = machine();
  m.step({ type: 'arming', occupied: true });
  const plate = { kind: 'plate' as const, plate: 'AA11', confidence: 0.9 };
  const d = decideOf(m.step({ type: 'credential', credential: plate }))!;
  t.equal(decideOf(m.step({ type: 'credential', credential: plate }, 100)), undefined, 'held while pending');
  m.step({ type: 'verdict', decisionId: d.decisionId, verdict: { kind: 'refuse', display: ['no'] } });
  t.equal(
    decideOf(m.step({ type: 'credential', credential: plate }, 100)),
    undefined,
    'repeat within redecideMs',
  );
  const again = decideOf(m.step({ type: 'credential', credential: plate }, DEFAULT_LANE_TIMING.redecideMs))!;
  t.ok(again, 'decided again later (time may have made it valid)');
  m.step({ type: 'arming', occupied: false });
  const r = m.step({
    type: 'verdict',
    decisionId: again.decisionId,
    verdict: { kind: 'admit', display: [], passage: { n: 9 } },
  });
  t.equal(r.state, 'IDLE');
  t.match(r.commands, [{ type: 'abandon', passage: { n: 9 }, why: 'late_verdict' }]);
});

t.test(
  'back-out closes without recording; tailgate raises an alarm; closing reverses on a vehicle',
  async (t) => {
    const m = machine();
    m.step({ type: 'arming', occupied: true });
    const d = decideOf(m.step({ type: 'credential', credential: { kind: 'qr', text: 'q' } }))!;
    m.step({
      type: 'verdict',
      decisionId: d.decisionId,
      verdict: { kind: 'admit', display: [], passage: { n: 1 } },
    });
    m.step({ type: 'limits', open: true, closed: false });
    m.step({ type: 'arming', occupied: false });
    const r = m.tick(DEFAULT_LANE_TIMING.backoutMs);
    t.equal(r.state, 'CLOSING');
    t.match(r.commands, [{ type: 'abandon', why: 'backed_out' }, { type: 'display' }, { type: 'lower' }]);
    t.notOk(m.log.some((c) => c.type === 'record_passage'));
    // A car rolls onto the safety loop while the arm is closing: reverse, and it is a tailgater.
    const rev = m.step({ type: 'safety', occupied: true });
    t.equal(rev.state, 'PASSING');
    t.match(rev.commands, [{ type: 'raise' }]);

    const g = machine();
    g.step({ type: 'arming', occupied: true });
    const d2 = decideOf(g.step({ type: 'credential', credential: { kind: 'qr', text: 'q' } }))!;
    g.step({
      type: 'verdict',
      decisionId: d2.decisionId,
      verdict: { kind: 'admit', display: [], passage: { n: 2 } },
    });
    g.step({ type: 'limits', open: true, closed: false });
    g.step({ type: 'safety', occupied: true });
    g.step({ type: 'safety', occupied: false });
    const tail = g.step({ type: 'safety', occupied: true }, 300);
    t.match(tail.commands, [
      { type: 'raise' },
      { type: 'alarm', kind: 'tailgate', correlationId: d2.correlationId },
    ]);
    g.step({ type: 'safety', occupied: false });
    t.equal(g.log.filter((c) => c.type === 'record_passage').length, 1, 'only the admitted car is recorded');
  },
);

t.test('barrier fault: no open limit in time; without limit switches travel time is assumed', async (t) => {
  const m = machine(true);
  m.step({ type: 'manual_open' });
  const r = m.tick(DEFAULT_LANE_TIMING.armFaultMs);
  t.match(r.commands, [{ type: 'alarm', kind: 'barrier_fault' }]);
  const n = machine(false);
  n.step({ type: 'manual_open' });
  const r2 = n.tick(DEFAULT_LANE_TIMING.armTravelMs);
  t.equal(r2.state, 'OPEN');
  t.notOk(r2.commands.some((c) => c.type === 'alarm'));
});

t.test('manual open with a passage: recorded when the vehicle crosses, once per cycle', async (t) => {
  const m = machine();
  // From idle: a cycle of its own, recorded at passage.
  let r = m.step({ type: 'manual_open', passage: { n: 1 } });
  t.equal(r.state, 'OPENING');
  t.match(r.commands, [{ type: 'display' }, { type: 'display' }, { type: 'raise' }]);
  const first = m.sm.snapshot().correlationId;
  t.ok(first);
  m.step({ type: 'limits', open: true, closed: false });
  m.step({ type: 'safety', occupied: true });
  r = m.step({ type: 'safety', occupied: false });
  t.match(r.commands, [{ type: 'record_passage', correlationId: first, passage: { n: 1 } }]);
  t.equal(r.state, 'CLOSING');

  // Reopened while closing for the next vehicle: a new cycle, which records its own passage.
  r = m.step({ type: 'manual_open', passage: { n: 2 } });
  t.same(
    r.transitions.map((x) => x.to),
    ['IDENTIFYING', 'OPENING'],
  );
  const second = m.sm.snapshot().correlationId;
  t.not(second, first);
  m.step({ type: 'safety', occupied: true });
  r = m.step({ type: 'safety', occupied: false });
  t.match(r.commands, [{ type: 'record_passage', correlationId: second, passage: { n: 2 } }]);
  // Reopened without a passage: the same cycle, nothing recorded again.
  m.step({ type: 'manual_open' });
  t.equal(m.sm.snapshot().correlationId, second);
  m.step({ type: 'safety', occupied: true });
  m.step({ type: 'safety', occupied: false });
  t.equal(m.log.filter((c) => c.type === 'record_passage').length, 2);

  // While a decision is pending: the attendant's passage wins, the late admission is abandoned.
  const p = machine();
  p.step({ type: 'arming', occupied: true });
  const d = decideOf(p.step({ type: 'credential', credential: { kind: 'qr', text: 'q' } }))!;
  p.step({ type: 'manual_open', passage: { n: 3 } });
  r = p.step({
    type: 'verdict',
    decisionId: d.decisionId,
    verdict: { kind: 'admit', display: [], passage: { n: 4 } },
  });
  t.match(r.commands, [{ type: 'abandon', passage: { n: 4 }, why: 'late_verdict' }]);
  p.step({ type: 'limits', open: true, closed: false });
  p.step({ type: 'safety', occupied: true });
  r = p.step({ type: 'safety', occupied: false });
  t.match(r.commands, [{ type: 'record_passage', passage: { n: 3 } }]);

  // Backed out after a manual open: nothing recorded.
  const b = machine();
  b.step({ type: 'manual_open', passage: { n: 5 } });
  b.step({ type: 'limits', open: true, closed: false });
  r = b.tick(DEFAULT_LANE_TIMING.backoutMs);
  t.match(r.commands, [{ type: 'abandon', passage: { n: 5 }, why: 'backed_out' }]);
  t.notOk(b.log.some((c) => c.type === 'record_passage'));
});

t.test(
  'property: never lower while the safety loop is occupied, never raise unasked, one record per cycle',
  async (t) => {
    const input = fc.oneof(
      fc.record({ type: fc.constant('arming' as const), occupied: fc.boolean() }),
      fc.record({ type: fc.constant('safety' as const), occupied: fc.boolean() }),
      fc.record({ type: fc.constant('limits' as const), open: fc.boolean(), closed: fc.boolean() }),
      fc.record({
        type: fc.constant('credential' as const),
        credential: fc.oneof(
          fc.record({
            kind: fc.constant('plate' as const),
            plate: fc.constantFrom('AA1', 'BB2'),
            confidence: fc.double({ min: 0, max: 1 }),
          }),
          fc.record({ kind: fc.constant('qr' as const), text: fc.constantFrom('q1', 'q2') }),
        ),
      }),
      fc.record({
        type: fc.constant('verdict' as const),
        kind: fc.constantFrom('admit', 'refuse', 'wait'),
        stale: fc.boolean(),
      }),
      fc.record({ type: fc.constant('manual_open' as const), withPassage: fc.boolean() }),
      fc.record({ type: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(input, { maxLength: 120 }), (limits, inputs) => {
        const m = machine(limits);
        let safety = false;
        let lastDecision: string | null = null;
        let passageN = 0;
        const recorded = new Set<number>();
        const recordedCycles = new Set<string>();
        for (const i of inputs) {
          let r: StepResult<P>;
          if (i.type === 'tick') r = m.tick(i.ms);
          else if (i.type === 'verdict') {
            const id = i.stale || lastDecision === null ? 'stale' : lastDecision;
            const verdict =
              i.kind === 'admit'
                ? { kind: 'admit' as const, display: [], passage: { n: ++passageN } }
                : i.kind === 'refuse'
                  ? { kind: 'refuse' as const, display: [] }
                  : { kind: 'wait' as const, display: [], driveupPlate: 'AA1' };
            r = m.step({ type: 'verdict', decisionId: id, verdict }, 10);
          } else if (i.type === 'manual_open') {
            r = m.step({ type: 'manual_open', passage: i.withPassage ? { n: ++passageN } : null }, 10);
          } else {
            if (i.type === 'safety') safety = i.occupied;
            r = m.step(i as LaneInput<P>, 10);
          }
          for (const c of r.commands) {
            if (c.type === 'lower' && safety) return false;
            if (c.type === 'decide') lastDecision = c.decisionId;
            if (c.type === 'record_passage') {
              if (recorded.has(c.passage.n) || recordedCycles.has(c.correlationId)) return false;
              recorded.add(c.passage.n);
              recordedCycles.add(c.correlationId);
            }
          }
          const raised = r.commands.some((c) => c.type === 'raise');
          if (raised && !['verdict', 'manual_open', 'safety'].includes(i.type)) return false;
          const deadline = m.sm.nextDeadline();
          if (deadline !== null && !Number.isFinite(deadline)) return false;
        }
        return true;
      }),
      { seed: 1234, numRuns: 2000 },
    );
    t.pass('2000 random input sequences');
  },
);
