/**
 * Signed QR credentials (Ed25519, node:crypto). Text form:
 *
 *   PK1.<keyId>.<base64url(payload)>.<base64url(signature)>
 *
 * Only [A-Za-z0-9._-], so a US-layout HID keyboard scanner types it verbatim. The signature covers
 * the ASCII bytes of "PK1.<keyId>.<payload>" (version and key id included). Payload, binary:
 *
 *   start  u48 big-endian epoch ms
 *   end    u48 big-endian epoch ms
 *   rid    field    lot    field    plate  field (nullable)
 *   field: 0x00 = null | 0x01 len:u8 utf8[len] | 0x02 uuid:16 bytes (canonical lower-case UUIDs)
 *
 * With UUID ids and a typical plate the whole text is ~170 characters.
 *
 * A permit QR (docs/permits.md) has the same layout with the prefix `PP1`: rid is the permit id,
 * start/end its validity, plate its first plate. The prefix is signed, so a booking credential can
 * never pass for a permit, and an edge that predates permits refuses `PP1` codes as malformed.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { err, ok, type Result } from './result.js';

export interface CredentialClaims {
  rid: string;
  lot: string;
  plate: string | null;
  /** Epoch ms. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
  /** Present (and 'permit') only on a permit credential, `PP1`. */
  kind?: 'permit';
}

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
}

export interface PublicKeyEntry {
  keyId: string;
  /** base64url of the raw 32-byte Ed25519 public key. */
  publicKey: string;
  /** Validity window (ISO 8601): signatures count from notBefore until notAfter; absent = open. */
  notBefore?: string | null | undefined;
  notAfter?: string | null | undefined;
}

export type CredentialRefusal =
  | 'malformed'
  | 'unknown_key'
  | 'key_expired'
  | 'bad_signature'
  | 'wrong_lot'
  | 'too_early'
  | 'expired';

const PREFIX = 'PK1';
const PERMIT_PREFIX = 'PP1';
const KEY_ID_RE = /^[A-Za-z0-9_-]{1,32}$/;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_TEXT = 512; // refuse huge input before any work
const MAX_U48 = 2 ** 48 - 1;
const SIGNATURE_BYTES = 64;

const TAG_NULL = 0;
const TAG_UTF8 = 1;
const TAG_UUID = 2;

function assertKeyId(keyId: string): void {
  if (typeof keyId !== 'string' || !KEY_ID_RE.test(keyId)) {
    throw new RangeError(`keyId must match ${KEY_ID_RE}, got ${String(keyId)}`);
  }
}

function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 key');
  return jwk.x;
}

export function generateSigningKey(keyId: string): {
  signing: SigningKey;
  publicEntry: PublicKeyEntry;
  privatePem: string;
} {
  assertKeyId(keyId);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signing: { keyId, privateKey },
    publicEntry: { keyId, publicKey: rawPublicKey(publicKey) },
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export function signingKeyFromPem(keyId: string, pem: string): SigningKey {
  assertKeyId(keyId);
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`expected an Ed25519 private key, got ${privateKey.asymmetricKeyType}`);
  }
  return { keyId, privateKey };
}

/** The public half of a signing key, as the edge stores it. */
export function publicEntryOf(key: SigningKey): PublicKeyEntry {
  return { keyId: key.keyId, publicKey: rawPublicKey(createPublicKey(key.privateKey)) };
}

// ---- payload codec ----

function fieldBytes(name: string, value: string | null): Buffer {
  if (value === null) return Buffer.of(TAG_NULL);
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  if (UUID_RE.test(value))
    return Buffer.concat([Buffer.of(TAG_UUID), Buffer.from(value.replaceAll('-', ''), 'hex')]);
  const utf8 = Buffer.from(value, 'utf8');
  if (utf8.length > 255) throw new RangeError(`${name} is longer than 255 bytes`);
  return Buffer.concat([Buffer.of(TAG_UTF8, utf8.length), utf8]);
}

