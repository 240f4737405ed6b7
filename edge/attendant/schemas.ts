import { z } from 'zod';
import { MoneySchema } from '../../protocol/domain.js';

/** Request and response shapes of the attendant JSON API (the UI codes against these). */

const Iso = z.string();
const Reason = z.string().trim().min(3, 'give a reason (at least 3 characters)').max(200);

/** The cloud's error shape (protocol/http.ts), so one client reads both. */
export { ErrorBody } from '../../protocol/http.js';

export const LoginBody = z.object({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
});
export const LoginReply = z.object({
  token: z.string(),
  expiresAt: Iso,
  username: z.string(),
  displayName: z.string(),
  lotId: z.string(),
  /** The lot's display name (UI header). */
  lotName: z.string(),
  /** The lot's currency (its rate card): for amounts the console shows without one (cash paid). */
  currency: z.string(),
  /** Lanes with no real hardware behind them (devices: 'sim'); the console shows a banner. */
  simulatedLanes: z.array(z.string()),
});

export const MeReply = z.object({
  username: z.string(),
  displayName: z.string(),
  lotId: z.string(),
  lotName: z.string(),
  currency: z.string(),
  simulatedLanes: z.array(z.string()),
});

export const LaneStatusSchema = z.object({
  id: z.string(),
  name: z.string(),
  direction: z.enum(['entry', 'exit']),
  state: z.string(),
  since: Iso,
  correlationId: z.string().nullable(),
  lastRead: z.object({ plate: z.string(), confidence: z.number(), at: Iso }).nullable(),
  display: z.array(z.string()),
  arm: z.enum(['up', 'down']),
  limits: z.object({ open: z.boolean(), closed: z.boolean() }),
  loops: z.object({ arming: z.boolean(), safety: z.boolean() }),
  devices: z.object({ camera: z.string(), qr: z.string() }),
});
export const LanesReply = z.object({ lanes: z.array(LaneStatusSchema) });

/**
 * One level or spot type. `held`: bookable spots reserved now; `driveupInside`: drive-ups inside,
 * spread over the groups' `driveupSpots` (a drive-up has no assigned spot); `free`: the rest.
 */
const Group = z.object({
  key: z.string(),
  total: z.number(),
  held: z.number(),
  driveupSpots: z.number(),
  driveupInside: z.number(),
  free: z.number(),
});
export const OccupancyReply = z.object({
  at: Iso,
  pools: z.object({
    bookable: z.object({ total: z.number(), held: z.number(), free: z.number(), full: z.boolean() }),
    driveup: z.object({ total: z.number(), inside: z.number(), free: z.number(), full: z.boolean() }),
    permit: z
      .object({ total: z.number(), inside: z.number(), free: z.number(), full: z.boolean() })
      .optional(),
  }),
  levels: z.array(Group),
  spotTypes: z.array(Group),
  vehiclesInside: z.number(),
  full: z.boolean(),
});

export const ReservationView = z.object({
  id: z.string(),
  spotId: z.string(),
  spotLabel: z.string(),
  vehicleType: z.string(),
  plate: z.string(),
  start: Iso,
  end: Iso,
  status: z.string(),
  kind: z.string(),
  price: MoneySchema,
});

export const SessionView = z.object({
  id: z.string(),
  kind: z.string(),
  reservationId: z.string().nullable(),
  plate: z.string().nullable(),
  credential: z.string(),
  pool: z.string().nullable(),
  spotLabel: z.string().nullable(),
  enteredAt: Iso,
  entryLaneId: z.string().nullable(),
  reservationEnd: Iso.nullable(),
  cashPaid: z.number(),
  exitedAt: Iso.nullable(),
  closedReason: z.string().nullable(),
  /** For vehicles inside: what leaving now would cost (before cash already paid). */
  dueNow: MoneySchema.nullable(),
});

export const LookupQuery = z
  .object({
    plate: z.string().min(1).max(32).optional(),
    reservationId: z.string().min(1).max(64).optional(),
  })
  .refine((q) => (q.plate === undefined) !== (q.reservationId === undefined), {
    message: 'give exactly one of plate or reservationId',
  });
export const LookupReply = z.object({
  reservations: z.array(ReservationView),
  sessions: z.array(SessionView),
  passback: z.record(z.string(), z.enum(['in', 'out', 'neutral'])),
});

export const SessionsReply = z.object({ sessions: z.array(SessionView) });

export const LaneParams = z.object({ laneId: z.string().min(1).max(64) });
export const ManualOpenBody = z.object({ reason: Reason });
export const ActionReply = z.object({ ok: z.boolean(), detail: z.string() });

export const SessionParams = z.object({ sessionId: z.string().min(1).max(64) });
export const CashBody = z.object({
  /** Minor units collected; default: everything due now. */
  amount: z.number().int().positive().optional(),
});
export const CashReply = z.object({
  paid: MoneySchema,
  stillDue: MoneySchema.nullable(),
  eventId: z.number(),
});

export const ReservationParams = z.object({ reservationId: z.string().min(1).max(64) });
export const PassbackResetBody = z.object({ reason: Reason });
export const PassbackResetReply = z.object({
  ok: z.boolean(),
  closedSessionId: z.string().nullable(),
  eventId: z.number(),
});

export const AlarmView = z.object({
  id: z.number(),
  kind: z.string(),
  laneId: z.string().nullable(),
  detail: z.string(),
  raisedAt: Iso,
  eventId: z.number().nullable(),
  ackedAt: Iso.nullable(),
  ackedBy: z.string().nullable(),
  ackNote: z.string().nullable(),
});
export const AlarmsQuery = z.object({
  status: z.enum(['open', 'all']).default('open'),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
export const AlarmsReply = z.object({ alarms: z.array(AlarmView) });
export const AlarmParams = z.object({ alarmId: z.coerce.number().int().positive() });
export const AlarmAckBody = z.object({ note: z.string().trim().max(200).optional() });

export const ReportQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});
export const UnableToCollectView = z.object({
  id: z.number(),
  at: Iso,
  laneId: z.string().nullable(),
  sessionId: z.string(),
  reservationId: z.string().nullable(),
  plate: z.string().nullable(),
  amount: MoneySchema,
  eventId: z.number(),
});
export const UnableToCollectReply = z.object({
  from: Iso,
  to: Iso,
  records: z.array(UnableToCollectView),
  totals: z.array(MoneySchema),
});

export const ConnectivityReply = z.object({
  state: z.enum(['online', 'degraded', 'offline']),
  since: Iso,
  outboxDepth: z.number(),
  lastEventId: z.number(),
  lastAppliedSeq: z.number(),
  configVersion: z.number(),
});

export const AuditQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
export const AuditReply = z.object({
  entries: z.array(
    z.object({
      id: z.number(),
      at: Iso,
      attendant: z.string(),
      action: z.string(),
      reason: z.string().nullable(),
      target: z.string().nullable(),
      eventId: z.number().nullable(),
    }),
  ),
});

export const HealthReply = z.object({
  status: z.literal('ok'),
  lotId: z.string(),
  connectivity: z.string(),
  outboxDepth: z.number(),
  lanes: z.array(z.object({ id: z.string(), state: z.string() })),
});
