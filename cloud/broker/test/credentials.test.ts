import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  MemoryCredentialStore,
  createCloudCredentials,
  createLotCredentials,
  findMosquittoPasswd,
  formatPasswordFile,
  generatePassword,
  loadCredentialStore,
  mosquittoPasswordHash,
  parsePasswordFile,
  saveCredentialStore,
  verifyPasswordHash,
  writeMosquittoPasswordFile,
} from '../credentials.js';

const dir = mkdtempSync(join(tmpdir(), 'parkedge-cred-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('account generation', async (t) => {
  const lot = createLotCredentials('lot-7');
  t.equal(lot.username, 'lot-7', 'the username is the lot id');
  t.match(lot.password, /^[A-Za-z0-9_-]{32}$/, '24 random bytes, base64url');
  t.not(createLotCredentials('lot-7').password, lot.password);
  t.equal(createCloudCredentials().username, 'cloud');
  t.throws(() => createLotCredentials('cloud'), RangeError);
  t.throws(() => createLotCredentials('a/b'), RangeError);
  t.throws(() => generatePassword(8), RangeError);
  t.equal(
    generatePassword(16, (n) => Buffer.alloc(n, 0xff)),
    '_____________________w',
  );
});

t.test('hashes: argon2id and Mosquitto $7$', async (t) => {
  const store = await MemoryCredentialStore.fromCredentials([{ username: 'lot-1', password: 'right' }]);
  t.match(store.entries()[0]![1], /^\$argon2id\$/);
  t.ok(await store.verify('lot-1', 'right'));
  t.ok(await store.verify('lot-1', Buffer.from('right')), 'the broker hands over a Buffer');
  t.notOk(await store.verify('lot-1', 'wrong'));
  t.notOk(await store.verify('lot-2', 'right'), 'unknown account');
  const mosq = await mosquittoPasswordHash('pw', Buffer.alloc(12, 3));
  t.match(mosq, /^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/=]{88}$/);
  t.ok(await verifyPasswordHash(mosq, 'pw'));
  t.notOk(await verifyPasswordHash(mosq, 'px'));
  for (const bad of ['', 'plain', '$6$x$y', '$7$101$$', '$argon2id$garbage'])
    t.notOk(await verifyPasswordHash(bad, 'pw'));
  t.throws(() => store.setHash('a/b', mosq), RangeError);
});

t.test('hash store file round trip', async (t) => {
  const store = await MemoryCredentialStore.fromCredentials([
    { username: 'cloud', password: 'c' },
    { username: 'lot-1', password: 'l1' },
  ]);
  const path = join(dir, 'data', 'broker-passwd');
  await saveCredentialStore(store, path);
  t.equal(statSync(path).mode & 0o777, 0o600, 'owner only');
  const loaded = await loadCredentialStore(path);
  t.same(loaded.usernames(), ['cloud', 'lot-1']);
  t.ok(await loaded.verify('lot-1', 'l1'));
  t.notOk(await loaded.verify('cloud', 'l1'));
});

t.test('password file parsing refuses bad lines', async (t) => {
  t.same([...parsePasswordFile('# c\n\nlot-1:$7$x\r\ncloud:h\n').keys()], ['lot-1', 'cloud']);
  t.throws(() => parsePasswordFile('lot-1\n'), SyntaxError);
  t.throws(() => parsePasswordFile('a/b:h\n'), SyntaxError);
  t.throws(() => parsePasswordFile('lot-1:\n'), SyntaxError);
  t.throws(() => parsePasswordFile('lot-1:a\nlot-1:b\n'), SyntaxError);
  t.throws(() => formatPasswordFile([['lot-1', 'a\nb']]), RangeError);
});

t.test('Mosquitto password file without mosquitto_passwd', async (t) => {
  const path = join(dir, 'mosq-builtin');
  await writeMosquittoPasswordFile(path, [{ username: 'lot-1', password: 'one' }], { mosquittoPasswd: null });
  await writeMosquittoPasswordFile(path, [{ username: 'lot-2', password: 'two' }], {
    mosquittoPasswd: null,
    append: true,
  });
  const entries = parsePasswordFile(readFileSync(path, 'utf8'));
  t.same([...entries.keys()], ['lot-1', 'lot-2']);
  t.ok(await verifyPasswordHash(entries.get('lot-2')!, 'two'));
  await t.rejects(
    writeMosquittoPasswordFile(path, [{ username: 'lot-1', password: 'a\nb' }], { mosquittoPasswd: null }),
  );
});

const tool = findMosquittoPasswd();
t.test(
  'Mosquitto password file with mosquitto_passwd',
  { skip: tool ? false : 'mosquitto_passwd not installed' },
  async (t) => {
    const path = join(dir, 'mosq-tool');
    await writeMosquittoPasswordFile(path, [
      { username: 'cloud', password: 'c' },
      { username: 'lot-1', password: 'one' },
    ]);
    await writeMosquittoPasswordFile(path, [{ username: 'lot-1', password: 'uno' }], { append: true });
    const entries = parsePasswordFile(readFileSync(path, 'utf8'));
    t.same([...entries.keys()].sort(), ['cloud', 'lot-1']);
    t.ok(
      await verifyPasswordHash(entries.get('lot-1')!, 'uno'),
      'our $7$ verifier reads what mosquitto_passwd wrote',
    );
    // ...and mosquitto_passwd accepts a file we wrote (it rewrites every line it can parse).
    const ours = join(dir, 'mosq-ours');
    writeFileSync(ours, `lot-9:${await mosquittoPasswordHash('nine')}\n`);
    execFileSync(tool!, ['-b', ours, 'lot-8', 'eight']);
    const both = parsePasswordFile(readFileSync(ours, 'utf8'));
    t.ok(await verifyPasswordHash(both.get('lot-9')!, 'nine'));
    t.ok(await verifyPasswordHash(both.get('lot-8')!, 'eight'));
  },
);
