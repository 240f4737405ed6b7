import { AccessBandSchema, ClosureSchema } from './hours.js';
import { z } from 'zod';
import { RatePlanSchema } from './rate-plan.js';
import {
  GeoPoint,
  Id,
  IsoTimestamp,
  LotConfigSchema,
  LotId,
  LotPolicySchema,
  MoneySchema,
  RateCardSchema,
  ReservationSchema,
  ReservationStatus,
  Role,
  SpotSchema,
  VehicleType,
} from './domain.js';
import { PublicKeySchema } from './mqtt.js';
import { PLATE_INPUT_MAX_LENGTH, PLATE_INPUT_PATTERN, plateProblem } from './plates.js';

/**
 * The cloud's HTTP contract: every request and response body of API v1. Routes, the OpenAPI
 * document and API clients (tests, bench, demo) all derive from these schemas.
 * Response schemas avoid transforms: the serializer encodes through them.
 */

// ---------------------------------------------------------------------------------------------
// Errors

export const ErrorIssue = z.object({
  /** Where the problem is, e.g. `body.start` or `query.vehicleType`. */
  field: z.string(),
  /** Which rule failed, e.g. `invalid_format`, `unaligned`, `too_small`. */
  rule: z.string(),
  message: z.string(),
});

export const ErrorBody = z
  .object({
    /** Stable machine-readable code, e.g. `validation_failed`, `no_spot_free`, `plate_overlap`. */
    error: z.string(),
    message: z.string(),
    field: z.string().optional(),
    rule: z.string().optional(),
    issues: z.array(ErrorIssue).optional(),
    /** `debt_outstanding`: what the plate owes and where to pay it. */
    owed: MoneySchema.optional(),
    payUrl: z.string().optional(),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---------------------------------------------------------------------------------------------
// Common headers and params

/** Loose: other headers pass through untouched. */
export const IdempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .optional()
    .describe('Same key + same body returns the first response; same key + another body is refused (422).'),
});

/**
 * A number in a query string, read from its text; blank text (`?lat=`) is refused, not read as 0
 * (which is what plain coercion would make of it).
 */
function queryNumber<T extends z.ZodType<number, unknown>>(schema: (n: z.ZodCoercedNumber) => T) {
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? Number.NaN : v),
    schema(z.coerce.number({ error: 'expected a number' })),
  );
}

export const LotParams = z.object({ lotId: LotId });
export const ReservationParams = z.object({ id: Id });

/**
 * A licence plate as typed: 2 to 10 ASCII letters or digits once spaces, dashes and dots are
 * dropped (`protocol/plates.ts` normalizePlate); the message says which part of the rule failed.
 */
export const PlateInput = z
  .string()
  .superRefine((raw, ctx) => {
    const problem = plateProblem(raw);
    if (problem !== null)
      ctx.addIssue({ code: 'custom', message: `plate ${problem}`, params: { rule: 'invalid_plate' } });
  })
  // The same rule for the document (a test keeps plateProblem and the pattern in step).
  .meta({
    maxLength: PLATE_INPUT_MAX_LENGTH,
    pattern: PLATE_INPUT_PATTERN.source,
    description: '2 to 10 letters A-Z or digits; spaces, dashes and dots are ignored, e.g. "B-AB 1234".',
  });

// ---------------------------------------------------------------------------------------------
// Auth

/**
 * The address format the API accepts (and the OpenAPI document states as its pattern): dot-separated
 * atoms of letters, digits and `_ ' + -` before the @; a host name after it whose labels start and
 * end with a letter or digit (at most 63 characters each) and a top-level domain of letters. A subset
 * of the JSON Schema `email` format, so every address the API accepts is a valid one.
 */
