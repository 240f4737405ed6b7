import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import {
  type CredentialClaims,
  decodeCredential,
  generateSigningKey,
  importPublicKey,
  publicEntryOf,
  signCredential,
  signingKeyFromPem,
  verifyCredential,
} from '../credential.js';

const MIN = 60_000;
const LOT = '5b0c6f3e-7a57-4d8e-9c1b-2f4a9d3e8b70';
const START = Date.UTC(2025, 0, 6, 9);
const END = Date.UTC(2025, 0, 6, 17);
const claims: CredentialClaims = {
  rid: 'a3e1c2d4-5b6f-4a7b-8c9d-0e1f2a3b4c5d',
  lot: LOT,
  plate: 'AB12CDE',
  start: START,
  end: END,
};
const k1 = generateSigningKey('k2025a');
const k2 = generateSigningKey('k2025b');
const keys = [k1.publicEntry, k2.publicEntry];
const at = (nowMs: number) => ({ lotId: LOT, nowMs, earlyArrivalMinutes: 15 });
const during = at(START + 60 * MIN);
const reasonOf = (r: ReturnType<typeof verifyCredential>) => (r.ok ? 'ok' : r.error.reason);

t.test('round trip: compact, scanner-safe, verifies', async (t) => {
  const text = signCredential(claims, k1.signing);
  t.match(text, /^PK1\.k2025a\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
  t.ok(text.length < 200, `length ${text.length}`);
  t.same(verifyCredential(text, keys, during), { ok: true, value: claims });
  t.same(decodeCredential(text), { ok: true, value: { keyId: 'k2025a', claims } });
  t.same(
    verifyCredential(`${text}\r\n`, keys, during),
    { ok: true, value: claims },
    'scanner Enter is tolerated',
  );
  t.equal(signCredential(claims, k1.signing), text, 'Ed25519 is deterministic');
});

t.test('claims round-trip exactly (property)', async () => {
  fc.assert(
    fc.property(
      fc.record({
        rid: fc.oneof(
          fc.uuid(),
          fc.string({ minLength: 1, maxLength: 40 }),
          fc.constant('A3E1C2D4-5B6F-4A7B-8C9D-0E1F2A3B4C5D'),
        ),
        lot: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 40 })),
        plate: fc.option(fc.string({ maxLength: 12 }), { nil: null }),
        start: fc.integer({ min: 0, max: 2 ** 47 }),
        len: fc.integer({ min: 1, max: 2 ** 40 }),
      }),
      ({ len, ...c }) => {
        const cl = { ...c, end: c.start + len };
        const d = decodeCredential(signCredential(cl, k2.signing));
        return d.ok && JSON.stringify(d.value.claims) === JSON.stringify(cl) && d.value.keyId === 'k2025b';
      },
    ),
    { numRuns: 300 },
  );
});

