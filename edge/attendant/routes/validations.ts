import { z } from 'zod';
import { MoneySchema } from '../../../protocol/domain.js';
import {
  describeValidation,
  ValidationKind,
  type ValidationRefusal,
  verifyValidation,
} from '../../../protocol/validation.js';
import type { AttendantApi, RouteDeps } from '../context.js';
import * as S from '../schemas.js';

const ValidationBody = z.object({
  /** The code as the merchant's QR holds it (scanned into the console, or pasted). */
  code: z.string().trim().min(1).max(2000),
});

const ValidationReply = z.object({
  validation: z.object({
    id: z.string(),
    merchant: z.string(),
    kind: ValidationKind,
    value: z.number(),
    label: z.string(),
  }),
  /** The fee if the vehicle left now, with the validation. */
  charge: MoneySchema.nullable(),
  due: MoneySchema.nullable(),
});

/** What the attendant (and the driver at the booth) is told when a code is refused. */
export const VALIDATION_REFUSALS: Record<ValidationRefusal | 'used' | 'stay_validated' | 'prepaid', string> =
  {
    malformed: 'Not a validation code',
    unknown_key: 'Validation not recognised here',
    bad_signature: 'Not a valid validation code',
    expired: 'This validation has expired',
    wrong_lot: 'This validation is for another car park',
    used: 'This validation has already been used',
    stay_validated: 'This stay is already validated',
    prepaid: 'A booked stay is prepaid: validations apply to drive-ups',
  };

/**
 * A merchant validation redeemed on a vehicle inside (docs/pricing.md#validations): verified offline
 * with the lot's public keys, recorded at once (single use), applied to the exit fee.
 */
export function validationRoutes(api: AttendantApi, { edge, who }: RouteDeps): void {
  api.post(
    '/api/sessions/:sessionId/validation',
    {
      schema: {
        params: S.SessionParams,
        body: ValidationBody,
        response: { 200: ValidationReply, 400: S.ErrorBody, 404: S.ErrorBody, 409: S.ErrorBody },
      },
    },
    async (request, reply) => {
      const session = edge.store.ledger.sessionById(request.params.sessionId);
      if (!session || session.exitedAt !== null) {
        return reply.code(404).send({ error: 'not_found', message: 'no vehicle inside with this session' });
      }
      const refuse = (status: 400 | 409, reason: keyof typeof VALIDATION_REFUSALS) =>
        reply.code(status).send({ error: reason, message: VALIDATION_REFUSALS[reason] });
      if (session.kind === 'booking') return refuse(409, 'prepaid');
      const nowMs = edge.clock.now();
      const { publicKeys } = edge.store.mirror.config();
      const checked = verifyValidation(request.body.code, publicKeys, { lotId: edge.store.lotId, nowMs });
      if (!checked.ok) {
        const status = checked.error === 'expired' || checked.error === 'wrong_lot' ? 409 : 400;
        return refuse(status, checked.error);
      }
      const claims = checked.value;
      const redeemed = edge.store.validations.redeem({
        claims,
        sessionId: session.id,
        atMs: nowMs,
        attendant: who(request).username,
      });
      if (!redeemed.ok) return refuse(409, redeemed.reason);
      const plan = edge.exitCharge(session);
      const { currency } = edge.store.mirror.config().lot.rates;
      return {
        validation: {
          id: claims.id,
          merchant: claims.merchant,
          kind: claims.kind,
          value: claims.value,
          label: describeValidation(claims.kind, claims.value, currency),
        },
        charge: plan.charge,
        due: plan.due,
      };
    },
  );
}
