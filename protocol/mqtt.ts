import { z } from 'zod';
import {
  Id,
  IsoTimestamp,
  LotConfigSchema,
  LotId,
  MoneySchema,
  ReservationSchema,
  SpotPool,
  VehicleType,
} from './domain.js';
import { PermitSchema } from './permits.js';
import { MoneyStateBody } from './money-sync.js';
import { type Result, err, ok } from './result.js';
import { ValidationUseSchema } from './validation.js';

/**
 * The MQTT contract between lots and the cloud (docs/architecture.md#sync-protocol): topics, the envelope and
 * one body schema per topic. Both sides encode and decode only through this module.
 */

export const PROTOCOL_VERSION = '1.0';
export const PROTOCOL_MAJOR = 1;
/** Hard cap per message; large transfers (resync, snapshots, event batches) are split below it. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
export const TOPIC_ROOT = `parkedge/v${PROTOCOL_MAJOR}/lot`;

export const DOWN_CHANNELS = ['changes', 'config', 'reply', 'command', 'ack', 'money'] as const;
export const UP_CHANNELS = ['events', 'request', 'status'] as const;
export type DownChannel = (typeof DOWN_CHANNELS)[number];
export type UpChannel = (typeof UP_CHANNELS)[number];
export type Channel = DownChannel | UpChannel;

export const topics = {
  down: (lotId: string, channel: DownChannel) => `${TOPIC_ROOT}/${lotId}/down/${channel}`,
  up: (lotId: string, channel: UpChannel) => `${TOPIC_ROOT}/${lotId}/up/${channel}`,
  /** What a lot subscribes to: only its own down/ topics. */
  lotDownFilter: (lotId: string) => `${TOPIC_ROOT}/${lotId}/down/#`,
  /** Cloud instances share the up/ load through an MQTT shared subscription. */
  cloudUpShared: (group = 'cloud') => `$share/${group}/${TOPIC_ROOT}/+/up/#`,
  cloudUpFilter: () => `${TOPIC_ROOT}/+/up/#`,
} as const;

export interface ParsedTopic {
  lotId: string;
  direction: 'up' | 'down';
  channel: Channel;
}

const LOT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function parseTopic(topic: string): ParsedTopic | null {
  if (typeof topic !== 'string' || topic.length > 256) return null;
  const parts = topic.split('/');
  if (parts.length !== 6 || `${parts[0]}/${parts[1]}/${parts[2]}` !== TOPIC_ROOT) return null;
  const [, , , lotId, direction, channel] = parts as [string, string, string, string, string, string];
  if (!LOT_ID_RE.test(lotId)) return null;
  if (direction === 'down' && (DOWN_CHANNELS as readonly string[]).includes(channel))
    return { lotId, direction, channel: channel as DownChannel };
  if (direction === 'up' && (UP_CHANNELS as readonly string[]).includes(channel))
    return { lotId, direction, channel: channel as UpChannel };
  return null;
}

// ---------------------------------------------------------------------------------------------
// Down: booking changes

export const ChangeReason = z.enum([
  'created',
  'confirmed',
  'cancelled',
  'expired',
  'no_show',
  'checked_in',
  'completed',
  'released',
  'driveup_granted',
  'updated',
  'permit_issued',
  'permit_updated',
  'permit_suspended',
  'permit_resumed',
  'permit_cancelled',
]);
export type ChangeReason = z.infer<typeof ChangeReason>;

/** One entry of the per-lot change log: the reservation's full new state, so applying is an upsert. */
export const ReservationChangeSchema = z.object({
  seq: z.number().int().positive(),
  at: IsoTimestamp,
  reason: ChangeReason,
  reservation: ReservationSchema,
});
/** A permit's full new state (docs/permits.md); suspension and cancellation are its status. */
export const PermitChangeSchema = z.object({
  seq: z.number().int().positive(),
  at: IsoTimestamp,
  reason: ChangeReason,
  permit: PermitSchema,
});
export const ChangeSchema = z.union([ReservationChangeSchema, PermitChangeSchema]);
export type Change = z.infer<typeof ChangeSchema>;
export type ReservationChange = z.infer<typeof ReservationChangeSchema>;
export type PermitChange = z.infer<typeof PermitChangeSchema>;

