import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { ErrorBody, LotParams } from '../../protocol/http.js';
import {
  type AnyReport,
  NoShowsReport,
  OccupancyReport,
  ReportQuery,
  type ReportKind,
  RevenueReport,
  UsageReport,
} from '../../protocol/reports.js';
import { HttpError } from '../errors.js';
import { reportCsv } from '../reports/csv.js';
import {
  noShowsReport,
  occupancyReport,
  type ReportLot,
  type ReportRange,
  revenueReport,
  usageReport,
} from '../reports/reports.js';
import type { Queryable } from '../db/database.js';
import type { CloudApi } from './api.js';

/**
 * Reports for operators (their own lots) and admins: `GET /v1/lots/{lotId}/reports/{kind}`, JSON
 * or, with `format=csv`, CSV (docs/reports.md). Read-only; each answers from a few statements.
 */
export const reportRoutes: FastifyPluginAsyncZod = async (app) => {
  reportRoute(app, 'occupancy', OccupancyReport, occupancyReport, 'Vehicles inside per bucket and pool');
  reportRoute(app, 'revenue', RevenueReport, revenueReport, 'Money per bucket and currency (minor units)');
  reportRoute(app, 'usage', UsageReport, usageReport, 'Arrivals, departures and average stay per bucket');
  reportRoute(app, 'no-shows', NoShowsReport, noShowsReport, 'No-shows and forfeited payments per bucket');
};

type Build = (q: Queryable, lot: ReportLot, range: ReportRange) => Promise<AnyReport>;

function reportRoute(
  app: CloudApi,
  kind: ReportKind,
  schema: z.ZodType<AnyReport>,
  build: Build,
  summary: string,
): void {
  app.get(
    `/v1/lots/:lotId/reports/${kind}`,
    {
      config: { access: ['operator', 'admin'] },
      schema: {
        tags: ['reports'],
        summary,
        description:
          'Buckets are calendar hours, days or months in the lot’s time zone, labelled by their local ' +
          'start with its offset; `from` is rounded down and `to` up to bucket boundaries; at most 400 ' +
          'days. `format=csv` answers text/csv with a header row and one row per bucket (per bucket and ' +
          'currency for money).',
        params: LotParams,
        querystring: ReportQuery,
        response: { 200: schema, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
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
      const { from, to, bucket, format } = req.query;
      const report = await app.db.tx(async (tx) => {
        // Report statements read many rows on rough estimates: compiling them (JIT) costs more
        // than it saves (measured: ~1 s of a 4 s year report), and a year's sessions grouped in
        // memory need more than the default 4 MB.
        await tx.query(`set local jit = off; set local work_mem = '64MB'`);
        return build(
          tx,
          { id: lot.id, timeZone: lot.timeZone, currency: lot.rates.currency },
          { from, to, bucket },
        );
      });
      if (format === 'csv') {
        const name = `${lot.id}-${kind}-${bucket}-${report.from.slice(0, 10)}.csv`.replace(/[^\w.-]/g, '_');
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}"`)
          .send(reportCsv(report) as never); // text, not serialised by the JSON schema
      }
      return report;
    },
  );
}
