import t from 'tap';
import { TestClock } from '../clock.js';
import { seededRandom } from '../random.js';

t.test('a seeded source replays exactly', async (t) => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const seqA = Array.from({ length: 50 }, () => a.next());
  const seqB = Array.from({ length: 50 }, () => b.next());
  t.same(seqA, seqB);
  t.not(seededRandom(43).next(), seqA[0], 'another seed, another sequence');
  t.ok(seqA.every((x) => x >= 0 && x < 1));
  const r = seededRandom(1);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[r.int(4)]!++;
  t.ok(
    counts.every((c) => c > 800),
    `roughly uniform: ${counts}`,
  );
  t.equal(seededRandom(5).id(12).length, 12);
  t.throws(() => r.pick([]));
});

t.test('the test clock moves only when told', async (t) => {
  const c = new TestClock(1000);
  t.equal(c.now(), 1000);
  t.equal(c.advance(500), 1500);
  c.set(0);
  t.equal(c.now(), 0);
});
