import fc from 'fast-check';
import sinon from 'sinon';
import t from 'tap';
import {
  CONFUSABLE_PAIRS,
  confusionVariants,
  matchPlate,
  normalizePlate,
  PLATE_INPUT_MAX_LENGTH,
  PLATE_INPUT_PATTERN,
  plateProblem,
} from '../plates.js';

t.test('normalizePlate: table', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['AB12CDE', 'AB12CDE'],
    ['ab 12 cde', 'AB12CDE'],
    ['B-MW-1234', 'BMW1234'],
    ['m.ab.123', 'MAB123'],
    ['  xy\t99 ', 'XY99'],
    ['AB–12', 'AB12'], // en dash from a copy-paste
    ['A1', 'A1'],
    ['A', null],
    ['', null],
    ['---', null],
    ['ABCDEFGHIJ', 'ABCDEFGHIJ'],
    ['ABCDEFGHIJK', null],
    ['AB_12', null],
    ['ÄB12', null],
    ['STRAßE1', null], // 'ß' would upper-case to 'SS'
    ['ıI12', null], // dotless i would upper-case to 'I'
    ['AB12\u0000', null],
  ];
  for (const [raw, want] of cases) t.equal(normalizePlate(raw), want, JSON.stringify(raw));
  t.equal(normalizePlate(42 as never), null, 'non-string');
  t.equal(normalizePlate('A'.repeat(1_000_000)), null, 'huge');
});

t.test('normalizePlate: idempotent, well-formed, never throws (property)', async () => {
  const plateish = fc.stringMatching(/^[A-Za-z0-9 .-]{0,14}$/);
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), plateish), (raw) => {
      const p = normalizePlate(raw);
      if (p === null) return true;
      return /^[A-Z0-9]{2,10}$/.test(p) && normalizePlate(p) === p;
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.anything(), (x) => {
      normalizePlate(x as never);
      confusionVariants(x as never);
      matchPlate({ plate: x as never, confidence: 1 }, () => undefined, 0);
    }),
  );
});

t.test('the API plate rule: pattern, plateProblem and normalizePlate agree (property)', async () => {
  const plateish = fc.stringMatching(/^[A-Za-z0-9 .\u00b7\u2013-]{0,14}$/);
  // Ajv (which reads the OpenAPI document) compiles patterns with the `u` flag.
  const documented = new RegExp(PLATE_INPUT_PATTERN.source, 'u');
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 12 }), plateish),
      (raw) => {
        const byPattern = raw.length <= PLATE_INPUT_MAX_LENGTH && documented.test(raw);
        const ok = plateProblem(raw) === null;
        return (
          byPattern === ok && ok === (raw.length <= PLATE_INPUT_MAX_LENGTH && normalizePlate(raw) !== null)
        );
      },
    ),
    { numRuns: 3000 },
  );
});

t.test('plateProblem says what is wrong', async (t) => {
  t.equal(plateProblem('B-AB 1234'), null);
  t.equal(plateProblem('ABCDEFGHIJK'), 'must have 2 to 10 letters or digits, has 11');
  t.equal(plateProblem('A'), 'must have 2 to 10 letters or digits, has 1');
  t.equal(plateProblem(' - '), 'must have 2 to 10 letters or digits, has 0');
  t.match(plateProblem('AB_12'), /only letters A-Z and digits 0-9/);
  t.equal(plateProblem('A'.repeat(25)), 'must be at most 24 characters');
  t.equal(plateProblem(42), 'must be text');
});

t.test('confusionVariants', async (t) => {
  t.same(CONFUSABLE_PAIRS, [
    ['O', '0'],
    ['I', '1'],
    ['B', '8'],
    ['S', '5'],
    ['Z', '2'],
  ]);
  t.ok(Object.isFrozen(CONFUSABLE_PAIRS));
  t.same(confusionVariants('O0'), ['00', 'OO']);
  t.same(confusionVariants('ab-1o'), ['A81O', 'ABIO', 'AB10']);
  t.same(confusionVariants('XYW'), []);
  t.same(confusionVariants('!'), []);
});

