/**
 * protocol/: bitmap capacity checks, spot picking, reserve/release, slot math, pricing and
 * credential verification, each against a naive implementation measured in the same run.
 */
import { createPublicKey, verify } from 'node:crypto';
import { LotBitmap } from '../protocol/bitmap.js';
import { generateSigningKey, signCredential, verifyCredential } from '../protocol/credential.js';
import { priceWindow, type RateCard } from '../protocol/money.js';
import { matchPlate } from '../protocol/plates.js';
import { DEFAULT_WINDOW_POLICY, SLOT_MS, slotOf, toIso, validateWindow } from '../protocol/slots.js';
import { type BenchContext, type BenchRow, measure, toRow } from './harness.js';

const SPOTS = 2_000;
const SPAN = 96 * 90; // 90-day horizon
const WEEK = 672;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The obvious non-bitmap structure: one byte per slot per spot. */
class NaiveLot {
  readonly held: Uint8Array;
  constructor(
    readonly spots: number,
    readonly span: number,
  ) {
    this.held = new Uint8Array(spots * span);
  }
  isFree(spot: number, from: number, to: number): boolean {
    const off = spot * this.span;
    for (let s = from; s < to; s++) if (this.held[off + s] !== 0) return false;
    return true;
  }
  countFree(candidates: ArrayLike<number>, from: number, to: number): number {
    let n = 0;
    for (let i = 0; i < candidates.length; i++) if (this.isFree(candidates[i]!, from, to)) n++;
    return n;
  }
  firstFree(candidates: ArrayLike<number>, from: number, to: number): number {
    for (let i = 0; i < candidates.length; i++)
      if (this.isFree(candidates[i]!, from, to)) return candidates[i]!;
    return -1;
  }
  reserve(spot: number, from: number, to: number): void {
    this.held.fill(1, spot * this.span + from, spot * this.span + to);
  }
  release(spot: number, from: number, to: number): void {
    this.held.fill(0, spot * this.span + from, spot * this.span + to);
  }
}