export const ChangesBody = z.object({ changes: z.array(ChangeSchema).min(1).max(2000) });

/**
 * A credential verification key. With a window, the edge accepts its signatures only from notBefore
 * until notAfter (exclusive), also offline; absent or null = unbounded on that side. Keys the cloud
 * revoked are not sent: a lot drops them with the next config.
 */
export const PublicKeySchema = z.object({
  keyId: Id,
  publicKey: z.string().min(1).max(128),
  notBefore: IsoTimestamp.nullable().optional(),
  notAfter: IsoTimestamp.nullable().optional(),
});

export const ConfigBody = z.object({
  version: z.number().int().nonnegative(),
  lot: LotConfigSchema,
  publicKeys: z.array(PublicKeySchema).max(16),
});

export const ReplyBody = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('resync'),
    correlationId: Id,
    changes: z.array(ChangeSchema).max(2000),
    /** The cloud's newest seq for the lot when the batch was cut. */
    headSeq: z.number().int().nonnegative(),
    done: z.boolean(),
  }),
  z.object({
    kind: z.literal('snapshot'),
    correlationId: Id,
    /** Apply all parts, then set the cursor to asOfSeq. */
    asOfSeq: z.number().int().nonnegative(),
    part: z.number().int().nonnegative(),
    parts: z.number().int().positive(),
    reservations: z.array(ReservationSchema).max(2000),
    /** The lot's permits that are not cancelled and not ended (docs/permits.md); in part 0. */
    permits: z.array(PermitSchema).max(2000).optional(),
  }),
  z.object({
    kind: z.literal('overflow'),
    correlationId: Id,
    granted: z.boolean(),
    reservation: ReservationSchema.nullable(),
    reason: z.string().max(200).nullable(),
  }),
  z.object({ kind: z.literal('error'), correlationId: Id, message: z.string().max(500) }),
]);

export const CommandBody = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('open_lane'),
    commandId: Id,
    laneId: Id,
    reason: z.string().min(1).max(200),
    by: z.string().max(120),
  }),
  z.object({
    kind: z.literal('reset_passback'),
    commandId: Id,
    reservationId: Id,
    reason: z.string().min(1).max(200),
    by: z.string().max(120),
  }),
]);

export const AckBody = z.object({ upTo: z.number().int().nonnegative() });

// ---------------------------------------------------------------------------------------------
// Up: gate events

const EventBase = {
  eventId: z.number().int().positive(),
  at: IsoTimestamp,
  laneId: Id.nullable(),
  /** Follows one vehicle through decision, barrier, passage and this event. */
  correlationId: z.string().max(64).nullable(),
};

export const CredentialKind = z.enum(['plate', 'qr', 'attendant', 'driveup', 'command']);
export const Plate = z.string().max(16);

