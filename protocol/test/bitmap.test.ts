import fc from 'fast-check';
import t from 'tap';
import {
  andIsZero,
  andNotInto,
  bitStringToBits,
  bitsToBitString,
  bitsToBytes,
  bytesToBits,
  clearRange,
  LotBitmap,
  maskFor,
  orInto,
  popcount32,
  popcountRange,
  rangeIsFree,
  setRange,
  wordsForSlots,
} from '../bitmap.js';

// ---- naive models ----
const bitOf = (w: Uint32Array, i: number) => ((w[i >>> 5]! >>> (i & 31)) & 1) === 1;
const setOf = (w: Uint32Array): Set<number> => {
  const s = new Set<number>();
  for (let i = 0; i < w.length * 32; i++) if (bitOf(w, i)) s.add(i);
  return s;
};
const fromSet = (s: Iterable<number>, words: number): Uint32Array => {
  const w = new Uint32Array(words);
  for (const i of s) w[i >>> 5] = w[i >>> 5]! | (1 << (i & 31));
  return w;
};
const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

/** Random words plus a range [from, to) inside a spot that starts at a random word offset. */
const arbRangeCase = fc
  .record({
    offset: fc.integer({ min: 0, max: 3 }),
    spotWords: fc.integer({ min: 1, max: 8 }),
    fill: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 12, maxLength: 12 }),
    sparse: fc.boolean(),
    a: fc.nat(),
    b: fc.nat(),
  })
  .map(({ offset, spotWords, fill, sparse, a, b }) => {
    const words = Uint32Array.from(fill, (x, i) => (sparse && i % 3 !== 0 ? 0 : sparse ? x & 0x80000001 : x));
    const bits = spotWords * 32;
    const x = a % (bits + 1);
    const y = b % (bits + 1);
    return { words, offset, spotWords, from: Math.min(x, y), to: Math.max(x, y) };
  });

t.test('wordsForSlots and popcount32', async (t) => {
  t.equal(wordsForSlots(0), 0);
  t.equal(wordsForSlots(1), 1);
  t.equal(wordsForSlots(32), 1);
  t.equal(wordsForSlots(33), 2);
  t.equal(wordsForSlots(672), 21);
  t.equal(popcount32(0), 0);
  t.equal(popcount32(0xffffffff), 32);
  t.equal(popcount32(-1), 32, 'int32 view of all ones');
  t.equal(popcount32(0x80000000), 1);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      (x) => popcount32(x) === x.toString(2).replaceAll('0', '').length,
    ),
  );
});

t.test('range ops equal the naive bit loop (property)', async () => {
  fc.assert(
    fc.property(arbRangeCase, ({ words, offset, from, to }) => {
      const base = offset * 32;
      let naiveFree = true;
      let naiveCount = 0;
      for (let i = from; i < to; i++) {
        if (bitOf(words, base + i)) {
          naiveFree = false;
          naiveCount++;
        }
      }
      if (rangeIsFree(words, offset, from, to) !== naiveFree) return false;
      if (popcountRange(words, offset, from, to) !== naiveCount) return false;

      const before = setOf(words);
      const set = words.slice();
      setRange(set, offset, from, to);
      const expectSet = new Set(before);
      for (let i = from; i < to; i++) expectSet.add(base + i);
      if (sorted(setOf(set)).join() !== sorted(expectSet).join()) return false;
      if (!(to > from ? !rangeIsFree(set, offset, from, to) : rangeIsFree(set, offset, from, to)))
        return false;

      const clr = words.slice();
      clearRange(clr, offset, from, to);
      const expectClr = new Set(before);
      for (let i = from; i < to; i++) expectClr.delete(base + i);
      if (sorted(setOf(clr)).join() !== sorted(expectClr).join()) return false;
      return rangeIsFree(clr, offset, from, to);
    }),
    { numRuns: 3000 },
  );
});

t.test('word-boundary edge cases', async (t) => {
  const w = new Uint32Array(4);
  setRange(w, 0, 31, 33);
  t.same(Array.from(w), [0x80000000, 1, 0, 0]);
  t.notOk(rangeIsFree(w, 0, 31, 32));
  t.ok(rangeIsFree(w, 0, 0, 31));
  t.ok(rangeIsFree(w, 0, 33, 128));
  t.ok(rangeIsFree(w, 0, 5, 5), 'empty range is free');
  setRange(w, 0, 32, 96);
  t.same(Array.from(w), [0x80000000, 0xffffffff, 0xffffffff, 0]);
  clearRange(w, 0, 0, 128);
  t.same(Array.from(w), [0, 0, 0, 0]);
  setRange(w, 1, 0, 32);
  t.same(Array.from(w), [0, 0xffffffff, 0, 0], 'wordOffset shifts the spot');
  t.equal(popcountRange(w, 0, 0, 128), 32);
});

