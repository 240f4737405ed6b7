/**
 * Occupancy bitmaps: one bit per slot per spot, 1 = held. Bit i of a spot lives in word i >>> 5
 * under mask 1 << (i & 31). Everything works on Uint32Array with whole-word fast paths for the
 * interior of a range and masks only on its two edge words; no strings or BigInt on hot paths.
 *
 * Range functions take bits [fromBit, toBit) relative to the spot's first word at `wordOffset`.
 * Preconditions (unchecked, hot path): 0 <= fromBit <= toBit <= 32 * words-for-this-spot.
 */

export function wordsForSlots(slotCount: number): number {
  return (slotCount + 31) >>> 5;
}

/** Bits >= (bit & 31) within a word. */
function lowEdgeMask(fromBit: number): number {
  return (0xffffffff << (fromBit & 31)) >>> 0;
}

/** Bits <= ((toBit - 1) & 31) within a word, i.e. the bits below an exclusive end. */
function highEdgeMask(toBit: number): number {
  return 0xffffffff >>> (31 - ((toBit - 1) & 31));
}

export function rangeIsFree(words: Uint32Array, wordOffset: number, fromBit: number, toBit: number): boolean {
  if (fromBit >= toBit) return true;
  const first = wordOffset + (fromBit >>> 5);
  const last = wordOffset + ((toBit - 1) >>> 5);
  const lo = lowEdgeMask(fromBit);
  const hi = highEdgeMask(toBit);
  if (first === last) return (words[first]! & lo & hi) === 0;
  if ((words[first]! & lo) !== 0 || (words[last]! & hi) !== 0) return false;
  for (let w = first + 1; w < last; w++) {
    if (words[w] !== 0) return false;
  }
  return true;
}

export function setRange(words: Uint32Array, wordOffset: number, fromBit: number, toBit: number): void {
  if (fromBit >= toBit) return;
  const first = wordOffset + (fromBit >>> 5);
  const last = wordOffset + ((toBit - 1) >>> 5);
  const lo = lowEdgeMask(fromBit);
  const hi = highEdgeMask(toBit);
  if (first === last) {
    words[first] = words[first]! | (lo & hi);
    return;
  }
  words[first] = words[first]! | lo;
  if (last > first + 1) words.fill(0xffffffff, first + 1, last);
  words[last] = words[last]! | hi;
}

export function clearRange(words: Uint32Array, wordOffset: number, fromBit: number, toBit: number): void {
  if (fromBit >= toBit) return;
  const first = wordOffset + (fromBit >>> 5);
  const last = wordOffset + ((toBit - 1) >>> 5);
  const lo = lowEdgeMask(fromBit);
  const hi = highEdgeMask(toBit);
  if (first === last) {
    words[first] = words[first]! & ~(lo & hi);
    return;
  }
  words[first] = words[first]! & ~lo;
  if (last > first + 1) words.fill(0, first + 1, last);
  words[last] = words[last]! & ~hi;
}

/** SWAR popcount; works on any value coerced to uint32. */
export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

export function popcountRange(
  words: Uint32Array,
  wordOffset: number,
  fromBit: number,
  toBit: number,
): number {
  if (fromBit >= toBit) return 0;
  const first = wordOffset + (fromBit >>> 5);
  const last = wordOffset + ((toBit - 1) >>> 5);
  const lo = lowEdgeMask(fromBit);
  const hi = highEdgeMask(toBit);
  if (first === last) return popcount32(words[first]! & lo & hi);
  let n = popcount32(words[first]! & lo) + popcount32(words[last]! & hi);
  for (let w = first + 1; w < last; w++) n += popcount32(words[w]!);
  return n;
}

// ---- whole-mask operations (e.g. for bits sliced out of PostgreSQL) ----

/** A fresh mask of `wordCount` words with bits [fromBit, toBit) set. */
export function maskFor(fromBit: number, toBit: number, wordCount: number): Uint32Array {
  if (!Number.isInteger(fromBit) || !Number.isInteger(toBit) || fromBit < 0 || toBit > wordCount * 32) {
    throw new RangeError(`mask [${fromBit}, ${toBit}) does not fit in ${wordCount} words`);
  }
  const mask = new Uint32Array(wordCount);
  setRange(mask, 0, fromBit, toBit);
  return mask;
}

/** True iff no bit is set in both. Words past the shorter array count as zero. */
export function andIsZero(a: Uint32Array, b: Uint32Array): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if ((a[i]! & b[i]!) !== 0) return false;
  }
  return true;
}

/** target |= mask. Throws rather than silently dropping set bits that lie beyond the target. */
export function orInto(target: Uint32Array, mask: Uint32Array): void {
  for (let i = target.length; i < mask.length; i++) {
    if (mask[i] !== 0) throw new RangeError('mask has bits beyond the end of the target');
  }
  const n = Math.min(target.length, mask.length);
  for (let i = 0; i < n; i++) target[i] = target[i]! | mask[i]!;
}