export const GateEventSchema = z.discriminatedUnion('kind', [
  z.object({
    ...EventBase,
    kind: z.literal('entry'),
    sessionId: Id,
    reservationId: Id.nullable(),
    plate: Plate.nullable(),
    credential: CredentialKind,
    pool: SpotPool.nullable(),
    spotId: Id.nullable(),
    /** Online overflow: the cloud booking that granted a bookable spot to a drive-up. */
    overflowReservationId: Id.nullable().default(null),
    /** A permit holder's entry (docs/permits.md): the permit, with reservationId null. */
    permitId: Id.nullish(),
  }),
  z.object({
    ...EventBase,
    kind: z.literal('exit'),
    sessionId: Id,
    reservationId: Id.nullable(),
    plate: Plate.nullable(),
    /** What was owed at the gate: drive-up fee or overstay. */
    charge: MoneySchema.nullable(),
    overstayMinutes: z.number().int().nonnegative(),
    settlement: z.enum(['none', 'cloud', 'cash', 'owed']),
    /** A merchant validation that lowered the fee (docs/pricing.md#validations). */
    validation: ValidationUseSchema.nullable().optional(),
  }),
  z.object({
    ...EventBase,
    kind: z.literal('denied'),
    plate: Plate.nullable(),
    reservationId: Id.nullable(),
    reason: z.string().max(64),
  }),
  z.object({
    ...EventBase,
    kind: z.literal('manual_open'),
    attendant: z.string().max(120),
    reason: z.string().min(1).max(200),
    commandId: Id.nullable().default(null),
  }),
  z.object({
    ...EventBase,
    kind: z.literal('passback_violation'),
    reservationId: Id,
    mode: z.enum(['hard', 'soft']),
  }),
  z.object({
    ...EventBase,
    kind: z.literal('passback_reset'),
    /** Null when the reset named a vehicle session without a reservation (a drive-up). */
    reservationId: Id.nullable(),
    /** The vehicle session closed by the reset, if any (absent from older edges). */
    sessionId: Id.nullable().optional(),
    attendant: z.string().max(120),
    reason: z.string().min(1).max(200),
  }),
  z.object({ ...EventBase, kind: z.literal('tailgate'), sessionId: Id.nullable() }),
  z.object({ ...EventBase, kind: z.literal('barrier_fault'), detail: z.string().max(200) }),
  z.object({
    ...EventBase,
    kind: z.literal('device_fault'),
    device: z.string().max(32),
    state: z.enum(['lost', 'restored']),
    detail: z.string().max(200),
  }),
  z.object({
    ...EventBase,
    kind: z.literal('cash_payment'),
    sessionId: Id,
    amount: MoneySchema,
    attendant: z.string().max(120),
  }),
  z.object({
    ...EventBase,
    kind: z.literal('unable_to_collect'),
    sessionId: Id,
    reservationId: Id.nullable(),
    plate: Plate.nullable(),
    amount: MoneySchema,
  }),
  z.object({
    ...EventBase,
    kind: z.literal('command_ack'),
    commandId: Id,
    ok: z.boolean(),
    detail: z.string().max(200),
  }),
]);
export type GateEvent = z.infer<typeof GateEventSchema>;
export type GateEventKind = GateEvent['kind'];

/**
 * Events travel in batches. The batch is validated loosely (eventId + kind) so that one event of a
 * kind this cloud does not know yet is still stored and acknowledged, never wedging the stream.
 */
export const GateEventEnvelopeSchema = z.looseObject({
  eventId: z.number().int().positive(),
  kind: z.string().min(1).max(40),
  at: IsoTimestamp,
});
export const EventsBody = z.object({ events: z.array(GateEventEnvelopeSchema).min(1).max(1000) });

export const RequestBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('resync'), correlationId: Id, fromSeq: z.number().int().nonnegative() }),
  z.object({
    kind: z.literal('overflow'),
    correlationId: Id,
    plate: Plate,
    vehicleType: VehicleType,
    start: IsoTimestamp,
    end: IsoTimestamp,
    deadline: IsoTimestamp,
  }),
  z.object({ kind: z.literal('overflow_cancel'), correlationId: Id, reservationId: Id }),
]);

export const ConnectivityState = z.enum(['online', 'degraded', 'offline']);
export type ConnectivityState = z.infer<typeof ConnectivityState>;

export const StatusBody = z.object({
  state: z.enum(['online', 'offline']),
  edgeVersion: z.string().max(32),
  protocolVersion: z.string().max(16),
  lastAppliedSeq: z.number().int().nonnegative(),
  lastEventId: z.number().int().nonnegative(),
  outboxDepth: z.number().int().nonnegative(),
  configVersion: z.number().int().nonnegative(),
  occupancy: z.record(z.string(), z.object({ held: z.number().int(), total: z.number().int() })),
  lanes: z
    .array(z.object({ id: Id, state: z.string().max(32), devices: z.record(z.string(), z.string().max(32)) }))
    .max(64),
  clock: IsoTimestamp,
});

