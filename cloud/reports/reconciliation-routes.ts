import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ErrorBody, LotParams } from '../../protocol/http.js';
import { ReconciliationQuery, ReconciliationReport } from '../../protocol/receipts.js';
import { HttpError } from '../errors.js';
import { reconciliationCsv, reconciliationReport } from './reconciliation.js';

/** `GET /v1/lots/{lotId}/reconciliation`: per day, fees due vs captured vs refunded vs owed (docs/money.md). */
export const reconciliationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/lots/:lotId/reconciliation',
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['reports'],
        summary: 'Per lot-local day: fees due, captured, refunded, owed, written off, and the difference',
        description:
          '`from` and `to` are lot-local dates, both included, at most 400 days. In the lot’s currency, minor ' +
          'units. `difference` = due − captured + refunded − owed − writtenOff: money nobody accounts for. ' +
          '`format=csv` answers text/csv: a header row, one row per day, then a `total` row.',
        params: LotParams,
        querystring: ReconciliationQuery,
        response: {
          200: ReconciliationReport,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const { lotId } = req.params;
      const lot = (await app.canActOnLot(req.user, lotId)) ? await app.lots.get(lotId) : null;
      if (lot === null) {
        throw new HttpError({
          status: 404,
          error: 'lot_not_found',
          message: `lot ${lotId} not found`,
          field: 'params.lotId',
        });
      }
      const { from, to, format } = req.query;
      const report = await reconciliationReport(
        app.db.pooled,
        { id: lot.id, timeZone: lot.timeZone, currency: lot.rates.currency },
        { from, to },
      );
      if (format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${lot.id}-reconciliation-${from}-${to}.csv"`)
          .send(reconciliationCsv(report) as never);
      }
      return report;
    },
  );
};
