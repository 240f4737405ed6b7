import type { Random } from '../protocol/random.js';

/** A version-4-shaped UUID from the injected randomness (deterministic under a seeded Random). */
export function newId(random: Random): string {
  let hex = '';
  for (let i = 0; i < 32; i++) {
    let nibble = random.int(16);
    if (i === 12) nibble = 4;
    if (i === 16) nibble = 8 | (nibble & 3);
    hex += nibble.toString(16);
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An opaque secret token (refresh tokens): 32 random bytes, base64url. */
export function newSecretToken(random: Random): string {
  const bytes = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) bytes[i] = random.int(256);
  return bytes.toString('base64url');
}