// ---------------------------------------------------------------------------------------------
// Envelope

export const BODY_BY_CHANNEL = {
  changes: ChangesBody,
  config: ConfigBody,
  reply: ReplyBody,
  command: CommandBody,
  ack: AckBody,
  money: MoneyStateBody,
  events: EventsBody,
  request: RequestBody,
  status: StatusBody,
} as const;

export type BodyOf<C extends Channel> = z.infer<(typeof BODY_BY_CHANNEL)[C]>;

export const EnvelopeSchema = z.object({
  v: z.string().regex(/^\d{1,4}\.\d{1,4}$/),
  type: z.string().min(1).max(32),
  id: z.string().min(1).max(64),
  sentAt: IsoTimestamp,
  body: z.unknown(),
});

export interface Envelope<C extends Channel = Channel> {
  v: string;
  type: C;
  id: string;
  sentAt: string;
  body: BodyOf<C>;
}

export type DecodeFailure =
  | 'unknown_topic'
  | 'oversize'
  | 'not_json'
  | 'bad_envelope'
  | 'version_unsupported'
  | 'type_mismatch'
  | 'bad_body';

export interface DecodeError {
  reason: DecodeFailure;
  message: string;
}

/** Discriminated on `channel`, so `if (d.channel === 'changes')` narrows `d.message.body`. */
export type Decoded = {
  [C in Channel]: { channel: C; topic: ParsedTopic & { channel: C }; message: Envelope<C> };
}[Channel];

export function encodeMessage<C extends Channel>(
  channel: C,
  body: BodyOf<C>,
  meta: { id: string; sentAt: string },
): Buffer {
  const envelope: Envelope<C> = {
    v: PROTOCOL_VERSION,
    type: channel,
    id: meta.id,
    sentAt: meta.sentAt,
    body,
  };
  const buf = Buffer.from(JSON.stringify(envelope));
  if (buf.length > MAX_PAYLOAD_BYTES)
    throw new RangeError(`${channel} message of ${buf.length} bytes exceeds the cap`);
  return buf;
}

/** Validates topic, size, JSON, envelope, version and body. Never throws. */
export function decodeMessage(topic: string, payload: Uint8Array | string): Result<Decoded, DecodeError> {
  const parsedTopic = parseTopic(topic);
  if (!parsedTopic) return err({ reason: 'unknown_topic', message: 'not a parkedge topic' });
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_PAYLOAD_BYTES)
    return err({ reason: 'oversize', message: `${size} bytes > ${MAX_PAYLOAD_BYTES}` });
  let raw: unknown;
  try {
    raw = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch {
    return err({ reason: 'not_json', message: 'payload is not JSON' });
  }
  const env = EnvelopeSchema.safeParse(raw);
  if (!env.success) return err({ reason: 'bad_envelope', message: summarize(env.error) });
  const major = Number(env.data.v.split('.')[0]);
  if (major !== PROTOCOL_MAJOR)
    return err({
      reason: 'version_unsupported',
      message: `protocol ${env.data.v}; this side speaks ${PROTOCOL_VERSION}`,
    });
  if (env.data.type !== parsedTopic.channel)
    return err({ reason: 'type_mismatch', message: `type ${env.data.type} on ${parsedTopic.channel} topic` });
  const body = BODY_BY_CHANNEL[parsedTopic.channel].safeParse(env.data.body);
  if (!body.success) return err({ reason: 'bad_body', message: summarize(body.error) });
  return ok({
    channel: parsedTopic.channel,
    topic: parsedTopic,
    message: { ...env.data, body: body.data },
  } as Decoded);
}

/** Parse one gate event strictly (the consumer does this after storing the loose envelope). */
export function parseGateEvent(raw: unknown): Result<GateEvent, DecodeError> {
  const r = GateEventSchema.safeParse(raw);
  return r.success ? ok(r.data) : err({ reason: 'bad_body', message: summarize(r.error) });
}

export function summarize(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

export { Id, LotId };