/** target &= ~mask. Mask words past the target are irrelevant. */
export function andNotInto(target: Uint32Array, mask: Uint32Array): void {
  const n = Math.min(target.length, mask.length);
  for (let i = 0; i < n; i++) target[i] = target[i]! & ~mask[i]!;
}

/** Bit i → byte i >> 3, bit (i & 7). Explicit shifts so the layout does not depend on host endianness. */
export function bitsToBytes(words: Uint32Array): Uint8Array {
  const bytes = new Uint8Array(words.length * 4);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const b = i * 4;
    bytes[b] = w & 0xff;
    bytes[b + 1] = (w >>> 8) & 0xff;
    bytes[b + 2] = (w >>> 16) & 0xff;
    bytes[b + 3] = w >>> 24;
  }
  return bytes;
}

/** Inverse of bitsToBytes; bits at or beyond `bitCount` are dropped, missing bytes read as zero. */
export function bytesToBits(bytes: Uint8Array, bitCount: number): Uint32Array {
  const words = new Uint32Array(wordsForSlots(bitCount));
  const byteCount = Math.min(bytes.length, (bitCount + 7) >>> 3);
  for (let i = 0; i < byteCount; i++) {
    const w = i >>> 2;
    words[w] = words[w]! | (bytes[i]! << ((i & 3) * 8));
  }
  clearTail(words, bitCount);
  return words;
}

/** Zero every bit at or beyond bitCount. */
function clearTail(words: Uint32Array, bitCount: number): void {
  const full = bitCount >>> 5;
  if (full >= words.length) return;
  const rem = bitCount & 31;
  words[full] = rem === 0 ? 0 : words[full]! & (0xffffffff >>> (32 - rem));
  words.fill(0, full + 1);
}

/** PostgreSQL `bit varying` text: char i is slot bit i ('1' = held). */
export function bitsToBitString(words: Uint32Array, bitCount: number): string {
  const n = Math.min(bitCount, words.length * 32);
  const chars = new Uint8Array(n);
  for (let i = 0; i < n; i++) chars[i] = (words[i >>> 5]! >>> (i & 31)) & 1 ? 0x31 : 0x30;
  return new TextDecoder().decode(chars);
}

/** Inverse of bitsToBitString. Throws on anything but '0' and '1'. */
export function bitStringToBits(s: string): Uint32Array {
  const words = new Uint32Array(wordsForSlots(s.length));
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x31) words[i >>> 5] = words[i >>> 5]! | (1 << (i & 31));
    else if (c !== 0x30) throw new RangeError(`bit string has '${s[i]}' at ${i}; only 0 and 1 are allowed`);
  }
  return words;
}

function assertSlotIndex(name: string, value: number): void {
  if (!Number.isSafeInteger(value))
    throw new RangeError(`${name} must be an integer slot index, got ${value}`);
}

/**
 * All spots of one lot in one contiguous Uint32Array, covering slots [baseSlot, baseSlot + slotSpan).
 * Invariant: bits at or beyond slotSpan in each spot's last word are always zero, so whole-word
 * checks and popcounts never see garbage.
 */
export class LotBitmap {
  readonly spotCount: number;
  readonly slotSpan: number;
  readonly wordsPerSpot: number;
  /** Backing store, spot s at [s * wordsPerSpot, (s + 1) * wordsPerSpot). Exposed for persistence. */
  readonly words: Uint32Array;
  #baseSlot: number;

  constructor(spotCount: number, baseSlot: number, slotSpan: number) {
    if (!Number.isSafeInteger(spotCount) || spotCount < 0) throw new RangeError(`bad spotCount ${spotCount}`);
    if (!Number.isSafeInteger(slotSpan) || slotSpan < 0) throw new RangeError(`bad slotSpan ${slotSpan}`);
    assertSlotIndex('baseSlot', baseSlot);
    this.spotCount = spotCount;
    this.slotSpan = slotSpan;
    this.wordsPerSpot = wordsForSlots(slotSpan);
    this.words = new Uint32Array(spotCount * this.wordsPerSpot);
    this.#baseSlot = baseSlot;
  }

  get baseSlot(): number {
    return this.#baseSlot;
  }

