import type { z } from 'zod';
import type { Money } from '../../protocol/money.js';
import type { DebtsReply as DebtsReplySchema } from '../attendant/routes/debts.js';
import type * as S from '../attendant/schemas.js';
import type { EdgeEvent } from '../bus.js';

/**
 * Types for the JSDoc of the page's modules (`public/*.js`, `@import`ed; nothing here exists at run
 * time). Mostly the attendant API's data as the console receives it, taken from the server's own
 * schemas and bus events, so a change there fails the type check of the page instead of breaking it.
 */

/** What `h()` and `render()` accept as children (a recursive type, which JSDoc cannot declare). */
export type Child = Node | string | number | boolean | null | undefined | Child[];

/** Log-in answer; like /api/me it names the lot and the lanes that run on simulated devices. */
export type LoginReply = z.infer<typeof S.LoginReply>;
export type MeReply = z.infer<typeof S.MeReply>;
export type LaneStatus = z.infer<typeof S.LaneStatusSchema>;
export type LanesReply = z.infer<typeof S.LanesReply>;
export type OccupancyReply = z.infer<typeof S.OccupancyReply>;
export type OccupancyGroup = OccupancyReply['levels'][number];
export type ReservationView = z.infer<typeof S.ReservationView>;
export type SessionView = z.infer<typeof S.SessionView>;
export type LookupReply = z.infer<typeof S.LookupReply>;
export type ActionReply = z.infer<typeof S.ActionReply>;
export type CashReply = z.infer<typeof S.CashReply>;
export type PassbackResetReply = z.infer<typeof S.PassbackResetReply>;
export type AlarmView = z.infer<typeof S.AlarmView>;
export type AlarmsReply = z.infer<typeof S.AlarmsReply>;
export type UnableToCollectView = z.infer<typeof S.UnableToCollectView>;
export type UnableToCollectReply = z.infer<typeof S.UnableToCollectReply>;
export type ConnectivityReply = z.infer<typeof S.ConnectivityReply>;
export type AuditReply = z.infer<typeof S.AuditReply>;
export type AuditView = AuditReply['entries'][number];
export type ErrorBody = z.infer<typeof S.ErrorBody>;
export type DebtsReply = z.infer<typeof DebtsReplySchema>;
export type { Money };

/** First event of every (re)connect of `/api/events`: the lot, its lanes and its link right now. */
export type HelloEvent = Pick<MeReply, 'lotId' | 'lotName' | 'currency' | 'simulatedLanes'> & {
  lanes: LaneStatus[];
  connectivity: Pick<ConnectivityReply, 'state' | 'since'>;
  outboxDepth: number;
};

type BusEvent = Exclude<EdgeEvent, { type: 'alarm' | 'alarm_ack' }>;

/** Payload of each named event of `/api/events`; alarms are sent as the API's alarm view. */
export type StreamEvents = { hello: HelloEvent; alarm: AlarmView; alarm_ack: AlarmView } & {
  [E in BusEvent as E['type']]: E;
};
export type StreamEventName = keyof StreamEvents;