t.test('mask ops equal set ops (property)', async () => {
  const arbWords = (n: number) =>
    fc
      .array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: n, maxLength: n })
      .map((a) => Uint32Array.from(a));
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 6 })
        .chain((n) => fc.tuple(fc.constant(n), arbWords(n), arbWords(n), fc.nat(), fc.nat())),
      ([n, a, b, x, y]) => {
        const from = Math.min(x, y) % (n * 32 + 1);
        const to = Math.max(from, Math.max(x, y) % (n * 32 + 1));
        const mask = maskFor(from, to, n);
        const expected = new Set<number>();
        for (let i = from; i < to; i++) expected.add(i);
        if (sorted(setOf(mask)).join() !== sorted(expected).join()) return false;

        const sa = setOf(a);
        const sb = setOf(b);
        const intersects = [...sa].some((i) => sb.has(i));
        if (andIsZero(a, b) === intersects) return false;

        const or = a.slice();
        orInto(or, b);
        if (sorted(setOf(or)).join() !== sorted(new Set([...sa, ...sb])).join()) return false;

        const andNot = a.slice();
        andNotInto(andNot, b);
        return sorted(setOf(andNot)).join() === sorted(new Set([...sa].filter((i) => !sb.has(i)))).join();
      },
    ),
    { numRuns: 1000 },
  );
});

t.test('mask ops with unequal lengths', async (t) => {
  t.ok(andIsZero(Uint32Array.of(1), Uint32Array.of(2, 1)), 'words past the shorter count as zero');
  const target = Uint32Array.of(1);
  orInto(target, Uint32Array.of(2, 0));
  t.same(Array.from(target), [3]);
  t.throws(() => orInto(Uint32Array.of(0), Uint32Array.of(0, 1)), RangeError, 'would drop set bits');
  const tgt = Uint32Array.of(0xff, 0xff);
  andNotInto(tgt, Uint32Array.of(0x0f));
  t.same(Array.from(tgt), [0xf0, 0xff]);
  t.throws(() => maskFor(0, 33, 1), RangeError);
  t.throws(() => maskFor(-1, 3, 1), RangeError);
  t.same(Array.from(maskFor(3, 3, 2)), [0, 0]);
});

t.test('bytes and bit strings round-trip (property)', async () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat({ max: 2000 }), { maxLength: 60 }),
      fc.integer({ min: 0, max: 2001 }),
      (bits, count) => {
        const inRange = bits.filter((b) => b < count);
        const words = fromSet(inRange, wordsForSlots(count));
        const bytes = bitsToBytes(words);
        for (const b of inRange) if (((bytes[b >>> 3]! >>> (b & 7)) & 1) !== 1) return false;
        if (sorted(setOf(bytesToBits(bytes, count))).join() !== sorted(new Set(inRange)).join()) return false;
        const str = bitsToBitString(words, count);
        if (str.length !== count || !/^[01]*$/.test(str)) return false;
        for (const b of inRange) if (str[b] !== '1') return false;
        return sorted(setOf(bitStringToBits(str))).join() === sorted(new Set(inRange)).join();
      },
    ),
    { numRuns: 1000 },
  );
});

t.test('bytes / bit strings: layout and strictness', async (t) => {
  t.same(Array.from(bitsToBytes(Uint32Array.of(0x00000102))), [2, 1, 0, 0], 'bit 1 → byte 0, bit 8 → byte 1');
  t.same(Array.from(bytesToBits(Uint8Array.of(0xff, 0xff), 10)), [0x3ff], 'bits beyond bitCount are dropped');
  t.same(Array.from(bytesToBits(Uint8Array.of(1), 64)), [1, 0], 'missing bytes read as zero');
  t.equal(
    bitsToBitString(Uint32Array.of(0b1010), 5),
    '01010',
    "char i is bit i (PostgreSQL 'bit varying' order)",
  );
  t.same(Array.from(bitStringToBits('01010')), [0b1010]);
  t.same(Array.from(bitStringToBits('')), []);
  t.throws(() => bitStringToBits('0120'), RangeError);
});

