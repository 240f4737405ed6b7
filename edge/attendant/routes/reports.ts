import { currencyMinorDigits } from '../../../protocol/money.js';
import { auditEntry } from '../../bus.js';
import type { AttendantApi, RouteDeps } from '../context.js';
import { minorToDecimal, toCsv } from '../csv.js';
import * as S from '../schemas.js';
import { iso, unableToCollectView } from '../views.js';

const DAY_MS = 86_400_000;

/** Unable-to-collect (JSON and CSV, default: the last 31 days) and the audit trail. */
export function reportRoutes(api: AttendantApi, { edge }: RouteDeps): void {
  const reportWindow = (q: { from?: string | undefined; to?: string | undefined }) => {
    const toMs = q.to ? Date.parse(q.to) : edge.clock.now() + 1;
    const fromMs = q.from ? Date.parse(q.from) : toMs - 31 * DAY_MS;
    return { fromMs, toMs, records: edge.store.attendants.unableToCollect(fromMs, toMs) };
  };

  api.get(
    '/api/reports/unable-to-collect',
    { schema: { querystring: S.ReportQuery, response: { 200: S.UnableToCollectReply } } },
    async (request) => {
      const { fromMs, toMs, records } = reportWindow(request.query);
      const totals = new Map<string, number>();
      for (const r of records)
        totals.set(r.amount.currency, (totals.get(r.amount.currency) ?? 0) + r.amount.amount);
      return {
        from: iso(fromMs),
        to: iso(toMs),
        records: records.map(unableToCollectView),
        totals: [...totals].map(([currency, amount]) => ({ amount, currency })),
      };
    },
  );

  api.get(
    '/api/reports/unable-to-collect.csv',
    { schema: { querystring: S.ReportQuery } },
    async (request, reply) => {
      const { records } = reportWindow(request.query);
      const csv = toCsv(
        ['at', 'lane', 'session', 'reservation', 'plate', 'amount', 'currency', 'event_id'],
        records.map((r) => [
          iso(r.at),
          r.laneId,
          r.sessionId,
          r.reservationId,
          r.plate,
          minorToDecimal(r.amount.amount, currencyMinorDigits(r.amount.currency)),
          r.amount.currency,
          r.eventId,
        ]),
      );
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="unable-to-collect-${edge.lotId}.csv"`)
        .send(csv);
    },
  );

  api.get(
    '/api/audit',
    { schema: { querystring: S.AuditQuery, response: { 200: S.AuditReply } } },
    async (request) => ({
      entries: edge.store.attendants.recentAudit(request.query.limit).map(auditEntry),
    }),
  );
}