t.test('confusionVariants: symmetric, one substitution each (property)', async () => {
  const plate = fc.stringMatching(/^[A-Z0-9OI1B8S5Z2]{2,10}$/);
  const pairs = new Set(CONFUSABLE_PAIRS.flatMap(([a, b]) => [a + b, b + a]));
  fc.assert(
    fc.property(plate, (p) => {
      const vs = confusionVariants(p);
      if (new Set(vs).size !== vs.length) return false;
      if (vs.length !== [...p].filter((c) => 'OI1B8S5Z20'.includes(c)).length) return false;
      for (const v of vs) {
        if (!confusionVariants(v).includes(p)) return false;
        const diff = [...v].map((c, i) => [p[i], c]).filter(([a, b]) => a !== b);
        if (diff.length !== 1 || !pairs.has(diff[0]!.join(''))) return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
});

t.test('matchPlate: table', async (t) => {
  const index = new Map([
    ['AB12CDE', 'r1'],
    ['XY0', 'r2'],
    ['S8', 'r3'],
    ['58', 'r4'],
    ['SB', 'r5'],
  ]);
  const lookup = (p: string) => index.get(p);
  t.same(
    matchPlate({ plate: 'ab 12 cde', confidence: 0.1 }, lookup, 0.9),
    { kind: 'exact', plate: 'AB12CDE', value: 'r1' },
    'exact needs no confidence',
  );
  t.same(matchPlate({ plate: 'A812CDE', confidence: 0.95 }, lookup, 0.9), {
    kind: 'fuzzy',
    plate: 'AB12CDE',
    value: 'r1',
  });
  t.same(
    matchPlate({ plate: 'A812CDE', confidence: 0.9 }, lookup, 0.9),
    { kind: 'fuzzy', plate: 'AB12CDE', value: 'r1' },
    'at the threshold',
  );
  t.same(
    matchPlate({ plate: 'A812CDE', confidence: 0.89 }, lookup, 0.9),
    { kind: 'none' },
    'below the threshold',
  );
  t.same(
    matchPlate({ plate: 'A812CDE', confidence: Number.NaN }, lookup, 0.9),
    { kind: 'none' },
    'NaN confidence',
  );
  t.same(matchPlate({ plate: 'XYO', confidence: 1 }, lookup, 0.9), {
    kind: 'fuzzy',
    plate: 'XY0',
    value: 'r2',
  });
  t.same(
    matchPlate({ plate: 'A8I2CDE', confidence: 1 }, lookup, 0.9),
    { kind: 'none' },
    'two substitutions away',
  );
  t.same(
    matchPlate({ plate: '5B', confidence: 1 }, lookup, 0.9),
    { kind: 'ambiguous', plates: ['SB', '58'] },
    'SB and 58 are both one away',
  );
  t.same(
    matchPlate({ plate: 'S8', confidence: 0 }, lookup, 0.9),
    { kind: 'exact', plate: 'S8', value: 'r3' },
    'exact beats ambiguity',
  );
  t.same(matchPlate({ plate: '??', confidence: 1 }, lookup, 0.9), { kind: 'none' });
});

t.test('matchPlate probes the index at most 1 + length times', async (t) => {
  const lookup = sinon.spy((_p: string): number | undefined => undefined);
  matchPlate({ plate: 'O0I1B8S5Z2', confidence: 1 }, lookup, 0.5);
  t.equal(lookup.callCount, 11);
  t.ok(
    lookup.getCalls().every((c) => /^[A-Z0-9]{2,10}$/.test(c.args[0])),
    'only normalised plates',
  );
  const hit = sinon.spy((p: string) => (p === 'AB12' ? 1 : undefined));
  matchPlate({ plate: 'ab12', confidence: 1 }, hit, 0.5);
  t.equal(hit.callCount, 1, 'exact hit stops');
});

t.test('matchPlate agrees with a brute-force scan (property)', async () => {
  const plate = fc.stringMatching(/^[AB8O0S5CX]{2,5}$/);
  fc.assert(
    fc.property(
      fc.uniqueArray(plate, { maxLength: 30 }),
      plate,
      fc.double({ min: 0, max: 1, noNaN: true }),
      (known, read, conf) => {
        const index = new Map(known.map((p, i) => [p, i]));
        const got = matchPlate({ plate: read, confidence: conf }, (p) => index.get(p), 0.5);
        if (index.has(read)) return got.kind === 'exact' && got.value === index.get(read);
        // Brute force: every known plate one confusable substitution away.
        const near = known.filter((k) => confusionVariants(read).includes(k));
        if (conf < 0.5 || near.length === 0) return got.kind === 'none';
        if (near.length === 1) return got.kind === 'fuzzy' && got.plate === near[0];
        return got.kind === 'ambiguous' && [...got.plates].sort().join() === [...near].sort().join();
      },
    ),
    { numRuns: 2000 },
  );
});