t.test('refusals', async (t) => {
  const text = signCredential(claims, k1.signing);
  const [pre, kid, payload, sig] = text.split('.') as [string, string, string, string];

  // Tampered payload: flip one byte of the binary payload (the plate), re-encode canonically.
  const bytes = Buffer.from(payload, 'base64url');
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
  const tampered = [pre, kid, bytes.toString('base64url'), sig].join('.');
  t.equal(reasonOf(verifyCredential(tampered, keys, during)), 'bad_signature', 'tampered payload');

  const sigBytes = Buffer.from(sig, 'base64url');
  sigBytes[10] = sigBytes[10]! ^ 0x40;
  t.equal(
    reasonOf(verifyCredential([pre, kid, payload, sigBytes.toString('base64url')].join('.'), keys, during)),
    'bad_signature',
    'tampered signature',
  );

  t.equal(
    reasonOf(verifyCredential([pre, 'k2025b', payload, sig].join('.'), keys, during)),
    'bad_signature',
    'key id swapped to another known key',
  );

  const impostor = generateSigningKey('k2025a');
  t.equal(
    reasonOf(verifyCredential(signCredential(claims, impostor.signing), keys, during)),
    'bad_signature',
    'same key id, wrong key',
  );

  const stranger = generateSigningKey('k1999');
  const unknown = verifyCredential(signCredential(claims, stranger.signing), keys, during);
  t.equal(reasonOf(unknown), 'unknown_key');
  if (!unknown.ok) t.match(unknown.error.message, /k1999/);

  t.equal(reasonOf(verifyCredential(text, [], during)), 'unknown_key', 'no keys at all');
  t.equal(
    reasonOf(verifyCredential(text, [{ keyId: 'k2025a', publicKey: 'not-a-key' }], during)),
    'unknown_key',
    'broken key entry',
  );
  t.equal(reasonOf(verifyCredential(text, keys, { ...during, lotId: 'other-lot' })), 'wrong_lot');

  t.equal(
    reasonOf(verifyCredential(text, keys, at(START - 15 * MIN))),
    'ok',
    'exactly at the early-arrival allowance',
  );
  t.equal(reasonOf(verifyCredential(text, keys, at(START - 15 * MIN - 1))), 'too_early');
  t.equal(reasonOf(verifyCredential(text, keys, { ...at(START - 1), earlyArrivalMinutes: 0 })), 'too_early');
  t.equal(reasonOf(verifyCredential(text, keys, at(END - 1))), 'ok', 'last millisecond');
  t.equal(reasonOf(verifyCredential(text, keys, at(END))), 'expired', 'end is exclusive');

  const wrongSig = verifyCredential(tampered, keys, { ...during, lotId: 'other-lot' });
  t.equal(reasonOf(wrongSig), 'bad_signature', 'signature is checked before any claim');

  for (const bad of [
    '',
    'PK1',
    'PK1...',
    `PK2.${kid}.${payload}.${sig}`,
    `${text}.x`,
    [pre, kid, payload, sig.slice(1)].join('.'),
    [pre, kid, `${payload}=`, sig].join('.'),
    [pre, kid, `${payload}A`, sig].join('.'),
    [pre, 'bad key', payload, sig].join('.'),
    [pre, kid, Buffer.from('short').toString('base64url'), sig].join('.'),
    text.replace('.', ' '),
  ]) {
    t.equal(reasonOf(verifyCredential(bad, keys, during)), 'malformed', JSON.stringify(bad.slice(0, 40)));
    t.same(decodeCredential(bad), { ok: false, error: 'malformed' });
  }
});

t.test('never throws on garbage, huge or mutated input (property)', async () => {
  const text = signCredential(claims, k1.signing);
  fc.assert(
    fc.property(fc.oneof(fc.anything(), fc.string(), fc.string({ unit: 'binary', maxLength: 600 })), (x) => {
      const r = verifyCredential(x as never, keys, during);
      const d = decodeCredential(x as never);
      return !r.ok && !d.ok;
    }),
    { numRuns: 2000 },
  );
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
  fc.assert(
    fc.property(fc.nat(text.length - 1), fc.nat(alphabet.length - 1), (i, c) => {
      const mutated = text.slice(0, i) + alphabet[c] + text.slice(i + 1);
      const r = verifyCredential(mutated, keys, during);
      return mutated === text ? r.ok : !r.ok;
    }),
    { numRuns: 2000 },
  );
  t.equal(reasonOf(verifyCredential('PK1.'.repeat(1_000_000), keys, during)), 'malformed');
  t.equal(reasonOf(verifyCredential(`${text}${'A'.repeat(100_000)}`, keys, during)), 'malformed');
});

t.test('keys: PEM round trip, public entry, cache, validation', async (t) => {
  const fromPem = signingKeyFromPem('k2025a', k1.privatePem);
  t.same(publicEntryOf(fromPem), k1.publicEntry);
  t.equal(Buffer.from(k1.publicEntry.publicKey, 'base64url').length, 32, 'raw 32-byte key');
  t.ok(verifyCredential(signCredential(claims, fromPem), keys, during).ok);
  t.equal(importPublicKey(k1.publicEntry), importPublicKey(k1.publicEntry), 'imported once per entry');
  const mutable = { ...k2.publicEntry };
  const before = importPublicKey(mutable);
  mutable.publicKey = k1.publicEntry.publicKey;
  t.not(importPublicKey(mutable), before, 're-imported when the entry changes');
  t.equal(importPublicKey({ keyId: 'x', publicKey: 'AAAA' }), null);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  t.throws(() => signingKeyFromPem('k', rsa), TypeError);
  t.throws(() => generateSigningKey('has.dot'), RangeError);
  t.throws(() => generateSigningKey(''), RangeError);
  t.throws(() => signCredential({ ...claims, end: claims.start }, k1.signing), RangeError);
  t.throws(() => signCredential({ ...claims, start: 1.5 }, k1.signing), RangeError);
  t.throws(() => signCredential({ ...claims, rid: '' }, k1.signing), TypeError);
  t.throws(() => signCredential({ ...claims, plate: 'x'.repeat(300) }, k1.signing), RangeError);
});
