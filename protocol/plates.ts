/**
 * Licence plates at the gate (docs/architecture.md#a-gate-event-end-to-end): normalise camera reads and
 * match them against reservations exactly, or within one usual camera confusion.
 */

// Separators people and cameras put inside plates; stripped before validation.
const SEPARATOR_CLASS = '[\\s\\-.\\u00b7\\u2010-\\u2015\\u2212]';
const SEPARATORS_RE = new RegExp(SEPARATOR_CLASS, 'g');
const PLATE_RE = /^[A-Z0-9]{2,10}$/;
// Checked before upper-casing so that non-ASCII letters (e.g. 'ß' → 'SS') never sneak in.
const ASCII_ALNUM_RE = /^[A-Za-z0-9]+$/;

export const PLATE_MIN_CHARS = 2;
export const PLATE_MAX_CHARS = 10;
/** Longest plate text an API accepts, separators included. */
export const PLATE_INPUT_MAX_LENGTH = 24;

/**
 * The rule of normalizePlate as one regular expression, for API schemas and their OpenAPI
 * document: 2 to 10 ASCII letters or digits, with spaces, dashes and dots anywhere between.
 * Accepts exactly the strings (up to 64 characters) that normalizePlate turns into a plate.
 */
export const PLATE_INPUT_PATTERN = new RegExp(
  `^${SEPARATOR_CLASS}*(?:[A-Za-z0-9]${SEPARATOR_CLASS}*){${PLATE_MIN_CHARS},${PLATE_MAX_CHARS}}$`,
);

/** What is wrong with a plate as typed, in words for an error message; null when it is a plate. */
export function plateProblem(raw: unknown): string | null {
  if (typeof raw !== 'string') return 'must be text';
  if (raw.length > PLATE_INPUT_MAX_LENGTH) return `must be at most ${PLATE_INPUT_MAX_LENGTH} characters`;
  const stripped = raw.replace(SEPARATORS_RE, '');
  if (!ASCII_ALNUM_RE.test(stripped) && stripped !== '') {
    return 'may contain only letters A-Z and digits 0-9 (spaces, dashes and dots are ignored)';
  }
  if (stripped.length < PLATE_MIN_CHARS || stripped.length > PLATE_MAX_CHARS) {
    return `must have ${PLATE_MIN_CHARS} to ${PLATE_MAX_CHARS} letters or digits, has ${stripped.length}`;
  }
  return null;
}

/** Upper case, no spaces/dashes/dots; only [A-Z0-9], length 2..10, else null. Idempotent. */
export function normalizePlate(raw: string): string | null {
  if (typeof raw !== 'string' || raw.length > 64) return null;
  const stripped = raw.replace(SEPARATORS_RE, '');
  if (!ASCII_ALNUM_RE.test(stripped)) return null;
  const plate = stripped.toUpperCase();
  return PLATE_RE.test(plate) ? plate : null;
}

export const CONFUSABLE_PAIRS: ReadonlyArray<readonly [string, string]> = Object.freeze([
  Object.freeze(['O', '0'] as const),
  Object.freeze(['I', '1'] as const),
  Object.freeze(['B', '8'] as const),
  Object.freeze(['S', '5'] as const),
  Object.freeze(['Z', '2'] as const),
]);

/** Character → its confusable partner, both directions. Pairs are disjoint, so one partner each. */
const PARTNER: ReadonlyMap<string, string> = new Map(
  CONFUSABLE_PAIRS.flatMap(([a, b]) => [
    [a, b],
    [b, a],
  ]),
);

/**
 * Every plate exactly one confusable substitution away from `plate` (after normalising it),
 * in position order. Symmetric: b ∈ variants(a) ⇔ a ∈ variants(b). Invalid input → [].
 */
export function confusionVariants(plate: string): string[] {
  const p = normalizePlate(plate);
  if (p === null) return [];
  const out: string[] = [];
  for (let i = 0; i < p.length; i++) {
    const partner = PARTNER.get(p[i]!);
    if (partner !== undefined) out.push(p.slice(0, i) + partner + p.slice(i + 1));
  }
  return out;
}

export type PlateMatch<T> =
  | { kind: 'exact'; plate: string; value: T }
  | { kind: 'fuzzy'; plate: string; value: T }
  | { kind: 'ambiguous'; plates: string[] }
  | { kind: 'none' };

/**
 * Exact match always wins. A fuzzy match (one confusable substitution) counts only when the read's
 * confidence is at least minConfidence and exactly one variant is known; several → 'ambiguous',
 * so the gate falls back to QR or the attendant instead of guessing.
 * Calls `lookup` at most 1 + plate length times (an index probe each), never scans.
 */
export function matchPlate<T>(
  read: { plate: string; confidence: number },
  lookup: (normalizedPlate: string) => T | undefined,
  minConfidence: number,
): PlateMatch<T> {
  const plate = normalizePlate(read.plate);
  if (plate === null) return { kind: 'none' };
  const exact = lookup(plate);
  if (exact !== undefined) return { kind: 'exact', plate, value: exact };
  // Written so that NaN confidence or threshold never enables fuzzy matching.
  if (!(read.confidence >= minConfidence)) return { kind: 'none' };
  let found: { plate: string; value: T } | null = null;
  const plates: string[] = [];
  for (const variant of confusionVariants(plate)) {
    const value = lookup(variant);
    if (value === undefined) continue;
    plates.push(variant);
    found = { plate: variant, value };
  }
  if (plates.length > 1) return { kind: 'ambiguous', plates };
  if (found !== null) return { kind: 'fuzzy', plate: found.plate, value: found.value };
  return { kind: 'none' };
}