// ---- LotBitmap against a Set-of-absolute-slots model ----

type Op =
  | { op: 'reserve'; spot: number; s: number; len: number }
  | { op: 'tryReserve'; spot: number; s: number; len: number }
  | { op: 'release'; spot: number; s: number; len: number }
  | { op: 'isFree'; spot: number; s: number; len: number }
  | { op: 'countFree'; spots: number[]; s: number; len: number }
  | { op: 'firstFree'; spots: number[]; s: number; len: number }
  | { op: 'rebase'; by: number };

t.test('LotBitmap matches a Set<number> model over random op sequences (property)', async () => {
  fc.assert(
    fc.property(
      fc.record({
        spotCount: fc.integer({ min: 1, max: 6 }),
        span: fc.integer({ min: 1, max: 200 }),
        base: fc.integer({ min: -1000, max: 2_000_000 }),
      }),
      fc.array(
        fc.oneof(
          fc.record({
            op: fc.constant('reserve' as const),
            spot: fc.nat(5),
            s: fc.integer({ min: -40, max: 240 }),
            len: fc.nat(100),
          }),
          fc.record({
            op: fc.constant('tryReserve' as const),
            spot: fc.nat(5),
            s: fc.integer({ min: -40, max: 240 }),
            len: fc.nat(100),
          }),
          fc.record({
            op: fc.constant('release' as const),
            spot: fc.nat(5),
            s: fc.integer({ min: -40, max: 240 }),
            len: fc.nat(100),
          }),
          fc.record({
            op: fc.constant('isFree' as const),
            spot: fc.nat(5),
            s: fc.integer({ min: -40, max: 240 }),
            len: fc.nat(100),
          }),
          fc.record({
            op: fc.constant('countFree' as const),
            spots: fc.array(fc.nat(5), { maxLength: 8 }),
            s: fc.integer({ min: -40, max: 240 }),
            len: fc.nat(100),
          }),
          fc.record({
            op: fc.constant('firstFree' as const),
            spots: fc.array(fc.nat(5), { maxLength: 8 }),
            s: fc.integer({ min: -40, max: 240 }),
            len: fc.nat(100),
          }),
          fc.record({ op: fc.constant('rebase' as const), by: fc.integer({ min: 0, max: 70 }) }),
        ),
        { maxLength: 60 },
      ),
      ({ spotCount, span, base }, ops: Op[]) => {
        const bm = new LotBitmap(spotCount, base, span);
        const model = Array.from({ length: spotCount }, () => new Set<number>());
        const modelFree = (spot: number, s: number, e: number) => {
          for (let x = s; x < e; x++) if (model[spot]!.has(x)) return false;
          return true;
        };
        for (const o of ops) {
          if (o.op === 'rebase') {
            const nb = bm.baseSlot + o.by;
            bm.rebase(nb);
            for (const set of model) for (const x of [...set]) if (x < nb) set.delete(x);
            continue;
          }
          const s = bm.baseSlot + o.s;
          const e = s + o.len;
          if (o.op === 'countFree' || o.op === 'firstFree') {
            const spots = o.spots.filter((x) => x < spotCount);
            if (o.op === 'countFree') {
              if (bm.countFree(spots, s, e) !== spots.filter((x) => modelFree(x, s, e)).length) return false;
            } else if (bm.firstFree(spots, s, e) !== (spots.find((x) => modelFree(x, s, e)) ?? -1))
              return false;
            continue;
          }
          const spot = o.spot % spotCount;
          const inSpan = s >= bm.baseSlot && e <= bm.baseSlot + span;
          if (o.op === 'isFree') {
            if (bm.isFree(spot, s, e) !== modelFree(spot, s, e)) return false;
          } else if (o.op === 'release') {
            bm.release(spot, s, e);
            for (let x = s; x < e; x++) model[spot]!.delete(x);
          } else if (o.op === 'reserve') {
            if (!inSpan) {
              try {
                bm.reserve(spot, s, e);
                return false;
              } catch (err) {
                if (!(err instanceof RangeError)) return false;
              }
              continue;
            }
            bm.reserve(spot, s, e);
            for (let x = s; x < e; x++) model[spot]!.add(x);
          } else {
            if (!inSpan) continue;
            const free = modelFree(spot, s, e);
            if (bm.tryReserve(spot, s, e) !== free) return false;
            if (free) for (let x = s; x < e; x++) model[spot]!.add(x);
          }
        }
        // Final state: bit-for-bit equal to the model, and nothing set past the span.
        for (let spot = 0; spot < spotCount; spot++) {
          const words = bm.spotWords(spot);
          const got = sorted(setOf(words)).map((i) => i + bm.baseSlot);
          if (got.join() !== sorted(model[spot]!).join()) return false;
          if (bm.heldSlots(spot) !== model[spot]!.size) return false;
        }
        return true;
      },
    ),
    { numRuns: 1500 },
  );
});

