import type { AttendantApi, RouteDeps } from '../context.js';
import * as S from '../schemas.js';

/** The lanes' live status, and opening one by hand (with a reason, audited by the lane). */
export function laneRoutes(api: AttendantApi, { edge, who }: RouteDeps): void {
  api.get('/api/lanes', { schema: { response: { 200: S.LanesReply } } }, async () => ({
    lanes: edge.lanes().map((l) => l.status()),
  }));

  api.post(
    '/api/lanes/:laneId/open',
    {
      schema: {
        params: S.LaneParams,
        body: S.ManualOpenBody,
        response: { 200: S.ActionReply, 404: S.ErrorBody, 409: S.ErrorBody },
      },
    },
    async (request, reply) => {
      const lane = edge.lanes().find((l) => l.config.id === request.params.laneId);
      if (!lane)
        return reply.code(404).send({ error: 'not_found', message: `no lane ${request.params.laneId}` });
      const result = lane.manualOpen({
        attendant: who(request).username,
        reason: request.body.reason,
        commandId: null,
      });
      if (!result.ok) return reply.code(409).send({ error: 'conflict', message: result.detail });
      return result;
    },
  );
}
