import { randomBytes } from 'node:crypto';

/** Randomness is always injected, so every simulation replays exactly from its seed. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  pick<T>(items: readonly T[]): T;
  chance(probability: number): boolean;
  /** Opaque id, base36, from this source (deterministic for seeded sources). */
  id(length?: number): string;
}

/** sfc32: small, fast, good enough for simulation; state lives in the instance. */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return fromUniform(next);
}

/** Bytes fetched per refill: one getrandom call serves 1,024 draws instead of one each. */
const CRYPTO_POOL_BYTES = 4096;

export function cryptoRandom(): Random {
  let pool = randomBytes(CRYPTO_POOL_BYTES);
  let at = 0;
  return fromUniform(() => {
    if (at + 4 > pool.length) {
      pool = randomBytes(CRYPTO_POOL_BYTES);
      at = 0;
    }
    const v = pool.readUInt32LE(at);
    at += 4;
    return v / 4294967296;
  });
}

function fromUniform(next: () => number): Random {
  const int = (maxExclusive: number): number => Math.floor(next() * maxExclusive);
  return {
    next,
    int,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[int(items.length)] as T;
    },
    chance: (p) => next() < p,
    id: (length = 16) => {
      let s = '';
      while (s.length < length) s += int(36).toString(36);
      return s;
    },
  };
}