export const EMAIL_PATTERN =
  /^[A-Za-z0-9_'+-]+(?:\.[A-Za-z0-9_'+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

const Email = z.email({ pattern: EMAIL_PATTERN, error: 'an email address like name@example.com' }).max(254);

export const RegisterBody = z.object({
  email: Email,
  password: z.string().min(10, 'at least 10 characters').max(256),
});

export const TokenBody = z.object({ email: Email, password: z.string().min(1).max(256) });

export const RefreshBody = z.object({ refreshToken: z.string().min(16).max(512) });

export const UserView = z
  .object({ id: Id, email: z.string(), role: Role, lotIds: z.array(LotId) })
  .meta({ id: 'User' });
export type UserView = z.infer<typeof UserView>;

export const TokenResponse = z.object({
  tokenType: z.literal('Bearer'),
  accessToken: z.string(),
  /** Seconds until the access token expires. */
  expiresIn: z.number().int().positive(),
  /** Single use: each refresh returns a new one; reusing an old one revokes the whole family. */
  refreshToken: z.string(),
  user: UserView,
});

export const CreateUserBody = z.object({
  email: Email,
  password: z.string().min(10, 'at least 10 characters').max(256),
  role: Role,
  /** Lots an operator or attendant works on. */
  lotIds: z.array(LotId).max(500).default([]),
});

// ---------------------------------------------------------------------------------------------
// Lots

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const TimeZone = z.string().min(1).max(64).refine(isTimeZone, 'an IANA time zone, e.g. Europe/Berlin');

export const CreateLotBody = LotConfigSchema.extend({
  /** Generated when absent. */
  id: LotId.optional(),
  timeZone: TimeZone,
}).superRefine((lot, ctx) => {
  const ids = new Set<string>();
  const labels = new Set<string>();
  lot.spots.forEach((spot, i) => {
    if (ids.has(spot.id))
      ctx.addIssue({ code: 'custom', path: ['spots', i, 'id'], message: `duplicate spot id ${spot.id}` });
    if (labels.has(spot.label))
      ctx.addIssue({
        code: 'custom',
        path: ['spots', i, 'label'],
        message: `duplicate spot label ${spot.label}`,
      });
    ids.add(spot.id);
    labels.add(spot.label);
  });
});
export type CreateLotBody = z.infer<typeof CreateLotBody>;

/**
 * At least one of the three, and nothing else: with unknown fields refused, a misspelt field is a
 * 400 naming it rather than a silent no-op, and `{}` (a change of nothing) is a 400 the document
 * states (`minProperties: 1`).
 */
export const PatchLotBody = z
  .strictObject({
    name: z.string().min(1).max(120).optional(),
    rates: RateCardSchema.optional(),
    /** Fields given replace the current ones; the rest stay. */
    policy: LotPolicySchema.partial().optional(),
  })
  .refine((b) => b.name !== undefined || b.rates !== undefined || b.policy !== undefined, {
    message: 'give at least one of name, rates, policy',
  })
  .meta({ minProperties: 1 });

const RateCardView = z.object({
  currency: z.string(),
  hourlyRate: z.number().int(),
  dailyMax: z.number().int().nullable(),
  dynamicPricing: z
    .array(z.object({ fromOccupancyPct: z.number().int(), multiplierPct: z.number().int() }))
    .nullable(),
});

const LotPolicyView = z.object({
  maxDurationMinutes: z.number().int(),
  bookingHorizonDays: z.number().int(),
  holdMinutes: z.number().int(),
  noShowGraceMinutes: z.number().int(),
  earlyArrivalMinutes: z.number().int(),
  exitGraceMinutes: z.number().int(),
  antiPassback: z.enum(['hard', 'soft']),
  plateMinConfidence: z.number(),
  overflowHorizonMinutes: z.number().int(),
  overflowTimeoutMs: z.number().int(),
  refund: z.enum(['none', 'full_before_start']),
  /** Permits and lot changes (docs/permits.md). */
  permitOversellPct: z.number().int().optional(),
  operatingHours: z.array(AccessBandSchema).optional(),
  closures: z.array(ClosureSchema).optional(),
});

const SpotView = z.object({
  id: Id,
  label: z.string(),
  level: z.string(),
  type: VehicleType,
  pool: SpotSchema.shape.pool,
});

export const LotView = z
  .object({
    id: LotId,
    name: z.string(),
    timeZone: z.string(),
    location: GeoPoint,
    rates: RateCardView,
    policy: LotPolicyView,
    spots: z.array(SpotView),
    /** The lot's rate plan (docs/pricing.md), or null when `rates` alone prices it. */
    ratePlan: RatePlanSchema.nullable().optional(),
    /** Bumped on every change of configuration (the edge's config version). */
    version: z.number().int().nonnegative(),
  })
  .meta({ id: 'Lot' });
export type LotView = z.infer<typeof LotView>;

export const LotListQuery = z
  .object({
    lat: queryNumber((n) => n.min(-90).max(90)).optional(),
    lng: queryNumber((n) => n.min(-180).max(180)).optional(),
    radiusKm: queryNumber((n) => n.positive().max(20_000)).optional(),
    limit: queryNumber((n) => n.int().min(1).max(200).default(50)),
  })
  .refine((q) => (q.lat === undefined) === (q.lng === undefined), {
    message: 'give both lat and lng, or neither',
    path: ['lng'],
  })
  .refine((q) => q.radiusKm === undefined || q.lat !== undefined, {
    message: 'radiusKm needs lat and lng',
    path: ['radiusKm'],
  });

export const LotSummary = z.object({
  id: LotId,
  name: z.string(),
  timeZone: z.string(),
  location: GeoPoint,
  /** Great-circle distance from the query point; null without one. */
  distanceKm: z.number().nullable(),
  bookableSpots: z.number().int().nonnegative(),
  rates: RateCardView,
});

export const LotListResponse = z.object({ lots: z.array(LotSummary) });

export const CapacityQuery = z.object({
  vehicleType: VehicleType,
  start: IsoTimestamp,
  end: IsoTimestamp,
});

export const CapacityResponse = z.object({
  /** How many eligible spots are free for the whole window. A count only, never which ones. */
  available: z.number().int().nonnegative(),
  price: MoneySchema,
});

// ---------------------------------------------------------------------------------------------
// Reservations

export const CreateReservationBody = z.object({
  lotId: LotId,
  vehicleType: VehicleType,
  plate: PlateInput,
  start: IsoTimestamp,
  end: IsoTimestamp,
});
export type CreateReservationBody = z.infer<typeof CreateReservationBody>;

export const ReservationCreated = z.object({
  id: Id,
  status: z.literal('TENTATIVE'),
  /** Spot label, for the gate display. */
  spot: z.string(),
  price: MoneySchema,
  paymentUrl: z.string(),
  holdExpiresAt: IsoTimestamp,
});

export const ReservationView = ReservationSchema.extend({
  kind: z.enum(['booking', 'driveup']),
  holdExpiresAt: IsoTimestamp.nullable(),
  /** Signed QR credential text, once CONFIRMED. */
  credential: z.string().nullable(),
  checkedInAt: IsoTimestamp.nullable(),
  checkedOutAt: IsoTimestamp.nullable(),
  overstayCharge: MoneySchema.nullable(),
  refund: MoneySchema.nullable(),
  createdAt: IsoTimestamp,
}).meta({ id: 'Reservation' });
export type ReservationView = z.infer<typeof ReservationView>;

export const CompleteBody = z.object({ paymentToken: z.string().min(1).max(4096) });

export const CancelResponse = z.object({ reservation: ReservationView, refund: MoneySchema });

export const ReservationListQuery = z.object({
  lotId: LotId.optional(),
  status: ReservationStatus.optional(),
  limit: queryNumber((n) => n.int().min(1).max(200).default(50)),
  /** Opaque; from the previous page's nextCursor. */
  cursor: z.string().max(200).optional(),
});

export const ReservationListResponse = z.object({
  reservations: z.array(ReservationView),
  nextCursor: z.string().nullable(),
});

export const QrQuery = z.object({ format: z.enum(['png', 'svg']).default('png') });

export const KeysResponse = z.object({ keys: z.array(PublicKeySchema) });

/** A signing key as the admin sees it (never the private half). */
export const SigningKeyView = PublicKeySchema.extend({
  notBefore: IsoTimestamp,
  notAfter: IsoTimestamp.nullable(),
  revoked: z.boolean(),
});
export const SigningKeyList = z.object({ keys: z.array(SigningKeyView) });
export const RotateKeysBody = z
  .object({
    /** How long the current key keeps verifying; default KEY_ROTATION_GRACE_DAYS. */
    graceDays: z.number().int().min(0).max(3650).optional(),
  })
  .default({});
export const RotateKeysResponse = z.object({ current: SigningKeyView, retired: SigningKeyView.nullable() });
export const KeyIdParams = z.object({ kid: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/) });

