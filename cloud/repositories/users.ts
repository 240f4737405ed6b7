import { createHash } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import type { Clock } from '../../protocol/clock.js';
import type { Role } from '../../protocol/domain.js';
import type { UserView } from '../../protocol/http.js';
import type { Random } from '../../protocol/random.js';
import { err, ok, type Result } from '../../protocol/result.js';
import { toIso } from '../../protocol/slots.js';
import { type Database, pgCode } from '../db/database.js';
import { type Refusal, refuse } from '../errors.js';
import { newId, newSecretToken } from '../ids.js';
import { definePlugin } from '../plugin.js';

/** Users, password hashes (argon2id) and refresh-token families with rotation. */

export interface UserRecord {
  id: string;
  email: string;
  role: Role;
}

export interface UserRepository {
  create(input: {
    email: string;
    password: string;
    role: Role;
    lotIds?: string[];
  }): Promise<Result<UserView, Refusal>>;
  /** The user when email and password match, else null (same work either way). */
  authenticate(email: string, password: string): Promise<UserRecord | null>;
  byId(id: string): Promise<UserView | null>;
  /** Create the admin from configuration unless a user with that email exists. */
  ensureAdmin(email: string, password: string): Promise<'created' | 'exists'>;
  issueRefreshToken(userId: string, familyId?: string): Promise<string>;
  /**
   * Spend a refresh token and get the next one of its family. A token spent twice revokes the
   * family: whoever holds the newer one must log in again.
   */
  rotateRefreshToken(token: string): Promise<Result<{ user: UserRecord; refreshToken: string }, Refusal>>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface UserRepositoryDeps {
  db: Database;
  clock: Clock;
  random: Random;
  refreshTokenTtlDays: number;
}

export function createUserRepository(deps: UserRepositoryDeps): UserRepository {
  // Verifying against this when the email is unknown keeps response times alike.
  const dummyHash = lazy(() => hash('not-a-real-password'));
  return {
    create: (input) => createUser(deps, input),
    authenticate: (email, password) => authenticate(deps.db, dummyHash, { email, password }),
    byId: (id) => userById(deps.db, id),
    ensureAdmin: (email, password) => ensureAdmin(deps, { email, password }),
    issueRefreshToken: (userId, familyId) => issueRefreshToken(deps, userId, familyId),
    rotateRefreshToken: (token) => rotateRefreshToken(deps, token),
  };
}

/** The value of `make()`, computed on first use only. */
function lazy<T>(make: () => T): () => T {
  let value: { v: T } | null = null;
  return () => {
    value ??= { v: make() };
    return value.v;
  };
}

async function userById(db: Database, id: string): Promise<UserView | null> {
  const rows = await db.rows<{ id: string; email: string; role: Role; lot_ids: string[] }>(
    `select u.id, u.email, u.role,
         coalesce(array(select lot_id from lot_staff s where s.user_id = u.id order by lot_id), '{}') as lot_ids
       from users u where u.id = $1`,
    [id],
  );
  const r = rows[0];
  return r ? { id: r.id, email: r.email, role: r.role, lotIds: r.lot_ids } : null;
}

type NewUser = Parameters<UserRepository['create']>[0];

/** The user and their lot staffing in one transaction; a taken email or unknown lot is a refusal. */
async function createUser(
  deps: UserRepositoryDeps,
  { email, password, role, lotIds = [] }: NewUser,
): Promise<Result<UserView, Refusal>> {
  const { db, clock } = deps;
  const id = newId(deps.random);
  const passwordHash = await hash(password);
  try {
    await db.tx(async (q) => {
      await q.query(
        'insert into users (id, email, password_hash, role, created_at) values ($1, $2, $3, $4, $5)',
        [id, email.toLowerCase(), passwordHash, role, toIso(clock.now())],
      );
      for (const lotId of lotIds) {
        await q.query('insert into lot_staff (lot_id, user_id) values ($1, $2) on conflict do nothing', [
          lotId,
          id,
        ]);
      }
    });
  } catch (e) {
    if (pgCode(e) === '23505')
      return refuse(409, 'email_taken', 'a user with this email exists', { field: 'email' });
    if (pgCode(e) === '23503')
      return refuse(404, 'lot_not_found', 'one of lotIds is not a lot', { field: 'lotIds' });
    throw e;
  }
  const user = await userById(db, id);
  if (user === null) throw new Error('user vanished after creation');
  return ok(user);
}

async function authenticate(
  db: Database,
  dummyHash: () => Promise<string>,
  { email, password }: { email: string; password: string },
): Promise<UserRecord | null> {
  const rows = await db.rows<{ id: string; email: string; role: Role; password_hash: string }>(
    'select id, email, role, password_hash from users where email = $1',
    [email.toLowerCase()],
  );
  const row = rows[0];
  if (row === undefined) {
    await verify(await dummyHash(), password).catch(() => false);
    return null;
  }
  // A hash argon2 cannot read is a failed login, not a server error.
  const good = await verify(row.password_hash, password).catch(() => false);
  return good ? { id: row.id, email: row.email, role: row.role } : null;
}

async function ensureAdmin(
  deps: UserRepositoryDeps,
  { email, password }: { email: string; password: string },
): Promise<'created' | 'exists'> {
  const existing = await deps.db.rows('select 1 from users where email = $1', [email.toLowerCase()]);
  if (existing.length > 0) return 'exists';
  const r = await createUser(deps, { email, password, role: 'admin' });
  // Another instance may have created it at the same moment.
  return r.ok ? 'created' : 'exists';
}

async function issueRefreshToken(
  deps: UserRepositoryDeps,
  userId: string,
  familyId?: string,
): Promise<string> {
  const token = newSecretToken(deps.random);
  const now = deps.clock.now();
  await deps.db.rows(
    `insert into refresh_tokens (token_hash, family_id, user_id, expires_at, created_at) values ($1, $2, $3, $4, $5)`,
    [
      sha256(token),
      familyId ?? newId(deps.random),
      userId,
      toIso(now + deps.refreshTokenTtlDays * 86_400_000),
      toIso(now),
    ],
  );
  return token;
}

async function rotateRefreshToken(
  deps: UserRepositoryDeps,
  token: string,
): Promise<Result<{ user: UserRecord; refreshToken: string }, Refusal>> {
  const { db, clock } = deps;
  const now = clock.now();
  const tokenHash = sha256(token);
  const spent = await db.rows<{ user_id: string; family_id: string }>(
    `update refresh_tokens set used_at = $2
         where token_hash = $1 and used_at is null and revoked_at is null and expires_at > $2
         returning user_id, family_id`,
    [tokenHash, toIso(now)],
  );
  const row = spent[0];
  if (row === undefined) return refuseSpentToken(db, tokenHash, now);
  const users = await db.rows<UserRecord>('select id, email, role from users where id = $1', [row.user_id]);
  const user = users[0];
  if (user === undefined)
    return err({ status: 401, error: 'invalid_refresh_token', message: 'user is gone' });
  return ok({ user, refreshToken: await issueRefreshToken(deps, user.id, row.family_id) });
}

/** A token that cannot be spent: if it was spent before, someone replays it, so revoke its family. */
async function refuseSpentToken(
  db: Database,
  tokenHash: string,
  now: number,
): Promise<{ ok: false; error: Refusal }> {
  const known = await db.rows<{ family_id: string; used_at: Date | null }>(
    'select family_id, used_at from refresh_tokens where token_hash = $1',
    [tokenHash],
  );
  if (known[0]?.used_at) {
    await db.rows('update refresh_tokens set revoked_at = $2 where family_id = $1 and revoked_at is null', [
      known[0].family_id,
      toIso(now),
    ]);
    return refuse(401, 'refresh_token_reused', 'refresh token was already used; the session is revoked');
  }
  return refuse(401, 'invalid_refresh_token', 'refresh token is not valid');
}

declare module 'fastify' {
  interface FastifyInstance {
    users: UserRepository;
  }
}

export const usersRepository = definePlugin(
  async (app) => {
    app.decorate(
      'users',
      createUserRepository({
        db: app.db,
        clock: app.clock,
        random: app.random,
        refreshTokenTtlDays: app.config.auth.refreshTokenTtlDays,
      }),
    );
  },
  { name: 'repo-users', dependencies: ['core', 'db'] },
);
