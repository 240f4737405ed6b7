import { randomBytes } from 'node:crypto';
import {
  generateSigningKey,
  type PublicKeyEntry,
  publicEntryOf,
  type SigningKey,
  signingKeyFromPem,
} from '../../protocol/credential.js';
import { toIso } from '../../protocol/slots.js';
import type { Database } from '../db/database.js';
import { definePlugin } from '../plugin.js';

/**
 * The credential signing key ring. Each key has a validity window (not_before, not_after) and a
 * revoked flag. The newest key whose window has begun signs new QR credentials; lots receive every
 * key that is not revoked and not past its not_after, with its window, and the edge honours the
 * window offline (protocol/credential.ts verifyCredential). Rotating closes the current key's window
 * `graceDays` ahead (QRs it signed stay valid until then) and opens a new key; revoking removes a key
 * from what lots receive at once (a lot that is offline learns it on reconnect).
 *
 * The configured key (SIGNING_KEY_ID/PEM or DATA_DIR/signing-key.json) is registered on start; it
 * signs until the first rotation. Each instance keeps the ring in memory and re-reads it every
 * `refreshMs` (and at once after its own rotate/revoke), so another instance's rotation is picked up
 * within that time — harmless, because the key it still signs with stays valid through its grace.
 */

export interface SigningKeyRecord extends PublicKeyEntry {
  notBefore: string;
  notAfter: string | null;
  revoked: boolean;
}

export interface SigningKeyRing {
  /** The signing key now: a live view (its fields always name the ring's current key). */
  readonly signer: SigningKey;
  /** Public keys lots should hold now: not revoked, window not over; newest first. */
  publicKeys(nowMs: number): PublicKeyEntry[];
  /** Every key, newest first (the admin view). */
  list(): SigningKeyRecord[];
  /** Grows by one with every rotation and revocation: part of the lots' config version. */
  generation(): number;
  rotate(
    nowMs: number,
    graceDays: number,
  ): Promise<{ current: SigningKeyRecord; retired: SigningKeyRecord | null }>;
  /** The revoked key; 'unknown' when there is none; revoking the current key is refused (rotate first). */
  revoke(kid: string, nowMs: number): Promise<SigningKeyRecord | 'unknown' | 'current'>;
  refresh(): Promise<void>;
}

interface Row {
  kid: string;
  private_pem: string;
  public_key: string;
  not_before: Date;
  not_after: Date | null;
  revoked_at: Date | null;
}

interface Loaded {
  record: SigningKeyRecord;
  key: SigningKey;
}

const COLS = 'kid, private_pem, public_key, not_before, not_after, revoked_at';

function toLoaded(row: Row): Loaded {
  return {
    key: signingKeyFromPem(row.kid, row.private_pem),
    record: {
      keyId: row.kid,
      publicKey: row.public_key,
      notBefore: row.not_before.toISOString(),
      notAfter: row.not_after?.toISOString() ?? null,
      revoked: row.revoked_at !== null,
    },
  };
}

const usable = (r: SigningKeyRecord, nowMs: number) =>
  !r.revoked && (r.notAfter === null || Date.parse(r.notAfter) > nowMs);

export async function createSigningKeyRing(deps: {
  db: Database;
  configured: { keyId: string; privatePem: string };
  nowMs: () => number;
  refreshMs: number;
}): Promise<SigningKeyRing> {
  const { db } = deps;
  const configured = signingKeyFromPem(deps.configured.keyId, deps.configured.privatePem);
  await db.pooled.query(
    `insert into signing_keys (kid, private_pem, public_key, not_before, created_at)
     values ($1, $2, $3, $4, $4) on conflict (kid) do nothing`,
    [configured.keyId, deps.configured.privatePem, publicEntryOf(configured).publicKey, toIso(deps.nowMs())],
  );
  let keys: Loaded[] = [];
  let loadedAt = 0;
  let refreshing: Promise<void> | null = null;

  async function refresh(): Promise<void> {
    const rows = await db.rows<Row>(`select ${COLS} from signing_keys order by n desc`);
    keys = rows.map(toLoaded);
    loadedAt = deps.nowMs();
  }
  await refresh();

  /** The ring as of now; a stale ring is re-read in the background (signing never waits for it). */
  function ring(): Loaded[] {
    if (deps.nowMs() - loadedAt >= deps.refreshMs && refreshing === null) {
      refreshing = refresh()
        .catch(() => undefined)
        .finally(() => {
          refreshing = null;
        });
    }
    return keys;
  }

  /** The newest key in its window; should every key be over or revoked, the newest not revoked. */
  function current(nowMs: number): SigningKey {
    const all = ring();
    const live = all.find((k) => usable(k.record, nowMs) && Date.parse(k.record.notBefore) <= nowMs);
    return (live ?? all.find((k) => !k.record.revoked))?.key ?? configured;
  }

  const signer: SigningKey = {
    get keyId() {
      return current(deps.nowMs()).keyId;
    },
    get privateKey() {
      return current(deps.nowMs()).privateKey;
    },
  };

  return {
    signer,
    publicKeys(nowMs) {
      return ring()
        .filter((k) => usable(k.record, nowMs))
        .slice(0, 16)
        .map(({ record }) => ({
          keyId: record.keyId,
          publicKey: record.publicKey,
          notBefore: record.notBefore,
          notAfter: record.notAfter,
        }));
    },
    list: () => ring().map((k) => ({ ...k.record })),
    generation: () => keys.length + keys.filter((k) => k.record.revoked).length,
    async rotate(nowMs, graceDays) {
      await refresh();
      const old = current(nowMs);
      // The key itself comes from the system's randomness; so may the suffix that keeps two
      // rotations in the same millisecond apart.
      const kid = `k${nowMs.toString(36)}${randomBytes(3).toString('hex')}`;
      const fresh = generateSigningKey(kid);
      const retireAt = toIso(nowMs + graceDays * 24 * 60 * 60_000);
      await db.tx(async (q) => {
        // every open or later-closing key closes at the end of the grace, no key's window grows
        await q.query(
          `update signing_keys set not_after = least(coalesce(not_after, $1::timestamptz), $1::timestamptz)
           where revoked_at is null and (not_after is null or not_after > $1::timestamptz)`,
          [retireAt],
        );
        await q.query(
          `insert into signing_keys (kid, private_pem, public_key, not_before, created_at) values ($1, $2, $3, $4, $4)`,
          [kid, fresh.privatePem, fresh.publicEntry.publicKey, toIso(nowMs)],
        );
      });
      await refresh();
      const find = (id: string) => keys.find((k) => k.key.keyId === id)?.record ?? null;
      return { current: find(kid)!, retired: find(old.keyId) };
    },
    async revoke(kid, nowMs) {
      await refresh();
      if (!keys.some((k) => k.key.keyId === kid)) return 'unknown';
      if (current(nowMs).keyId === kid) return 'current';
      await db.pooled.query('update signing_keys set revoked_at = coalesce(revoked_at, $2) where kid = $1', [
        kid,
        toIso(nowMs),
      ]);
      await refresh();
      return keys.find((k) => k.key.keyId === kid)!.record;
    },
    refresh,
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    signingKeys: SigningKeyRing;
  }
}

export const signingKeysRepository = definePlugin(
  async (app) => {
    app.decorate(
      'signingKeys',
      await createSigningKeyRing({
        db: app.db,
        configured: app.config.signing,
        nowMs: () => app.clock.now(),
        refreshMs: app.config.keys.refreshMs,
      }),
    );
  },
  { name: 'repo-signing-keys', dependencies: ['db', 'core'] },
);
