import { money } from '../../../protocol/money.js';
import type { MirrorReservation, PassbackState, VehicleSession } from '../../store/types.js';
import type { AttendantApi, RouteDeps } from '../context.js';
import * as S from '../schemas.js';
import { reservationView } from '../views.js';

/** Finding a vehicle or booking, the vehicles inside, cash taken at the booth, passback resets. */
export function vehicleRoutes(api: AttendantApi, deps: RouteDeps): void {
  lookupRoute(api, deps);
  api.get('/api/sessions', { schema: { response: { 200: S.SessionsReply } } }, async () => ({
    sessions: deps.edge.store.attendants.sessionsInside().map(deps.views.session),
  }));
  cashRoute(api, deps);
  passbackResetRoute(api, deps);
}

/** A plate or a booking id: its bookings, its sessions, and the passback state of each booking. */
function lookupRoute(api: AttendantApi, { edge, views }: RouteDeps): void {
  api.get(
    '/api/lookup',
    { schema: { querystring: S.LookupQuery, response: { 200: S.LookupReply } } },
    async (request) => {
      const { plate, reservationId } = request.query;
      let reservations: MirrorReservation[];
      let sessions: VehicleSession[];
      if (plate !== undefined) {
        ({ reservations, sessions } = edge.store.attendants.lookupPlate(plate));
      } else {
        const found = edge.store.attendants.lookupReservation(reservationId!);
        reservations = found.reservation ? [found.reservation] : [];
        sessions = found.sessions;
      }
      const passback: Record<string, PassbackState> = {};
      for (const r of reservations) {
        const state = edge.store.ledger.passbackState(r.id);
        if (state) passback[r.id] = state;
      }
      return {
        reservations: reservations.map(reservationView),
        sessions: sessions.map(views.session),
        passback,
      };
    },
  );
}

/** Cash taken at the booth for a vehicle inside; the reply says what is still due. */
function cashRoute(api: AttendantApi, { edge, who }: RouteDeps): void {
  api.post(
    '/api/sessions/:sessionId/cash',
    {
      schema: {
        params: S.SessionParams,
        body: S.CashBody,
        response: { 200: S.CashReply, 404: S.ErrorBody, 409: S.ErrorBody },
      },
    },
    async (request, reply) => {
      const session = edge.store.ledger.sessionById(request.params.sessionId);
      if (!session || session.exitedAt !== null) {
        return reply.code(404).send({ error: 'not_found', message: 'no vehicle inside with this session' });
      }
      const plan = edge.exitCharge(session);
      if (plan.due === null) return reply.code(409).send({ error: 'nothing_due', message: 'nothing is due' });
      const paid = money(request.body.amount ?? plan.due.amount, plan.due.currency);
      const recorded = edge.store.ledger.recordCashPayment({
        atMs: edge.clock.now(),
        sessionId: session.id,
        amount: paid,
        attendant: who(request).username,
      });
      if (!recorded) return reply.code(404).send({ error: 'not_found', message: 'the vehicle has left' });
      const after = edge.exitCharge(recorded.session);
      return { paid, stillDue: after.due, eventId: recorded.event.eventId };
    },
  );
}

function passbackResetRoute(api: AttendantApi, { edge, who }: RouteDeps): void {
  api.post(
    '/api/passback/:reservationId/reset',
    {
      schema: {
        params: S.ReservationParams,
        body: S.PassbackResetBody,
        response: { 200: S.PassbackResetReply, 404: S.ErrorBody },
      },
    },
    async (request, reply) => {
      const result = edge.store.ledger.resetPassback({
        atMs: edge.clock.now(),
        reservationId: request.params.reservationId,
        attendant: who(request).username,
        reason: request.body.reason,
        commandId: null,
      });
      if (result === null)
        return reply.code(404).send({ error: 'not_found', message: 'this lot knows no such reservation' });
      return { ok: true, closedSessionId: result.closedSessionId, eventId: result.event.eventId };
    },
  );
  // A drive-up refused as "already inside" has no reservation: reset by its vehicle session.
  api.post(
    '/api/passback/session/:sessionId/reset',
    {
      schema: {
        params: S.SessionParams,
        body: S.PassbackResetBody,
        response: { 200: S.PassbackResetReply, 404: S.ErrorBody },
      },
    },
    async (request, reply) => {
      const result = edge.store.ledger.resetPassbackBySession({
        atMs: edge.clock.now(),
        sessionId: request.params.sessionId,
        attendant: who(request).username,
        reason: request.body.reason,
        commandId: null,
      });
      if (result === null)
        return reply.code(404).send({ error: 'not_found', message: 'no vehicle inside with this session' });
      return { ok: true, closedSessionId: result.closedSessionId, eventId: result.event.eventId };
    },
  );
}