t.test('LotBitmap basics', async (t) => {
  const bm = new LotBitmap(3, 1000, 672);
  t.equal(bm.wordsPerSpot, 21);
  t.equal(bm.words.length, 63);
  t.equal(bm.baseSlot, 1000);
  bm.reserve(1, 1030, 1040);
  t.notOk(bm.isFree(1, 1000, 1031));
  t.ok(bm.isFree(1, 1000, 1030), 'end is exclusive');
  t.ok(bm.isFree(1, 1040, 1672));
  t.ok(bm.isFree(0, 1030, 1040), 'other spots unaffected');
  t.ok(bm.isFree(1, 900, 1000), 'before the base counts as free (past)');
  t.ok(bm.isFree(1, 1672, 2000), 'beyond the span counts as free');
  t.equal(bm.heldSlots(1), 10);
  t.equal(bm.countFree([0, 1, 2], 1035, 1036), 2);
  t.equal(bm.firstFree([1, 2, 0], 1035, 1036), 2);
  t.equal(bm.firstFree([1], 1035, 1036), -1);
  t.equal(bm.countFree([], 1035, 1036), 0);
  t.throws(() => bm.reserve(1, 999, 1001), RangeError, 'reserve before base');
  t.throws(() => bm.reserve(1, 1600, 1673), RangeError, 'reserve past span');
  t.throws(() => bm.reserve(1, 1010, 1005), RangeError, 'reversed');
  t.throws(() => bm.reserve(3, 1010, 1011), RangeError, 'no such spot');
  t.throws(() => bm.isFree(-1, 1010, 1011), RangeError);
  t.throws(() => bm.countFree([0, 7], 1010, 1011), RangeError);
  t.throws(() => bm.isFree(0, 1010.5, 1011), RangeError, 'slots are integers');
  t.throws(() => new LotBitmap(-1, 0, 10), RangeError);
  bm.release(1, 0, 1035); // lenient: starts long before the base
  t.equal(bm.heldSlots(1), 5);
  const view = bm.spotWords(1);
  view.fill(0);
  t.equal(bm.heldSlots(1), 0, 'spotWords is a live view');
});

t.test('rebase keeps absolute slots aligned and drops the past', async (t) => {
  const bm = new LotBitmap(2, 0, 100);
  bm.reserve(0, 10, 20);
  bm.reserve(0, 60, 99);
  bm.reserve(1, 0, 100);
  bm.rebase(15);
  t.equal(bm.baseSlot, 15);
  t.notOk(bm.isFree(0, 15, 20));
  t.ok(bm.isFree(0, 20, 60));
  t.notOk(bm.isFree(0, 98, 99));
  t.ok(bm.isFree(0, 99, 115), 'the new tail is free');
  t.equal(bm.heldSlots(0), 5 + 39);
  t.equal(bm.heldSlots(1), 85);
  bm.reserve(1, 100, 115);
  t.equal(bm.heldSlots(1), 100);
  t.throws(() => bm.rebase(14), RangeError, 'never backwards');
  bm.rebase(64); // whole-word shift path
  t.equal(bm.heldSlots(0), 35);
  bm.rebase(1000);
  t.equal(bm.heldSlots(0) + bm.heldSlots(1), 0);
});

t.test('countFree 2,000 spots x 7 days is fast (loose sanity bound; see npm run bench)', async (t) => {
  const bm = new LotBitmap(2000, 0, 96 * 90);
  const all = Int32Array.from({ length: 2000 }, (_, i) => i);
  let free = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 200; i++) free = bm.countFree(all, 7 + (i % 3), 679);
  const perCallUs = Number(process.hrtime.bigint() - t0) / 200 / 1000;
  t.equal(free, 2000);
  t.ok(perCallUs < 5000, `~${perCallUs.toFixed(1)} µs per call`);
});
