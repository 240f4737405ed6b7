import { z } from 'zod';
import { IsoTimestamp, MoneySchema } from './domain.js';
import { ValidationKind } from './validation.js';

/** HTTP bodies of the validation routes (docs/pricing.md#validations). */

export const IssueValidationBody = z
  .object({
    kind: ValidationKind,
    /** Minutes free (1–10080), percent off (1–100), or the flat price of the stay (minor units). */
    value: z.number().int().min(0).max(10_000_000),
    /** How long the code can be used, from now (default a day). */
    validMinutes: z
      .number()
      .int()
      .min(1)
      .max(60 * 24 * 30)
      .default(60 * 24),
  })
  .refine((b) => b.kind !== 'percent' || (b.value >= 1 && b.value <= 100), {
    message: 'a percent off is 1 to 100',
    path: ['value'],
  })
  .refine((b) => b.kind !== 'minutes' || (b.value >= 1 && b.value <= 60 * 24 * 7), {
    message: 'free minutes are 1 to 10080',
    path: ['value'],
  });

export const IssuedValidation = z
  .object({
    id: z.string(),
    lotId: z.string(),
    kind: ValidationKind,
    value: z.number().int(),
    currency: z.string(),
    expiresAt: IsoTimestamp,
    /** The signed code, what the QR holds (the edge verifies it offline). */
    code: z.string(),
    /** The code as an SVG QR image, ready to print or show. */
    qrSvg: z.string(),
  })
  .meta({ id: 'IssuedValidation' });

export const ValidationReport = z
  .object({
    lotId: z.string(),
    merchants: z.array(
      z.object({
        merchantId: z.string(),
        email: z.string(),
        issued: z.number().int().nonnegative(),
        used: z.number().int().nonnegative(),
        /** What the uses took off exit fees. */
        discount: MoneySchema,
      }),
    ),
    /** Codes reported used more than once (two lots or two exits while offline). */
    flagged: z.array(
      z.object({
        validationId: z.string(),
        merchantId: z.string(),
        uses: z.array(z.object({ lotId: z.string(), sessionId: z.string(), at: IsoTimestamp })),
      }),
    ),
  })
  .meta({ id: 'ValidationReport' });
