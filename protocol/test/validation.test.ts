import t from 'tap';
import { generateSigningKey, publicEntryOf } from '../credential.js';
import { RatePlanSchema } from '../rate-plan.js';
import { signValidation, validatedPrice, verifyValidation } from '../validation.js';

const plan = RatePlanSchema.parse({ currency: 'EUR', hourlyRate: 400, dailyMax: 3000 });
const H = 3_600_000;
const stay = {
  entryMs: Date.UTC(2026, 0, 5, 9),
  exitMs: Date.UTC(2026, 0, 5, 12, 10),
  vehicleType: 'car' as const,
};

t.test('validatedPrice: minutes, percent, flat; never negative, never above the fee', async (t) => {
  // 3 h 10 min: 13 started units at €1 = €13.00.
  const at = (kind: 'minutes' | 'percent' | 'flat', value: number) =>
    validatedPrice(plan, stay, 'UTC', { kind, value });
  t.same(at('minutes', 60).price.total, { amount: 900, currency: 'EUR' }, 'the last hour free');
  t.same(at('minutes', 60).discount, { amount: 400, currency: 'EUR' });
  t.equal(at('minutes', 600).price.total.amount, 100, 'more minutes than the stay: one unit still started');
  t.equal(at('percent', 33).price.total.amount, 1300 - 429, 'floor(1300 × 33 / 100) off');
  t.equal(at('percent', 100).price.total.amount, 0);
  t.equal(at('flat', 500).price.total.amount, 500);
  t.equal(at('flat', 5000).price.total.amount, 1300, 'a flat above the fee changes nothing');
  t.same(
    at('flat', 5000).price.lines.at(-1)?.label,
    'Hourly rate',
    'no discount line when nothing is taken off',
  );
  t.match(at('percent', 50).price.lines.at(-1), { label: 'Validation: 50% off', amount: -650 });
  const long = validatedPrice(plan, { ...stay, exitMs: stay.entryMs + 30 * H }, 'UTC', {
    kind: 'minutes',
    value: 120,
  });
  t.ok(long.discount.amount >= 0 && long.price.total.amount <= 6000, 'capped days stay capped');
});

t.test('verifyValidation: signature, key window, lot, expiry, canonical text', async (t) => {
  const { signing } = generateSigningKey('v1');
  const keys = [publicEntryOf(signing)];
  const claims = { id: 'v-1', lot: 'lot-a', merchant: 'm', kind: 'flat' as const, value: 100, exp: 2_000 };
  const code = signValidation(claims, signing);
  t.match(code, /^PV1\.v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
  t.same(verifyValidation(code, keys, { lotId: 'lot-a', nowMs: 1_000 }), { ok: true, value: claims });
  t.same(verifyValidation(code, keys, { lotId: 'lot-b', nowMs: 1_000 }), { ok: false, error: 'wrong_lot' });
  t.same(verifyValidation(code, keys, { lotId: 'lot-a', nowMs: 2_000 }), { ok: false, error: 'expired' });
  t.same(verifyValidation(code, [], { lotId: 'lot-a', nowMs: 1_000 }), { ok: false, error: 'unknown_key' });
  const other = generateSigningKey('v1').signing;
  t.same(verifyValidation(code, [publicEntryOf(other)], { lotId: 'lot-a', nowMs: 1_000 }), {
    ok: false,
    error: 'bad_signature',
  });
  const [p, k, payload, sig] = code.split('.') as [string, string, string, string];
  const richer = Buffer.from(JSON.stringify({ ...claims, value: 0 })).toString('base64url');
  t.same(
    verifyValidation(`${p}.${k}.${richer}.${sig}`, keys, { lotId: 'lot-a', nowMs: 1_000 }),
    { ok: false, error: 'bad_signature' },
    'claims cannot be changed',
  );
  const last = sig.at(-1)!;
  const padded = `${p}.${k}.${payload}.${sig.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`;
  t.notOk(verifyValidation(padded, keys, { lotId: 'lot-a', nowMs: 1_000 }).ok, 'only the canonical spelling');
  t.same(verifyValidation('PK1.v1.x.y', keys, { lotId: 'lot-a', nowMs: 1_000 }), {
    ok: false,
    error: 'malformed',
  });
});
