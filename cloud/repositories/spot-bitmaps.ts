import {
  bitStringToBits,
  bitsToBitString,
  clearRange,
  popcountRange,
  rangeIsFree,
  setRange,
  wordsForSlots,
} from '../../protocol/bitmap.js';
import type { SlotWindow } from '../../protocol/slots.js';
import type { Queryable } from '../db/database.js';

/**
 * The glue between PostgreSQL `bit varying` spot bitmaps and protocol/bitmap.ts. SQL only slices a
 * window out (`substring(bits from … for …)`) and writes one back (`overlay`); every decision about
 * bits — free, set, clear, count — is made in JS by the protocol operations, the same ones the edge
 * runs on its SQLite mirror.
 */

/** Where a window lies in a lot's spot bitmaps: 0-based first bit and length. */
export interface BitRange {
  from: number;
  len: number;
}

export function bitRange(baseSlot: number, w: Pick<SlotWindow, 'startSlot' | 'endSlot'>): BitRange {
  const from = Math.max(0, w.startSlot - baseSlot);
  return { from, len: Math.max(0, w.endSlot - baseSlot - from) };
}

/**
 * A whole bitmap as its binary wire form (`varbit_send`: a 4-byte big-endian bit count, then the
 * bits, first slot in the high bit of the first byte), read as `bytea` — a quarter of the text
 * form's size, decoded by `varbitWords` a byte at a time instead of a character per slot.
 */
export const VARBIT_SEND_SQL = 'varbit_send(bits)';

/** Each byte with its bit order reversed: a varbit's first bit is a byte's high bit, a word's low. */
const REVERSED_BYTES = Uint8Array.from({ length: 256 }, (_, b) => {
  let r = 0;
  for (let k = 0; k < 8; k++) if (b & (0x80 >> k)) r |= 1 << k;
  return r;
});

/** A bitmap read with `VARBIT_SEND_SQL` as words (the same as bitStringToBits of its text form). */
export function varbitWords(sent: Uint8Array): Uint32Array {
  if (sent.length < 4) throw new RangeError('varbit_send: shorter than its header');
  const bits = ((sent[0]! << 24) | (sent[1]! << 16) | (sent[2]! << 8) | sent[3]!) >>> 0;
  const bytes = Math.ceil(bits / 8);
  if (sent.length < 4 + bytes) throw new RangeError(`varbit_send: ${bits} bits in ${sent.length - 4} bytes`);
  const words = new Uint32Array(wordsForSlots(bits));
  for (let j = 0; j < bytes; j++) {
    const b = sent[4 + j]!;
    if (b !== 0) words[j >>> 2] = words[j >>> 2]! | (REVERSED_BYTES[b]! << ((j & 3) * 8));
  }
  return words;
}

/** SQL expression for the window's slice of `bits`; $from1 is 1-based. */
export const sliceSql = (from1: string, len: string) =>
  `substring(bits from ${from1}::int for ${len}::int)::text`;

/** A window slice as words; a stored bitmap that ends early reads as free past its end. */
export function sliceWords(slice: string, len: number): Uint32Array {
  const words = new Uint32Array(wordsForSlots(len));
  words.set(bitStringToBits(slice).subarray(0, words.length));
  return words;
}

export function sliceIsFree(slice: string, len: number): boolean {
  return rangeIsFree(sliceWords(slice, len), 0, 0, len);
}

/** The slice with the whole window held; throws if any slot was already held. */
export function holdSlice(slice: string, len: number): string {
  const words = sliceWords(slice, len);
  if (!rangeIsFree(words, 0, 0, len)) throw new Error('window is not free');
  setRange(words, 0, 0, len);
  return bitsToBitString(words, len);
}

/** The slice with the whole window released, and how many of its slots were held before. */
export function releaseSlice(slice: string, len: number): { slice: string; held: number } {
  const words = sliceWords(slice, len);
  const held = popcountRange(words, 0, 0, len);
  clearRange(words, 0, 0, len);
  return { slice: bitsToBitString(words, len), held };
}

/**
 * Write a window slice back ($1 lot, $2 spot, $3 length needed, $4 slice, $5 1-based position),
 * first growing the stored bitmap with free bits when it is shorter.
 */
export const WRITE_SLICE_SQL = `update spots set bits = overlay(
    (case when length(bits) < $3::int then bits || repeat('0', $3::int - length(bits))::varbit else bits end)
    placing $4::varbit from $5::int)
  where lot_id = $1 and id = $2`;

export const writeSliceParams = (lotId: string, spotId: string, r: BitRange, slice: string) => [
  lotId,
  spotId,
  r.from + r.len,
  slice,
  r.from + 1,
];

export async function writeSlice(q: Queryable, lotId: string, spotId: string, r: BitRange, slice: string) {
  await q.query(WRITE_SLICE_SQL, writeSliceParams(lotId, spotId, r, slice));
}
