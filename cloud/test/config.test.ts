import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateSigningKey } from '../../protocol/credential.js';
import { ConfigError, loadConfig, parseEnv } from '../config.js';

t.test('defaults just work', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { DATA_DIR: join(dir, 'data'), PGLITE_DIR: join(dir, 'pg') };
  const a = await loadConfig(env);
  t.equal(a.port, 3000);
  t.equal(a.host, '127.0.0.1');
  t.same(a.database, { kind: 'pglite', dir: join(dir, 'pg') });
  t.equal(a.publicUrl, 'http://localhost:3000');
  t.ok(a.auth.jwtSecret.length >= 32);
  t.ok(a.payments.sandboxSecret.length >= 32);
  t.match(a.signing.keyId, /^k\d{8}$/);
  t.equal(a.auth.admin?.email, 'admin@parkedge.local');
  const mode = (await stat(join(dir, 'data', 'jwt-secret'))).mode & 0o777;
  t.equal(mode, 0o600, 'secrets are private files');

  const b = await loadConfig(env);
  t.equal(b.auth.jwtSecret, a.auth.jwtSecret, 'generated secrets persist across restarts');
  t.equal(b.signing.privatePem, a.signing.privatePem);
  t.equal(b.auth.admin?.password, (await readFile(join(dir, 'data', 'admin-password'), 'utf8')).trim());
});

t.test('the environment wins', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const key = generateSigningKey('prod-1');
  const c = await loadConfig({
    DATA_DIR: dir,
    DATABASE_URL: 'postgres://u@db:5432/park',
    PORT: '8080',
    JWT_SECRET: 'j'.repeat(40),
    ADMIN_EMAIL: 'Root@Example.com',
    ADMIN_PASSWORD: 'root password 1',
    SIGNING_KEY_ID: 'prod-1',
    SIGNING_KEY_PEM: key.privatePem,
    RATE_LIMIT_CAPACITY_PER_MINUTE: '10',
    SWEEPERS: 'false',
    PGLITE_DIR: '',
  });
  t.same(c.database, { kind: 'postgres', url: 'postgres://u@db:5432/park', poolSize: 20 });
  t.equal(c.port, 8080);
  t.equal(c.auth.jwtSecret, 'j'.repeat(40));
  t.same(c.auth.admin, { email: 'root@example.com', password: 'root password 1' });
  t.equal(c.signing.keyId, 'prod-1');
  t.equal(c.rateLimits.capacityPerUserPerMinute, 10);
  t.equal(c.sweepers.enabled, false);
});

t.test('bad variables are named', async (t) => {
  const bad = (env: Record<string, string>) => {
    try {
      parseEnv(env);
      return '';
    } catch (e) {
      t.ok(e instanceof ConfigError);
      return (e as Error).message;
    }
  };
  t.match(bad({ PORT: 'eighty' }), /PORT/);
  t.match(bad({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL: a postgres:\/\/ URL/);
  t.match(bad({ JWT_SECRET: 'short' }), /JWT_SECRET: at least 32 characters/);
  t.match(bad({ SIGNING_KEY_ID: 'k1' }), /SIGNING_KEY_PEM and SIGNING_KEY_ID go together/);
  t.match(bad({ SWEEPERS: 'maybe' }), /SWEEPERS/);
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.rejects(
    loadConfig({
      DATA_DIR: dir,
      SIGNING_KEY_ID: 'k1',
      SIGNING_KEY_PEM: `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(60)}\n-----END PRIVATE KEY-----`,
    }),
    /SIGNING_KEY_PEM/,
  );
});

t.test(
  'the MQTT instance id is stable across restarts, differs per DATA_DIR, and MQTT_INSTANCE_ID wins',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'parkedge-config-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const env = { DATA_DIR: join(dir, 'a'), MQTT_URL: 'mqtt://broker:1883', MQTT_PASSWORD: 'p' };
    const first = (await loadConfig(env)).sync!;
    const again = (await loadConfig(env)).sync!;
    t.equal(again.instanceId, first.instanceId, 'same instance, same id (a restart takes its session back)');
    t.notMatch(first.instanceId, String(process.pid), 'not derived from the pid');
    t.equal(first.sessionExpirySec, 600, 'MQTT 5 session expiry by default');
    const other = (await loadConfig({ ...env, DATA_DIR: join(dir, 'b') })).sync!;
    t.not(other.instanceId, first.instanceId, 'a second instance on the host (own DATA_DIR) gets its own id');
    const given = (
      await loadConfig({ ...env, MQTT_INSTANCE_ID: 'replica-0', MQTT_SESSION_EXPIRY_SECONDS: '60' })
    ).sync!;
    t.equal(given.instanceId, 'replica-0');
    t.equal(given.sessionExpirySec, 60);
  },
);
