/**
 * Merchant validations (docs/pricing.md#validations): a shop or cinema gives a parker a signed code
 * that lowers the exit fee — free minutes, a percent off, or a flat price. Text form, QR-friendly
 * (only [A-Za-z0-9._-], typed verbatim by a HID scanner):
 *
 *   PV1.<keyId>.<base64url(JSON claims)>.<base64url(Ed25519 signature of "PV1.<keyId>.<payload>")>
 *
 * Signed with the cloud's credential key ring (the keys every edge already holds for booking QRs),
 * so an edge verifies a validation offline. Single use is the edge's job (it records each use at
 * once); the cloud reconciles the uses it receives.
 */
import { sign, verify } from 'node:crypto';
import { z } from 'zod';
import { importPublicKey, keyInWindow, type PublicKeyEntry, type SigningKey } from './credential.js';
import { MoneySchema } from './domain.js';
import { formatMoney, type Money, money } from './money.js';
import { priceStay, type Stay, type StayPrice } from './pricing.js';
import type { RatePlan } from './rate-plan.js';
import { err, ok, type Result } from './result.js';

export const ValidationKind = z.enum(['minutes', 'percent', 'flat']);
export type ValidationKind = z.infer<typeof ValidationKind>;

export const ValidationClaimsSchema = z.object({
  /** The validation's id (unique; what single use is about). */
  id: z.string().min(1).max(64),
  lot: z.string().min(1).max(64),
  /** The issuing merchant (the validator's user id). */
  merchant: z.string().min(1).max(64),
  kind: ValidationKind,
  /** Minutes free, percent off (1–100), or the flat price in minor units. */
  value: z.number().int().nonnegative().max(10_000_000),
  /** Epoch ms after which the code is refused. */
  exp: z.number().int().positive(),
});
export type ValidationClaims = z.infer<typeof ValidationClaimsSchema>;

/** A validation used on a stay, as the exit event reports it (the cloud reconciles these). */
export const ValidationUseSchema = z.object({
  id: z.string().min(1).max(64),
  merchant: z.string().min(1).max(64),
  /** What the validation took off the exit fee. */
  discount: MoneySchema,
});
export type ValidationUse = z.infer<typeof ValidationUseSchema>;

export type ValidationRefusal = 'malformed' | 'unknown_key' | 'bad_signature' | 'expired' | 'wrong_lot';

const PREFIX = 'PV1';
const TEXT_RE = /^PV1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{1,1000})\.([A-Za-z0-9_-]{86})$/;

/** Whether a scanned text is a validation code (and not a booking credential). */
export function isValidationCode(text: string): boolean {
  return text.startsWith(`${PREFIX}.`);
}

export function signValidation(claims: ValidationClaims, key: SigningKey): string {
  const payload = Buffer.from(JSON.stringify(ValidationClaimsSchema.parse(claims)), 'utf8').toString(
    'base64url',
  );
  const signed = `${PREFIX}.${key.keyId}.${payload}`;
  return `${signed}.${sign(null, Buffer.from(signed, 'ascii'), key.privateKey).toString('base64url')}`;
}

/** Well-formed, signed by a known key in its window, for this lot, not expired. Use is checked by the caller. */
export function verifyValidation(
  text: string,
  keys: ReadonlyArray<PublicKeyEntry>,
  expect: { lotId: string; nowMs: number },
): Result<ValidationClaims, ValidationRefusal> {
  const m = TEXT_RE.exec(text.trim());
  if (m === null) return err('malformed');
  const [, keyId, payload, signature] = m as unknown as [string, string, string, string];
  let known = false;
  let valid = false;
  for (const entry of keys) {
    if (entry.keyId !== keyId || !keyInWindow(entry, expect.nowMs)) continue;
    const key = importPublicKey(entry);
    if (key === null) continue;
    known = true;
    try {
      const sig = Buffer.from(signature, 'base64url');
      // Only the canonical spelling counts: no second text for one signature (padding bits).
      valid =
        sig.toString('base64url') === signature &&
        verify(null, Buffer.from(`${PREFIX}.${keyId}.${payload}`, 'ascii'), key, sig);
    } catch {
      valid = false;
    }
    if (valid) break;
  }
  if (!known) return err('unknown_key');
  if (!valid) return err('bad_signature');
  let claims: ValidationClaims;
  try {
    const parsed = ValidationClaimsSchema.safeParse(
      JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
    );
    if (!parsed.success) return err('malformed');
    claims = parsed.data;
  } catch {
    return err('malformed');
  }
  if (claims.lot !== expect.lotId) return err('wrong_lot');
  if (expect.nowMs >= claims.exp) return err('expired');
  return ok(claims);
}

/**
 * A stay's price with a validation applied (pure): free minutes shorten the charged stay (the plan
 * prices what is left), percent takes floor(total × pct / 100) off, flat caps the stay at the flat
 * price. Never below zero, never above the unvalidated price. The discount is one itemised line.
 */
export function validatedPrice(
  plan: RatePlan,
  stay: Stay,
  timeZone: string,
  v: { kind: ValidationKind; value: number; label?: string },
): { price: StayPrice; discount: Money } {
  const full = priceStay(plan, stay, timeZone);
  const total = full.total.amount;
  let after = total;
  if (v.kind === 'minutes') {
    const exitMs = Math.max(stay.entryMs, stay.exitMs - v.value * 60_000);
    after = Math.min(total, priceStay(plan, { ...stay, exitMs }, timeZone).total.amount);
  } else if (v.kind === 'percent') {
    after = total - Math.floor((total * Math.min(100, v.value)) / 100);
  } else {
    after = Math.min(total, v.value);
  }
  const discount = total - after;
  const label = v.label ?? describeValidation(v.kind, v.value, plan.currency);
  const lines =
    discount > 0
      ? [...full.lines, { label, rule: null, day: null, units: 0, amount: -discount }]
      : full.lines;
  return { price: { total: money(after, plan.currency), lines }, discount: money(discount, plan.currency) };
}

export function describeValidation(kind: ValidationKind, value: number, currency: string): string {
  if (kind === 'minutes') return `Validation: ${value} minutes free`;
  if (kind === 'percent') return `Validation: ${value}% off`;
  return `Validation: flat ${formatMoney(money(value, currency))}`;
}
