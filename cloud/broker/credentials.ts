import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { CLOUD_USERNAME, accountFromUsername, lotUsername } from '../../protocol/acl.js';

/**
 * Broker accounts: generating them, hashing their passwords, and the two files they live in —
 * the Mosquitto password file (deploy/, production) and the embedded broker's hash store (the
 * same `username:hash` line format, argon2id hashes, in the data directory).
 */

const pbkdf2Async = promisify(pbkdf2);
const execFileAsync = promisify(execFile);

export interface BrokerCredentials {
  username: string;
  password: string;
}

/** What the embedded broker needs to authenticate a client. */
export interface CredentialStore {
  verify(username: string, password: string | Uint8Array): Promise<boolean>;
  has(username: string): boolean;
}

/** A random password: base64url, so it is safe on a command line and in `user:hash` files. */
export function generatePassword(bytes = 24, random: (n: number) => Buffer = randomBytes): string {
  if (!Number.isInteger(bytes) || bytes < 16)
    throw new RangeError('a broker password needs at least 16 random bytes');
  return random(bytes).toString('base64url');
}

/** A new account for a lot; the username is the lot id (see protocol/acl.ts). */
export function createLotCredentials(lotId: string, random?: (n: number) => Buffer): BrokerCredentials {
  return { username: lotUsername(lotId), password: generatePassword(24, random) };
}

/** A new account for the cloud service (shared by every cloud instance). */
export function createCloudCredentials(random?: (n: number) => Buffer): BrokerCredentials {
  return { username: CLOUD_USERNAME, password: generatePassword(24, random) };
}

// ---------------------------------------------------------------------------------------------
// Hashes

/** argon2id with the library's defaults (19 MiB, t=2): the embedded broker's own format. */
export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password);
}

const MOSQ_PBKDF2_ITERATIONS = 101;

/**
 * Mosquitto 2's default hash (`mosquitto_passwd -H sha512-pbkdf2`): `$7$<iterations>$<salt>$<hash>`,
 * PBKDF2-HMAC-SHA512 with a 12-byte salt and a 64-byte key. Used when `mosquitto_passwd` is absent.
 */
export async function mosquittoPasswordHash(
  password: string,
  salt: Buffer = randomBytes(12),
): Promise<string> {
  const key = await pbkdf2Async(password, salt, MOSQ_PBKDF2_ITERATIONS, 64, 'sha512');
  return `$7$${MOSQ_PBKDF2_ITERATIONS}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Verifies an argon2 hash or a Mosquitto `$7$` hash; anything else (or a malformed hash) is false. */
export async function verifyPasswordHash(hash: string, password: string | Uint8Array): Promise<boolean> {
  try {
    if (hash.startsWith('$argon2')) return await argon2Verify(hash, password);
    const m = /^\$7\$(\d{1,7})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash);
    if (m) {
      const expected = Buffer.from(m[3]!, 'base64');
      if (expected.length === 0) return false;
      const key = await pbkdf2Async(
        Buffer.from(password),
        Buffer.from(m[2]!, 'base64'),
        Number(m[1]),
        expected.length,
        'sha512',
      );
      return timingSafeEqual(key, expected);
    }
    return false;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The in-memory store the embedded broker authenticates against

export class MemoryCredentialStore implements CredentialStore {
  readonly #hashes = new Map<string, string>();
  /** Verified for unknown users too, so a refusal takes as long for them as for a wrong password. */
  #decoy: Promise<string> | null = null;

  static async fromCredentials(accounts: Iterable<BrokerCredentials>): Promise<MemoryCredentialStore> {
    const store = new MemoryCredentialStore();
    await Promise.all([...accounts].map((a) => store.set(a.username, a.password)));
    return store;
  }

  async set(username: string, password: string): Promise<void> {
    this.setHash(username, await hashPassword(password));
  }

  /** Stores an already computed hash (argon2 or Mosquitto `$7$`). */
  setHash(username: string, hash: string): void {
    if (!accountFromUsername(username))
      throw new RangeError(`not a broker account name: ${JSON.stringify(username)}`);
    this.#hashes.set(username, hash);
  }

  delete(username: string): boolean {
    return this.#hashes.delete(username);
  }

  has(username: string): boolean {
    return this.#hashes.has(username);
  }

  usernames(): string[] {
    return [...this.#hashes.keys()].sort();
  }

  entries(): Array<[string, string]> {
    return [...this.#hashes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async verify(username: string, password: string | Uint8Array): Promise<boolean> {
    const hash = this.#hashes.get(username);
    if (hash === undefined) {
      this.#decoy ??= hashPassword(randomBytes(16).toString('hex'));
      await verifyPasswordHash(await this.#decoy, password);
      return false;
    }
    return verifyPasswordHash(hash, password);
  }
}

// ---------------------------------------------------------------------------------------------
// `username:hash` files

/** Parses a Mosquitto-style password file. Blank lines and `#` comments are skipped; bad lines throw. */
export function parsePasswordFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const username = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (colon <= 0 || hash === '' || !accountFromUsername(username))
      throw new SyntaxError(`password file line ${i + 1}: expected <account>:<hash>`);
    if (out.has(username)) throw new SyntaxError(`password file line ${i + 1}: ${username} appears twice`);
    out.set(username, hash);
  });
  return out;
}

