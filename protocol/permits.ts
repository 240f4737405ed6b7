import { z } from 'zod';
import { Currency, Id, IsoTimestamp, LotId, MinorUnits } from './domain.js';
import { type AccessBand, AccessBandSchema, inAccessHours, localTimeOf } from './hours.js';
import { normalizePlate } from './plates.js';

export { type AccessBand, AccessBandSchema, inAccessHours, localTimeOf };

/**
 * Permits (contract parking, docs/permits.md): a holder may enter and leave a lot any number of
 * times while the permit is valid, within its access hours, with up to `maxInside` of its vehicles
 * inside at once, and owes nothing at the exit. Permits park in the lot's `permit` pool, which the
 * cloud never sells to bookings. The schemas here are the HTTP bodies and the `down/changes` shape;
 * `permitAccess` is the one rule both the cloud (QR issue) and the edge (the gate) apply.
 */

/** How many plates one permit may name. */
export const MAX_PERMIT_PLATES = 5;

export const PermitStatus = z.enum(['active', 'suspended', 'cancelled']);
export type PermitStatus = z.infer<typeof PermitStatus>;
export const PermitPeriod = z.enum(['week', 'month', 'quarter', 'year']);

/** Normalised plates (upper case, no separators), no duplicates. */
const PermitPlates = z
  .array(z.string().min(2).max(16))
  .min(1)
  .max(MAX_PERMIT_PLATES)
  .superRefine((plates, ctx) => {
    const seen = new Set<string>();
    plates.forEach((p, i) => {
      const n = normalizePlate(p);
      if (n === null) {
        ctx.addIssue({ code: 'custom', message: 'not a licence plate', path: [i] });
      } else if (seen.has(n)) {
        ctx.addIssue({ code: 'custom', message: `plate ${n} is listed twice`, path: [i] });
      } else seen.add(n);
    });
  })
  .transform((plates) => plates.map((p) => normalizePlate(p) ?? p));

/** A permit as the API reports it and as `down/changes` carries it (the full state: applying is an upsert). */
export const PermitSchema = z.object({
  id: Id,
  lotId: LotId,
  holder: z.string().min(1).max(120),
  plates: z.array(z.string().max(16)).min(1).max(MAX_PERMIT_PLATES),
  validFrom: IsoTimestamp,
  validTo: IsoTimestamp,
  /** Empty: any time. Otherwise the permit opens the gate only inside one of the bands (lot time zone). */
  accessHours: z.array(AccessBandSchema).max(21).default([]),
  maxInside: z.number().int().min(1).max(50),
  price: z.object({ amount: MinorUnits.nonnegative(), currency: Currency }),
  period: PermitPeriod,
  status: PermitStatus,
  /** Bumped on every change; the edge keeps the highest it saw. */
  version: z.number().int().positive(),
});
export type Permit = z.infer<typeof PermitSchema>;

const permitFields = {
  holder: z.string().trim().min(1).max(120),
  plates: PermitPlates,
  validFrom: IsoTimestamp,
  validTo: IsoTimestamp,
  accessHours: z.array(AccessBandSchema).max(21),
  maxInside: z.number().int().min(1).max(50),
  price: z.object({ amount: MinorUnits.nonnegative(), currency: Currency }),
  period: PermitPeriod,
};

export const CreatePermitBody = z
  .strictObject({
    ...permitFields,
    accessHours: permitFields.accessHours.default([]),
    maxInside: permitFields.maxInside.default(1),
  })
  .refine((b) => Date.parse(b.validFrom) < Date.parse(b.validTo), {
    message: 'validTo must be after validFrom',
    path: ['validTo'],
  });
export type CreatePermitBody = z.infer<typeof CreatePermitBody>;

/** Any subset of the fields; `status` suspends (`suspended`) or resumes (`active`). Cancel is DELETE. */
export const PatchPermitBody = z
  .strictObject({
    holder: permitFields.holder.optional(),
    plates: permitFields.plates.optional(),
    validFrom: permitFields.validFrom.optional(),
    validTo: permitFields.validTo.optional(),
    accessHours: permitFields.accessHours.optional(),
    maxInside: permitFields.maxInside.optional(),
    price: permitFields.price.optional(),
    period: permitFields.period.optional(),
    status: z.enum(['active', 'suspended']).optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'give at least one field to change' })
  .meta({ minProperties: 1 });
export type PatchPermitBody = z.infer<typeof PatchPermitBody>;

export const PermitParams = z.object({ id: Id });
export const PermitListQuery = z.object({
  status: PermitStatus.optional(),
  limit: z.coerce.number({ error: 'expected a number' }).int().min(1).max(1000).default(200),
});
export const PermitListResponse = z.object({ permits: z.array(PermitSchema) });

// ---------------------------------------------------------------------------------------------
// The access rule

export type PermitRefusal = 'suspended' | 'cancelled' | 'not_yet_valid' | 'expired' | 'outside_hours';

/**
 * May the permit open the gate at `nowMs`? Status, validity [validFrom, validTo) and access hours in
 * the lot's time zone. Anti-passback (vehicles inside ≤ maxInside) is the gate's own count.
 */
export function permitAccess(
  p: Pick<Permit, 'status' | 'accessHours'> & { validFromMs: number; validToMs: number },
  nowMs: number,
  timeZone: string,
): PermitRefusal | null {
  if (p.status === 'cancelled') return 'cancelled';
  if (p.status === 'suspended') return 'suspended';
  if (nowMs < p.validFromMs) return 'not_yet_valid';
  if (nowMs >= p.validToMs) return 'expired';
  if (p.accessHours.length > 0 && !inAccessHours(p.accessHours, localTimeOf(nowMs, timeZone)))
    return 'outside_hours';
  return null;
}