  #checkSpot(spot: number): void {
    if (!Number.isInteger(spot) || spot < 0 || spot >= this.spotCount) {
      throw new RangeError(`spot ${spot} is not in 0..${this.spotCount - 1}`);
    }
  }

  /** [startSlot, endSlot) clipped to the span, as bits relative to the base. Empty when from >= to. */
  #clip(startSlot: number, endSlot: number): { from: number; to: number } {
    assertSlotIndex('startSlot', startSlot);
    assertSlotIndex('endSlot', endSlot);
    const base = this.#baseSlot;
    return {
      from: Math.max(startSlot, base) - base,
      to: Math.min(endSlot, base + this.slotSpan) - base,
    };
  }

  /** Free for [startSlot, endSlot)? Slots before the base (past) and beyond the span count as free. */
  isFree(spot: number, startSlot: number, endSlot: number): boolean {
    this.#checkSpot(spot);
    const { from, to } = this.#clip(startSlot, endSlot);
    return rangeIsFree(this.words, spot * this.wordsPerSpot, from, to);
  }

  /** Set the bits. Does not check they were free (callers decide; see tryReserve). Strict about the span. */
  reserve(spot: number, startSlot: number, endSlot: number): void {
    this.#checkSpot(spot);
    assertSlotIndex('startSlot', startSlot);
    assertSlotIndex('endSlot', endSlot);
    const base = this.#baseSlot;
    if (startSlot > endSlot || startSlot < base || endSlot > base + this.slotSpan) {
      throw new RangeError(
        `slots [${startSlot}, ${endSlot}) are outside the bitmap span [${base}, ${base + this.slotSpan})`,
      );
    }
    setRange(this.words, spot * this.wordsPerSpot, startSlot - base, endSlot - base);
  }

  /** Reserve only if the whole window is free; true on success. */
  tryReserve(spot: number, startSlot: number, endSlot: number): boolean {
    if (!this.isFree(spot, startSlot, endSlot)) return false;
    this.reserve(spot, startSlot, endSlot);
    return true;
  }

  /**
   * Clear the bits. Lenient about the span on purpose: releasing a reservation that began before
   * a rebase must still clear what remains of it.
   */
  release(spot: number, startSlot: number, endSlot: number): void {
    this.#checkSpot(spot);
    const { from, to } = this.#clip(startSlot, endSlot);
    clearRange(this.words, spot * this.wordsPerSpot, from, to);
  }

  /** First candidate (in the given order) free for the window, or -1. */
  firstFree(candidates: ArrayLike<number>, startSlot: number, endSlot: number): number {
    const { from, to } = this.#clip(startSlot, endSlot);
    for (let i = 0; i < candidates.length; i++) {
      const spot = candidates[i]!;
      this.#checkSpot(spot);
      if (rangeIsFree(this.words, spot * this.wordsPerSpot, from, to)) return spot;
    }
    return -1;
  }

  /** How many candidates are free for the window. Edge masks are computed once for all spots. */
  countFree(candidates: ArrayLike<number>, startSlot: number, endSlot: number): number {
    const n = candidates.length;
    const { from, to } = this.#clip(startSlot, endSlot);
    for (let i = 0; i < n; i++) this.#checkSpot(candidates[i]!);
    if (from >= to) return n;
    const words = this.words;
    const wps = this.wordsPerSpot;
    const firstRel = from >>> 5;
    const lastRel = (to - 1) >>> 5;
    const lo = lowEdgeMask(from);
    const hi = highEdgeMask(to);
    let free = 0;
    if (firstRel === lastRel) {
      const m = lo & hi;
      for (let i = 0; i < n; i++) {
        if ((words[candidates[i]! * wps + firstRel]! & m) === 0) free++;
      }
      return free;
    }
    outer: for (let i = 0; i < n; i++) {
      const off = candidates[i]! * wps;
      const first = off + firstRel;
      const last = off + lastRel;
      if ((words[first]! & lo) !== 0 || (words[last]! & hi) !== 0) continue;
      for (let w = first + 1; w < last; w++) {
        if (words[w] !== 0) continue outer;
      }
      free++;
    }
    return free;
  }

  /** Number of held slots of a spot within the span. */
  heldSlots(spot: number): number {
    this.#checkSpot(spot);
    return popcountRange(this.words, spot * this.wordsPerSpot, 0, this.slotSpan);
  }

  /**
   * Slide the window forward to start at newBaseSlot: slots before it are dropped, the rest keep
   * their absolute slot, the new tail is free. Backwards is refused: it would drop future bookings.
   */
  rebase(newBaseSlot: number): void {
    assertSlotIndex('newBaseSlot', newBaseSlot);
    const shift = newBaseSlot - this.#baseSlot;
    if (shift < 0) throw new RangeError(`cannot rebase backwards from ${this.#baseSlot} to ${newBaseSlot}`);
    this.#baseSlot = newBaseSlot;
    if (shift === 0) return;
    const words = this.words;
    const wps = this.wordsPerSpot;
    if (shift >= this.slotSpan) {
      words.fill(0);
      return;
    }
    const ws = shift >>> 5;
    const bs = shift & 31;
    for (let s = 0; s < this.spotCount; s++) {
      const off = s * wps;
      // Ascending in place is safe: word w reads only words >= w of the same spot.
      for (let w = 0; w < wps; w++) {
        const src = w + ws;
        const a = src < wps ? words[off + src]! : 0;
        if (bs === 0) {
          words[off + w] = a;
        } else {
          const b = src + 1 < wps ? words[off + src + 1]! : 0;
          words[off + w] = (a >>> bs) | (b << (32 - bs));
        }
      }
    }
    // Bits shifted in come from beyond the span, which the invariant keeps at zero.
  }

  /** A live view of one spot's words (writes go through). */
  spotWords(spot: number): Uint32Array {
    this.#checkSpot(spot);
    return this.words.subarray(spot * this.wordsPerSpot, (spot + 1) * this.wordsPerSpot);
  }
}