function encodePayload(c: CredentialClaims): Buffer {
  for (const [name, v] of [
    ['start', c.start],
    ['end', c.end],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v > MAX_U48)
      throw new RangeError(`${name} must be epoch ms in 0..2^48`);
  }
  if (c.end <= c.start) throw new RangeError('end must be after start');
  if (typeof c.rid !== 'string' || c.rid === '') throw new TypeError('rid must be a non-empty string');
  if (typeof c.lot !== 'string' || c.lot === '') throw new TypeError('lot must be a non-empty string');
  const times = Buffer.alloc(12);
  times.writeUIntBE(c.start, 0, 6);
  times.writeUIntBE(c.end, 6, 6);
  return Buffer.concat([
    times,
    fieldBytes('rid', c.rid),
    fieldBytes('lot', c.lot),
    fieldBytes('plate', c.plate),
  ]);
}

/** Returns [value, nextOffset] or null when the bytes are not a well-formed field. */
function readField(buf: Buffer, at: number): [string | null, number] | null {
  if (at >= buf.length) return null;
  const tag = buf[at]!;
  if (tag === TAG_NULL) return [null, at + 1];
  if (tag === TAG_UUID) {
    if (at + 17 > buf.length) return null;
    const h = buf.toString('hex', at + 1, at + 17);
    return [
      `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
      at + 17,
    ];
  }
  if (tag === TAG_UTF8) {
    if (at + 2 > buf.length) return null;
    const len = buf[at + 1]!;
    const end = at + 2 + len;
    if (end > buf.length) return null;
    const bytes = buf.subarray(at + 2, end);
    const s = bytes.toString('utf8');
    // Round-trip check rejects invalid UTF-8 (which toString would silently replace).
    if (!Buffer.from(s, 'utf8').equals(bytes)) return null;
    return [s, end];
  }
  return null;
}

function decodePayload(buf: Buffer): CredentialClaims | null {
  if (buf.length < 12 + 3) return null;
  const start = buf.readUIntBE(0, 6);
  const end = buf.readUIntBE(6, 6);
  const rid = readField(buf, 12);
  if (rid === null || rid[0] === null || rid[0] === '') return null;
  const lot = readField(buf, rid[1]);
  if (lot === null || lot[0] === null || lot[0] === '') return null;
  const plate = readField(buf, lot[1]);
  if (plate === null || plate[1] !== buf.length) return null; // trailing bytes: malformed
  return { rid: rid[0], lot: lot[0], plate: plate[0], start, end };
}

/** Strict base64url: no padding, canonical trailing bits, so every credential has one spelling. */
function fromBase64url(s: string): Buffer | null {
  if (!B64URL_RE.test(s)) return null;
  const buf = Buffer.from(s, 'base64url');
  return buf.toString('base64url') === s ? buf : null;
}

// ---- sign / decode / verify ----

export function signCredential(claims: CredentialClaims, key: SigningKey): string {
  assertKeyId(key.keyId);
  const prefix = claims.kind === 'permit' ? PERMIT_PREFIX : PREFIX;
  const head = `${prefix}.${key.keyId}.${encodePayload(claims).toString('base64url')}`;
  const sig = sign(null, Buffer.from(head, 'ascii'), key.privateKey);
  return `${head}.${sig.toString('base64url')}`;
}

interface Decoded {
  keyId: string;
  claims: CredentialClaims;
  signed: Buffer;
  signature: Buffer;
}

function decodeParts(text: unknown): Decoded | null {
  if (typeof text !== 'string' || text.length > MAX_TEXT) return null;
  // Scanners often append CR/LF; surrounding whitespace is never part of a credential.
  const t = text.trim();
  const parts = t.split('.');
  if (parts.length !== 4 || (parts[0] !== PREFIX && parts[0] !== PERMIT_PREFIX)) return null;
  const [prefix, keyId, payload, sig] = parts as [string, string, string, string];
  if (!KEY_ID_RE.test(keyId)) return null;
  const payloadBytes = fromBase64url(payload);
  const signature = fromBase64url(sig);
  if (payloadBytes === null || signature === null || signature.length !== SIGNATURE_BYTES) return null;
  const decoded = decodePayload(payloadBytes);
  if (decoded === null) return null;
  const claims: CredentialClaims = prefix === PERMIT_PREFIX ? { ...decoded, kind: 'permit' } : decoded;
  return { keyId, claims, signed: Buffer.from(`${prefix}.${keyId}.${payload}`, 'ascii'), signature };
}

/** Parse without verifying (e.g. to show what a scanned code claims). Never throws. */
export function decodeCredential(
  text: string,
): Result<{ keyId: string; claims: CredentialClaims }, 'malformed'> {
  const d = decodeParts(text);
  return d === null ? err('malformed') : ok({ keyId: d.keyId, claims: d.claims });
}

/**
 * Imported KeyObjects, memoised per entry object. The one piece of module-level state here: a
 * weak, invisible memo of a pure function (it dies with the entries and re-imports if an entry's
 * key string changes), kept because importing costs more than verifying on the gate's hot path.
 */
const importedKeys = new WeakMap<PublicKeyEntry, { publicKey: string; key: KeyObject | null }>();

/** The KeyObject for an entry, or null when the entry does not hold a valid Ed25519 public key. */
export function importPublicKey(entry: PublicKeyEntry): KeyObject | null {
  const cached = importedKeys.get(entry);
  if (cached !== undefined && cached.publicKey === entry.publicKey) return cached.key;
  let key: KeyObject | null = null;
  const raw = typeof entry.publicKey === 'string' ? fromBase64url(entry.publicKey) : null;
  if (raw !== null && raw.length === 32) {
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: entry.publicKey }, format: 'jwk' });
    } catch {
      key = null;
    }
  }
  importedKeys.set(entry, { publicKey: entry.publicKey, key });
  return key;
}

type Refused = { reason: CredentialRefusal; message: string };

/** Whether `nowMs` lies in the key's window [notBefore, notAfter); an unparsable bound fails closed. */
export function keyInWindow(entry: PublicKeyEntry, nowMs: number): boolean {
  if (entry.notBefore != null) {
    const from = Date.parse(entry.notBefore);
    if (!(from <= nowMs)) return false;
  }
  if (entry.notAfter != null) {
    const until = Date.parse(entry.notAfter);
    if (!(nowMs < until)) return false;
  }
  return true;
}

/**
 * Full gate check: well-formed, signed by a known key inside its validity window (else
 * `key_expired`), for this lot, and now within [start - early-arrival allowance, end). The signature is checked before any claim is trusted.
 * Revocations (cancelled reservations) are the caller's job: it knows which rids are revoked.
 */
export function verifyCredential(
  text: string,
  keys: ReadonlyArray<PublicKeyEntry>,
  expect: { lotId: string; nowMs: number; earlyArrivalMinutes: number },
): Result<CredentialClaims, Refused> {
  const d = decodeParts(text);
  if (d === null) return err({ reason: 'malformed', message: 'not a parking credential' });
  let known = false;
  let outOfWindow = false;
  let valid = false;
  for (const entry of keys) {
    if (entry.keyId !== d.keyId) continue;
    const key = importPublicKey(entry);
    if (key === null) continue;
    if (!keyInWindow(entry, expect.nowMs)) {
      outOfWindow = true;
      continue;
    }
    known = true;
    try {
      valid = verify(null, d.signed, key, d.signature);
    } catch {
      valid = false;
    }
    if (valid) break;
  }
  if (!known && outOfWindow)
    return err({ reason: 'key_expired', message: `signing key ${d.keyId} is not valid at this time` });
  if (!known) return err({ reason: 'unknown_key', message: `signing key ${d.keyId} is not known here` });
  if (!valid) return err({ reason: 'bad_signature', message: 'credential signature is not valid' });
  const c = d.claims;
  if (c.lot !== expect.lotId)
    return err({ reason: 'wrong_lot', message: 'credential is for another car park' });
  const opensAt = c.start - expect.earlyArrivalMinutes * 60_000;
  if (expect.nowMs < opensAt) {
    return err({
      reason: 'too_early',
      message: `credential is valid from ${new Date(opensAt).toISOString()}`,
    });
  }
  if (expect.nowMs >= c.end) {
    return err({ reason: 'expired', message: `credential expired at ${new Date(c.end).toISOString()}` });
  }
  return ok(c);
}