/** Set-of-slots per spot: the model the property tests use; slower still. */
function setModelCountFree(sets: Set<number>[], from: number, to: number): number {
  let n = 0;
  outer: for (const set of sets) {
    for (let s = from; s < to; s++) if (set.has(s)) continue outer;
    n++;
  }
  return n;
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const it = (n: number) => (ctx.quick ? Math.max(20, Math.floor(n / 10)) : n);
  const base = slotOf(Date.UTC(2025, 0, 6));
  const all = Int32Array.from({ length: SPOTS }, (_, i) => i);
  // Start mid-word so both edge masks are exercised.
  const from = base + 7;
  const to = from + WEEK;

  // 1. Worst case for countFree: an empty lot, every spot scans its whole window.
  {
    const bits = new LotBitmap(SPOTS, base, SPAN);
    const naive = new NaiveLot(SPOTS, SPAN);
    const b = measure(
      'naive countFree 2000 x 7d (empty lot, byte per slot)',
      () => naive.countFree(all, 7, 7 + WEEK),
      {
        iterations: it(300),
        warmup: 20,
      },
    );
    const m = measure('countFree 2000 spots x 7d (empty lot)', () => bits.countFree(all, from, to), {
      iterations: it(3000),
      warmup: 200,
    });
    rows.push(toRow(m, { baseline: b, budget: { label: 'p99 < 1 ms', p99MaxUs: 1000 } }));
  }

  // 2. A realistic lot: ~60% of spots carry a few bookings in the week.
  const rnd = mulberry32(42);
  const bits = new LotBitmap(SPOTS, base, SPAN);
  const naive = new NaiveLot(SPOTS, SPAN);
  const sets: Set<number>[] = Array.from({ length: SPOTS }, () => new Set<number>());
  for (let spot = 0; spot < SPOTS; spot++) {
    if (rnd() < 0.4) continue;
    for (let k = 0; k < 3; k++) {
      const s = Math.floor(rnd() * (WEEK + 200));
      const e = Math.min(SPAN, s + 1 + Math.floor(rnd() * 96));
      bits.reserve(spot, base + s, base + e);
      naive.reserve(spot, s, e);
      for (let x = s; x < e; x++) sets[spot]!.add(x);
    }
  }
  {
    const b = measure('naive countFree 2000 x 7d (60% booked)', () => naive.countFree(all, 7, 7 + WEEK), {
      iterations: it(500),
      warmup: 20,
    });
    const m = measure('countFree 2000 spots x 7d (60% booked)', () => bits.countFree(all, from, to), {
      iterations: it(3000),
      warmup: 200,
    });
    if (bits.countFree(all, from, to) !== naive.countFree(all, 7, 7 + WEEK))
      throw new Error('countFree disagrees');
    rows.push(toRow(m, { baseline: b, budget: { label: 'p99 < 1 ms', p99MaxUs: 1000 } }));
    const sb = measure(
      'Set-of-slots countFree 2000 x 7d (60% booked)',
      () => setModelCountFree(sets, 7, 7 + WEEK),
      {
        iterations: it(50),
        warmup: 5,
      },
    );
    rows.push(toRow(sb, { notes: 'the property-test model, for scale' }));
  }

  // 3. firstFree when only the last spots are free: the scan visits (nearly) everything.
  {
    const bits2 = new LotBitmap(SPOTS, base, SPAN);
    const naive2 = new NaiveLot(SPOTS, SPAN);
    for (let spot = 0; spot < SPOTS - 1; spot++) {
      // Busy in one interior slot only, so the bitmap cannot reject it from the edge words alone.
      bits2.reserve(spot, from + WEEK / 2, from + WEEK / 2 + 1);
      naive2.reserve(spot, 7 + WEEK / 2, 7 + WEEK / 2 + 1);
    }
    const b = measure('naive firstFree (last spot free)', () => naive2.firstFree(all, 7, 7 + WEEK), {
      iterations: it(300),
      warmup: 20,
    });
    const m = measure('firstFree 2000 x 7d (only last spot free)', () => bits2.firstFree(all, from, to), {
      iterations: it(3000),
      warmup: 200,
    });
    rows.push(toRow(m, { baseline: b, budget: { label: 'p99 < 1 ms', p99MaxUs: 1000 } }));
  }

  // 4. reserve + release of a 7-day window on one spot.
  {
    const b = measure(
      'naive reserve+release 7d',
      () => {
        naive.reserve(5, 7, 7 + WEEK);
        naive.release(5, 7, 7 + WEEK);
      },
      { iterations: it(20_000), warmup: 1000, batch: 10 },
    );
    const m = measure(
      'reserve+release 7d',
      () => {
        bits.reserve(5, from, to);
        bits.release(5, from, to);
      },
      { iterations: it(20_000), warmup: 1000, batch: 10 },
    );
    rows.push(toRow(m, { baseline: b }));
  }

  // 5. Slot math: validate an ISO window from the wire, against bare Date.parse of both ends.
  {
    const now = Date.UTC(2025, 0, 6, 9, 7);
    const input = { start: toIso(now + 53 * 60_000), end: toIso(now + 53 * 60_000 + 3 * 3_600_000) };
    const b = measure('Date.parse x2 (baseline)', () => Date.parse(input.start) + Date.parse(input.end), {
      iterations: it(20_000),
      warmup: 2000,
      batch: 20,
    });
    const m = measure(
      'validateWindow (ISO strings)',
      () => validateWindow(input, DEFAULT_WINDOW_POLICY, now),
      {
        iterations: it(20_000),
        warmup: 2000,
        batch: 20,
      },
    );
    if (!validateWindow(input, DEFAULT_WINDOW_POLICY, now).ok) throw new Error('bench window invalid');
    rows.push(toRow(m, { baseline: b }));
    let x = now;
    const s = measure(
      'slotOf',
      () => {
        x += SLOT_MS;
        return slotOf(x);
      },
      {
        iterations: it(20_000),
        warmup: 2000,
        batch: 100,
      },
    );
    rows.push(toRow(s));
  }

  // 6. Pricing a 7-day window across a DST change (Intl formatter built per call).
  {
    const rates: RateCard = { currency: 'GBP', hourlyRate: 250, dailyMax: 1800, dynamicPricing: null };
    const win = { startMs: Date.UTC(2025, 2, 26, 10), endMs: Date.UTC(2025, 3, 2, 10) };
    const b = measure(
      'new Intl.DateTimeFormat (baseline)',
      () => new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/London' }),
      {
        iterations: it(2000),
        warmup: 100,
      },
    );
    const m = measure('priceWindow 7d Europe/London', () => priceWindow(rates, win, 'Europe/London'), {
      iterations: it(2000),
      warmup: 100,
    });
    rows.push(toRow(m, { baseline: b }));
  }

  // 7. Gate hot path pieces: QR verification (cached key) and plate matching over a 50k index.
  {
    const key = generateSigningKey('bench1');
    const lot = '5b0c6f3e-7a57-4d8e-9c1b-2f4a9d3e8b70';
    const text = signCredential(
      {
        rid: 'a3e1c2d4-5b6f-4a7b-8c9d-0e1f2a3b4c5d',
        lot,
        plate: 'AB12CDE',
        start: Date.UTC(2025, 0, 6, 9),
        end: Date.UTC(2025, 0, 6, 17),
      },
      key.signing,
    );
    const keys = [key.publicEntry];
    const expect = { lotId: lot, nowMs: Date.UTC(2025, 0, 6, 10), earlyArrivalMinutes: 15 };
    if (!verifyCredential(text, keys, expect).ok) throw new Error('bench credential invalid');
    const parts = text.split('.');
    const signed = Buffer.from(parts.slice(0, 3).join('.'));
    const sig = Buffer.from(parts[3]!, 'base64url');
    const pub = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: key.publicEntry.publicKey },
      format: 'jwk',
    });
    const b = measure('raw crypto.verify Ed25519 (baseline)', () => verify(null, signed, pub, sig), {
      iterations: it(5000),
      warmup: 500,
    });
    const m = measure('verifyCredential', () => verifyCredential(text, keys, expect), {
      iterations: it(5000),
      warmup: 500,
    });
    rows.push(toRow(m, { baseline: b, budget: { label: 'p99 < 1 ms', p99MaxUs: 1000 } }));

    const index = new Map<string, number>();
    for (let i = 0; i < 50_000; i++)
      index.set(`K${(i * 7919).toString(36).toUpperCase().padStart(6, '0')}`, i);
    const plate = [...index.keys()][31_337]!.replace('0', 'O');
    const bm = measure('Map.get (baseline)', () => index.get(plate), {
      iterations: it(20_000),
      warmup: 2000,
      batch: 20,
    });
    const mm = measure(
      'matchPlate fuzzy, 50k index',
      () => matchPlate({ plate, confidence: 0.95 }, (p) => index.get(p), 0.9),
      {
        iterations: it(20_000),
        warmup: 2000,
        batch: 20,
      },
    );
    rows.push(toRow(mm, { baseline: bm }));
  }
  return rows;
}
