import t from 'tap';
import {
  decodeCredential,
  signCredential,
  signingKeyFromPem,
  verifyCredential,
} from '../../protocol/credential.js';
import { configSourcePort } from '../sync/repo-adapter.js';
import { buildTestCloud, lotBody } from './helpers.js';

const DAY = 24 * 60 * 60_000;

t.test('signing keys: rotate keeps the old key for its grace, revoke drops it, admin only', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  const admin = await cloud.userWithToken('admin');
  const operator = await cloud.userWithToken('operator');
  const lot = lotBody();
  t.equal((await cloud.call('POST', '/v1/lots', { token: operator.token, body: lot })).status, 201);
  const configs = configSourcePort(cloud.app);
  const before = (await configs.config(lot.id!))!;

  const initial = await cloud.call('GET', '/v1/keys');
  t.equal(initial.body.keys.length, 1);
  const first = initial.body.keys[0];
  t.equal(first.notAfter, null, 'the current key is open-ended');

  t.equal((await cloud.call('POST', '/v1/keys/rotate', { token: operator.token, body: {} })).status, 403);
  t.equal((await cloud.call('POST', '/v1/keys/rotate', { body: {} })).status, 401);
  const now = cloud.clock.now();
  const rotated = await cloud.call('POST', '/v1/keys/rotate', {
    token: admin.token,
    body: { graceDays: 10 },
  });
  t.equal(rotated.status, 200);
  t.equal(rotated.body.retired.keyId, first.keyId);
  t.equal(Date.parse(rotated.body.retired.notAfter), now + 10 * DAY, 'old key verifies for the grace');
  const fresh = rotated.body.current.keyId as string;
  t.not(fresh, first.keyId);

  // Lots receive both, with their windows, under a higher config version.
  const after = (await configs.config(lot.id!))!;
  t.ok(after.version > before.version, 'the config version moved');
  t.same(
    after.publicKeys.map((k) => [k.keyId, k.notAfter]),
    [
      [fresh, null],
      [first.keyId, rotated.body.retired.notAfter],
    ],
  );
  // New credentials are signed by the new key, and verify against what lots receive.
  t.equal(cloud.app.signingKeys.signer.keyId, fresh, 'new credentials are signed by the new key');

  // After the grace, the old key is no longer sent.
  t.same(
    cloud.app.signingKeys.publicKeys(now + 10 * DAY).map((k) => k.keyId),
    [fresh],
    'an expired key is dropped',
  );

  // Revoke: the current key cannot be; the old one can, and lots stop receiving it at once.
  t.equal((await cloud.call('POST', `/v1/keys/${fresh}/revoke`, { token: admin.token })).status, 409);
  t.equal((await cloud.call('POST', '/v1/keys/nope/revoke', { token: admin.token })).status, 404);
  t.equal(
    (await cloud.call('POST', `/v1/keys/${first.keyId}/revoke`, { token: operator.token })).status,
    403,
  );
  const revoked = await cloud.call('POST', `/v1/keys/${first.keyId}/revoke`, { token: admin.token });
  t.equal(revoked.status, 200);
  t.equal(revoked.body.revoked, true);
  const final = (await configs.config(lot.id!))!;
  t.ok(final.version > after.version);
  t.same(
    final.publicKeys.map((k) => k.keyId),
    [fresh],
  );
  t.same(
    (await cloud.call('GET', '/v1/keys')).body.keys.map((k: { keyId: string }) => k.keyId),
    [fresh],
  );
  const all = await cloud.call('GET', '/v1/keys/all', { token: admin.token });
  t.same(
    all.body.keys.map((k: { keyId: string; revoked: boolean }) => [k.keyId, k.revoked]),
    [
      [fresh, false],
      [first.keyId, true],
    ],
  );
  // A QR signed by the revoked key fails against what lots now hold.
  const oldSigner = signingKeyFromPem(first.keyId, cloud.app.config.signing.privatePem);
  const oldQr = signCredential(
    { rid: 'r1', lot: lot.id!, plate: null, start: now, end: now + DAY },
    oldSigner,
  );
  t.equal(decodeCredential(oldQr).ok, true);
  const verdict = verifyCredential(oldQr, final.publicKeys, {
    lotId: lot.id!,
    nowMs: now,
    earlyArrivalMinutes: 0,
  });
  t.match(verdict, { ok: false, error: { reason: 'unknown_key' } });
});
