import { z } from 'zod';
import { AccessBandSchema, ClosureSchema } from './hours.js';
import { RatePlanSchema } from './rate-plan.js';

/**
 * The domain vocabulary shared by cloud, edge and simulator. zod objects are non-strict:
 * unknown fields are stripped, so a newer minor version can add fields without breaking older readers.
 */

export const Id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only');
export const LotId = Id;
export const IsoTimestamp = z.iso.datetime({ offset: true });
export const Currency = z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code, e.g. EUR');
export const MinorUnits = z.number().int().safe();

export const MoneySchema = z.object({ amount: MinorUnits, currency: Currency });

export const VehicleType = z.enum(['car', 'motorcycle', 'van', 'ev', 'accessible']);
export type VehicleType = z.infer<typeof VehicleType>;

/** Which spot types a vehicle type may use (an EV may park in a car spot, not the reverse). */
export const ELIGIBLE_SPOT_TYPES: Record<VehicleType, readonly VehicleType[]> = {
  car: ['car'],
  motorcycle: ['motorcycle'],
  van: ['van'],
  ev: ['ev', 'car'],
  accessible: ['accessible'],
};

/** `permit`: spots held for permit holders (docs/permits.md); neither sold nor given to drive-ups. */
export const SpotPool = z.enum(['bookable', 'driveup', 'permit']);
export type SpotPool = z.infer<typeof SpotPool>;

export const SpotSchema = z.object({
  id: Id,
  label: z.string().min(1).max(32),
  level: z.string().max(32).default('0'),
  type: VehicleType,
  pool: SpotPool,
});
export type Spot = z.infer<typeof SpotSchema>;

export const DemandStepSchema = z.object({
  fromOccupancyPct: z.number().int().min(0).max(100),
  multiplierPct: z.number().int().min(10).max(1000),
});

export const RateCardSchema = z.object({
  currency: Currency,
  /** Minor units per hour; charged per started 15-minute slot (rate / 4). */
  hourlyRate: MinorUnits.nonnegative(),
  /** Cap per calendar day in the lot's time zone, or null. */
  dailyMax: MinorUnits.nonnegative().nullable().default(null),
  dynamicPricing: z.array(DemandStepSchema).max(20).nullable().default(null),
});
export type RateCardInput = z.input<typeof RateCardSchema>;

export const LotPolicySchema = z.object({
  maxDurationMinutes: z
    .number()
    .int()
    .min(15)
    .max(60 * 24 * 31)
    .default(60 * 24 * 7),
  bookingHorizonDays: z.number().int().min(1).max(366).default(90),
  holdMinutes: z.number().int().min(1).max(120).default(15),
  noShowGraceMinutes: z
    .number()
    .int()
    .min(0)
    .max(60 * 48)
    .default(8 * 60),
  earlyArrivalMinutes: z.number().int().min(0).max(240).default(15),
  exitGraceMinutes: z.number().int().min(0).max(240).default(0),
  antiPassback: z.enum(['hard', 'soft']).default('hard'),
  plateMinConfidence: z.number().min(0).max(1).default(0.8),
  /** How far ahead an online drive-up may borrow a bookable spot. */
  overflowHorizonMinutes: z
    .number()
    .int()
    .min(15)
    .max(60 * 24)
    .default(4 * 60),
  /** A plate with open debt at the entry: admit with "owes €X" shown (warn), or refuse entry (refuse). */
  debtPolicy: z.enum(['warn', 'refuse']).default('warn'),
  overflowTimeoutMs: z.number().int().min(100).max(10_000).default(1500),
  refund: z.enum(['none', 'full_before_start']).default('none'),
  /**
   * Permits sold may reach the permit pool's spots times this percentage (contract parking oversells,
   * e.g. 125): not every holder is in at once. Absent = 100. The edge still admits at most the pool's spots.
   */
  permitOversellPct: z.number().int().min(100).max(300).optional(),
  /** When bookings may lie (lot time zone); absent or [] = always open (docs/permits.md#changing-a-lot). */
  operatingHours: z.array(AccessBandSchema).max(21).optional(),
  /** Day ranges the lot is closed to bookings, with the reason. */
  closures: z.array(ClosureSchema).max(100).optional(),
});
export type LotPolicy = z.infer<typeof LotPolicySchema>;

export const GeoPoint = z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) });

/** Lot configuration as the operator defines it and as the cloud ships it to the edge. */
export const LotConfigSchema = z.object({
  id: LotId,
  name: z.string().min(1).max(120),
  timeZone: z.string().min(1).max(64),
  location: GeoPoint,
  rates: RateCardSchema,
  /** The lot's rate plan (docs/pricing.md); null: priced by `rates` alone (hourly + daily cap). */
  ratePlan: RatePlanSchema.nullable().optional(),
  policy: LotPolicySchema.default(LotPolicySchema.parse({})),
  spots: z.array(SpotSchema).min(1).max(20_000),
});
export type LotConfig = z.infer<typeof LotConfigSchema>;

export const ReservationStatus = z.enum([
  'TENTATIVE',
  'CONFIRMED',
  'CHECKED_IN',
  'COMPLETED',
  'CANCELLED',
  'EXPIRED',
  'NO_SHOW',
]);
export type ReservationStatus = z.infer<typeof ReservationStatus>;

/** Statuses that hold slots in the bitmap (and in the exclusion constraints). */
export const ACTIVE_STATUSES: readonly ReservationStatus[] = ['TENTATIVE', 'CONFIRMED', 'CHECKED_IN'];

export const ReservationKind = z.enum(['booking', 'driveup']);

/** A reservation as the edge mirrors it and as the API reports it. */
export const ReservationSchema = z.object({
  id: Id,
  lotId: LotId,
  spotId: Id,
  spotLabel: z.string(),
  vehicleType: VehicleType,
  plate: z.string().max(16),
  start: IsoTimestamp,
  end: IsoTimestamp,
  status: ReservationStatus,
  kind: ReservationKind.default('booking'),
  price: MoneySchema,
});
export type Reservation = z.infer<typeof ReservationSchema>;

export const Role = z.enum(['driver', 'partner', 'attendant', 'operator', 'admin', 'validator']);
export type Role = z.infer<typeof Role>;
