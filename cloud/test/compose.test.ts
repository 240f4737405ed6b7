import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../protocol/logger.js';
import { createCloud } from '../compose.js';
import { ephemeralConfig } from '../config.js';
import { lotBody } from './helpers.js';

/**
 * The composition root with the embedded database: PGlite in a data directory, served over the
 * wire protocol; what it stores survives a restart. Also: the server really listens.
 */

t.test('PGlite in a data dir persists across restarts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-pglite-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = ephemeralConfig({ database: { kind: 'pglite', dir } });
  const admin = config.auth.admin!;

  const first = await createCloud(config, { logger: silentLogger() });
  const address = await first.app.listen({ host: '127.0.0.1', port: 0 });
  const login = await fetch(`${address}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: admin.email, password: admin.password }),
  });
  t.equal(login.status, 200, 'the first admin from configuration can log in over real HTTP');
  const { accessToken } = (await login.json()) as { accessToken: string };
  const created = await fetch(`${address}/v1/lots`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify(lotBody({ id: 'kept' }, 2)),
  });
  t.equal(created.status, 201);
  await first.close();

  const second = await createCloud(config, { logger: silentLogger() });
  t.teardown(() => second.close());
  const lot = await second.app.lots.get('kept');
  t.equal(lot?.name, 'Central Garage', 'the lot survived the restart');
  const admins = await second.db.rows(`select 1 from users where role = 'admin'`);
  t.equal(admins.length, 1, 'the admin is not created twice');
});
