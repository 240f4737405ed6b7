import { hash, verify } from '@node-rs/argon2';
import type { Logger } from '../../protocol/logger.js';
import type { AttendantStore } from '../store/attendant-store.js';

/** Local attendant accounts: argon2id hashes in SQLite, so logging in works with the internet down. */

type AccountStore = Pick<AttendantStore, 'attendant' | 'upsertAttendant'>;

export interface SeedAccount {
  username: string;
  displayName?: string;
  password?: string;
  passwordHash?: string;
}

/** argon2id with the library defaults (19 MiB, t=2): ~tens of ms per login on a Pi-class box. */
export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

/**
 * Make the configured accounts exist. A plain password is hashed unless the stored hash already
 * matches it (so a restart does not rehash); a configured hash is stored as is.
 */
export async function seedAccounts(
  store: AccountStore,
  accounts: readonly SeedAccount[],
  logger: Logger,
): Promise<void> {
  for (const a of accounts) {
    const displayName = a.displayName ?? a.username;
    const existing = store.attendant(a.username);
    let passwordHash = a.passwordHash;
    if (passwordHash === undefined && a.password !== undefined) {
      const unchanged =
        existing !== undefined && (await verifyLogged(existing.passwordHash, a.password, logger, a.username));
      passwordHash = unchanged ? existing.passwordHash : await hashPassword(a.password);
    }
    if (passwordHash === undefined) continue;
    if (existing?.passwordHash === passwordHash && existing.displayName === displayName) continue;
    store.upsertAttendant({ username: a.username, displayName, passwordHash });
    logger.info(
      { username: a.username },
      existing ? 'attendant account updated' : 'attendant account created',
    );
  }
}

/** The account when the password is right; null otherwise (unknown user, disabled, wrong password). */
export async function checkLogin(l: {
  store: AccountStore;
  username: string;
  password: string;
  logger: Logger;
}): Promise<{ username: string; displayName: string } | null> {
  const account = l.store.attendant(l.username);
  if (!account || account.disabled) {
    // Spend comparable time so a probe cannot tell unknown users from wrong passwords.
    await verify(DUMMY_HASH, l.password).catch(() => false);
    return null;
  }
  const ok = await verifyLogged(account.passwordHash, l.password, l.logger, account.username);
  return ok ? { username: account.username, displayName: account.displayName } : null;
}

/** A stored hash argon2 cannot read counts as a wrong password, but is logged: it needs fixing. */
async function verifyLogged(hash: string, password: string, logger: Logger, username: string) {
  try {
    return await verify(hash, password);
  } catch (e) {
    logger.error({ err: e, username }, 'stored password hash is unreadable');
    return false;
  }
}

// argon2id hash of a random throwaway string, for constant-ish time on unknown users.
const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$/bYm6TnabL0lWlisoULFCA$egzvYV7LG5l2QfNnI3Q8SsM5UADEymrDKYFVVox9VbE';