export function formatPasswordFile(entries: Iterable<[string, string]>): string {
  let text = '';
  for (const [username, hash] of entries) {
    if (!accountFromUsername(username) || /[:\r\n]/.test(hash))
      throw new RangeError(`bad entry for ${username}`);
    text += `${username}:${hash}\n`;
  }
  return text;
}

/** Loads the embedded broker's hash store (or a Mosquitto password file: `$7$` hashes verify too). */
export async function loadCredentialStore(path: string): Promise<MemoryCredentialStore> {
  const store = new MemoryCredentialStore();
  for (const [username, hash] of parsePasswordFile(await readFile(path, 'utf8')))
    store.setHash(username, hash);
  return store;
}

/** Writes the hash store atomically, readable by the owner only. */
export async function saveCredentialStore(store: MemoryCredentialStore, path: string): Promise<void> {
  await writePrivateFile(path, formatPasswordFile(store.entries()));
}

// ---------------------------------------------------------------------------------------------
// The Mosquitto password file

/** `mosquitto_passwd` from MOSQUITTO_PASSWD_BIN, PATH, /usr/bin or /usr/sbin; null when absent. */
export function findMosquittoPasswd(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.MOSQUITTO_PASSWD_BIN) return existsSync(env.MOSQUITTO_PASSWD_BIN) ? env.MOSQUITTO_PASSWD_BIN : null;
  const dirs = [
    ...(env.PATH ?? '').split(delimiter).filter(Boolean),
    '/usr/bin',
    '/usr/sbin',
    '/usr/local/bin',
  ];
  for (const dir of dirs) {
    const candidate = join(dir, 'mosquitto_passwd');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

export interface MosquittoPasswordFileOptions {
  /** Path of `mosquitto_passwd`; `null` forces the built-in `$7$` hashing. Default: looked up. */
  mosquittoPasswd?: string | null;
  /** Keep the accounts already in the file (default: start a new file). */
  append?: boolean;
}

/**
 * Writes accounts into a Mosquitto 2 password file with `mosquitto_passwd -b` when it is
 * installed, else with the same PBKDF2-SHA512 hash computed here.
 */
export async function writeMosquittoPasswordFile(
  path: string,
  accounts: readonly BrokerCredentials[],
  options: MosquittoPasswordFileOptions = {},
): Promise<void> {
  for (const a of accounts)
    if (!accountFromUsername(a.username) || /[\r\n]/.test(a.password) || a.password === '')
      throw new RangeError(`bad broker account ${JSON.stringify(a.username)}`);
  const tool = options.mosquittoPasswd === undefined ? findMosquittoPasswd() : options.mosquittoPasswd;
  const existing =
    options.append && existsSync(path) ? parsePasswordFile(await readFile(path, 'utf8')) : new Map();
  if (!tool) {
    for (const a of accounts) existing.set(a.username, await mosquittoPasswordHash(a.password));
    await writePrivateFile(path, formatPasswordFile(existing));
    return;
  }
  await mkdir(dirname(path), { recursive: true });
  if (existing.size === 0) await writePrivateFile(path, '');
  for (const a of accounts)
    await execFileAsync(tool, ['-b', path, a.username, a.password], { timeout: 10_000 });
  await chmod(path, 0o600);
}

async function writePrivateFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}
