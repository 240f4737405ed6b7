import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import QRCode from 'qrcode';
import { ErrorBody, IdempotencyHeaders, LotParams } from '../../protocol/http.js';
import { toIso } from '../../protocol/slots.js';
import { signValidation } from '../../protocol/validation.js';
import { IssuedValidation, IssueValidationBody, ValidationReport } from '../../protocol/validations-http.js';
import { lotNotFound } from '../errors.js';
import { newId } from '../ids.js';
import type { AuthUser } from '../plugins/auth.js';
import type { CloudApi } from './api.js';

/**
 * Merchant validations (docs/pricing.md#validations): a validator staffed on a lot (a shop, a cinema)
 * — or the lot's operator — issues signed codes; the operator reads the per-merchant report, with
 * the codes the lots reported used more than once.
 */
export const validationRoutes: FastifyPluginAsyncZod = async (app) => {
  issueRoute(app);
  reportRoute(app);
};

const notFound = lotNotFound;

/** Admins anywhere; operators and validators on the lots they are staffed on. */
async function staffed(app: CloudApi, user: AuthUser, lotId: string): Promise<boolean> {
  if (user.role === 'admin') return true;
  if (user.role !== 'operator' && user.role !== 'validator') return false;
  return app.lots.isStaff(lotId, user.id);
}

function issueRoute(app: CloudApi): void {
  app.post(
    '/v1/lots/:lotId/validations',
    {
      config: { access: ['validator', 'operator', 'admin'], idempotent: true },
      schema: {
        tags: ['validations'],
        summary: 'Issue a validation (free minutes, percent off or a flat price) as a signed code and QR',
        description:
          'The code is signed with the credential key ring, so the lot verifies it offline; it can be used ' +
          'once, on a drive-up stay at this lot, until `expiresAt`. Send an `Idempotency-Key` to issue once.',
        headers: IdempotencyHeaders,
        params: LotParams,
        body: IssueValidationBody,
        response: {
          201: IssuedValidation,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          422: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const { lotId } = req.params;
      if (!(await staffed(app, req.user, lotId))) throw notFound(lotId);
      const lot = await app.lots.get(lotId);
      if (lot === null) throw notFound(lotId);
      const now = app.clock.now();
      const { kind, value, validMinutes } = req.body;
      const id = newId(app.random);
      const exp = now + validMinutes * 60_000;
      const code = signValidation(
        { id, lot: lotId, merchant: req.user.id, kind, value, exp },
        app.signingKeys.signer,
      );
      await app.db.rows(
        `insert into validations (id, lot_id, merchant_id, kind, value, currency, issued_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [id, lotId, req.user.id, kind, value, lot.rates.currency, toIso(now), toIso(exp)],
      );
      const qrSvg = await QRCode.toString(code, { type: 'svg', errorCorrectionLevel: 'M' });
      return reply
        .code(201)
        .send({ id, lotId, kind, value, currency: lot.rates.currency, expiresAt: toIso(exp), code, qrSvg });
    },
  );
}

interface MerchantRow {
  merchant_id: string;
  email: string;
  issued: number;
  used: number;
  discount: string;
}

interface FlagRow {
  validation_id: string;
  merchant_id: string;
  uses: Array<{ lotId: string; sessionId: string; at: string }>;
}

function reportRoute(app: CloudApi): void {
  app.get(
    '/v1/lots/:lotId/validations/report',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['validations'],
        summary: 'Per merchant: validations issued, used and the discount given; codes used more than once',
        params: LotParams,
        response: { 200: ValidationReport, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const { lotId } = req.params;
      if (!(await app.canActOnLot(req.user, lotId))) throw notFound(lotId);
      const lot = await app.lots.get(lotId);
      if (lot === null) throw notFound(lotId);
      const merchants = await app.db.rows<MerchantRow>(
        `select v.merchant_id, u.email, count(*)::int as issued,
                count(x.validation_id)::int as used, coalesce(sum(x.discount), 0)::text as discount
           from validations v
           join users u on u.id = v.merchant_id
           left join (select validation_id, sum(discount_minor) as discount
                        from validation_uses group by validation_id) x on x.validation_id = v.id
          where v.lot_id = $1
          group by v.merchant_id, u.email
          order by u.email`,
        [lotId],
      );
      const flagged = await app.db.rows<FlagRow>(
        `select v.id as validation_id, v.merchant_id,
                json_agg(json_build_object('lotId', u.lot_id, 'sessionId', u.session_id,
                         'at', to_char(u.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) order by u.at) as uses
           from validations v join validation_uses u on u.validation_id = v.id
          where v.lot_id = $1
          group by v.id, v.merchant_id
         having count(*) > 1
          order by v.id`,
        [lotId],
      );
      return {
        lotId,
        merchants: merchants.map((m) => ({
          merchantId: m.merchant_id,
          email: m.email,
          issued: m.issued,
          used: m.used,
          discount: { amount: Number(m.discount), currency: lot.rates.currency },
        })),
        flagged: flagged.map((f) => ({
          validationId: f.validation_id,
          merchantId: f.merchant_id,
          uses: f.uses,
        })),
      };
    },
  );
}
