import type { AttendantApi, RouteDeps } from '../context.js';
import * as S from '../schemas.js';
import { alarmView } from '../views.js';

/** Alarms raised at the gates (tailgate, faults, lost devices) and their acknowledgement. */
export function alarmRoutes(api: AttendantApi, { edge, who }: RouteDeps): void {
  api.get(
    '/api/alarms',
    { schema: { querystring: S.AlarmsQuery, response: { 200: S.AlarmsReply } } },
    async (request) => ({
      alarms: edge.store.attendants
        .alarms({ openOnly: request.query.status === 'open', limit: request.query.limit })
        .map(alarmView),
    }),
  );

  api.post(
    '/api/alarms/:alarmId/ack',
    {
      schema: {
        params: S.AlarmParams,
        body: S.AlarmAckBody.optional(),
        response: { 200: S.AlarmView, 404: S.ErrorBody, 409: S.ErrorBody },
      },
    },
    async (request, reply) => {
      const id = request.params.alarmId;
      const acked = edge.store.ledger.acknowledgeAlarm({
        atMs: edge.clock.now(),
        alarmId: id,
        attendant: who(request).username,
        note: request.body?.note ?? null,
      });
      if (acked) return alarmView(acked);
      return edge.store.attendants.alarmById(id)
        ? reply.code(409).send({ error: 'conflict', message: 'alarm already acknowledged' })
        : reply.code(404).send({ error: 'not_found', message: `no alarm ${id}` });
    },
  );
}