// ---------------------------------------------------------------------------------------------
// Gate facts (lots without an edge controller)

/** `reservationId` or `plate` (or both): the document states it as an `anyOf` of the two. */
export const GateFactBody = z
  .object({
    reservationId: Id.optional(),
    plate: PlateInput.optional(),
    /** When it happened; defaults to now, may not be in the future. */
    at: IsoTimestamp.optional(),
  })
  .refine((b) => b.reservationId !== undefined || b.plate !== undefined, {
    message: 'give reservationId or plate',
    path: ['reservationId'],
  })
  .meta({ anyOf: [{ required: ['reservationId'] }, { required: ['plate'] }] });
export type GateFactBody = z.infer<typeof GateFactBody>;

export const ArrivalResponse = z.object({ reservation: ReservationView });

export const DepartureResponse = z.object({
  reservation: ReservationView,
  overstayMinutes: z.number().int().nonnegative(),
  /** Overstay charged to the stored payment method, or null. */
  charge: MoneySchema.nullable(),
  /** Refund for early departure per lot policy, or null. */
  refund: MoneySchema.nullable(),
});

// ---------------------------------------------------------------------------------------------
// Payments sandbox

export const SandboxPayBody = z.object({
  /** The checkout id: the last path segment of the paymentUrl. */
  checkout: z.string().min(1).max(2048),
});

export const SandboxPayResponse = z.object({
  paymentToken: z.string(),
  /** What the checkout paid (a reservation id, `exit:…`, `debt:…`). */
  reference: z.string(),
  /** Set when the reference is a booking's. */
  reservationId: Id.optional(),
  amount: MoneySchema,
});

export const CheckoutParams = z.object({ checkout: z.string().min(1).max(2048) });

// ---------------------------------------------------------------------------------------------
// Operations

export const HealthResponse = z.object({ status: z.literal('ok') });
export const ReadyResponse = z.object({
  status: z.enum(['ready', 'unavailable']),
  database: z.enum(['ok', 'unreachable']),
});
