import {
  type BodyOf,
  type Channel,
  type DecodeError,
  type DecodeFailure,
  decodeMessage,
  type ParsedTopic,
} from './mqtt.js';

/** What a channel handler learns besides the body. */
export interface Inbound {
  /** The raw topic (for logs and drops). */
  topic: string;
  lotId: string;
  /** Envelope send time (commands are refused by age). */
  sentAt: string;
  /** Delivered from the broker's retained store, not live. */
  retained: boolean;
}

/** One handler per channel this side receives; a channel without one is dropped as `type_mismatch`. */
export type ChannelHandlers = { [C in Channel]?: (body: BodyOf<C>, inbound: Inbound) => void };

export interface Refusal<R extends string> {
  reason: R;
  detail: string;
}

export interface MqttDispatchOptions<R extends string> {
  handlers: ChannelHandlers;
  /** Topic rule of this side (direction, own lot); a refusal drops the message. */
  accept(topic: ParsedTopic): Refusal<R> | null;
  /** Every message not handed to a handler ends here (count it, log it). */
  drop(topic: string, reason: DecodeFailure | 'handler_error' | R, detail: string): void;
  /** Called before the drop of a message that did not decode (e.g. to report protocol version skew). */
  undecodable?(topic: string, payload: Buffer, error: DecodeError): void;
  /** A message passed decoding and the topic rule, before its handler runs. */
  accepted?(topic: ParsedTopic, retained: boolean): void;
}

/** The slice of mqtt.js's publish packet the dispatcher reads. */
export interface PacketInfo {
  retain?: boolean;
}

/**
 * The inbound half of an MQTT side: decode through `mqtt.ts`, apply the side's topic rule, dispatch by
 * channel. A throwing handler drops its message as `handler_error` rather than killing the client's
 * message loop. Returns the listener for `client.on('message', …)`.
 */
export function mqttDispatcher<R extends string>(
  options: MqttDispatchOptions<R>,
): (topic: string, payload: Buffer, packet: PacketInfo) => void {
  const dispatch = (topic: string, payload: Buffer, retained: boolean): void => {
    const decoded = decodeMessage(topic, payload);
    if (!decoded.ok) {
      options.undecodable?.(topic, payload, decoded.error);
      options.drop(topic, decoded.error.reason, decoded.error.message);
      return;
    }
    const { channel, topic: parsed, message } = decoded.value;
    const refusal = options.accept(parsed);
    if (refusal) {
      options.drop(topic, refusal.reason, refusal.detail);
      return;
    }
    options.accepted?.(parsed, retained);
    // decodeMessage checked that the body matches the channel; TypeScript cannot relate the two.
    const handler = options.handlers[channel] as ((body: unknown, inbound: Inbound) => void) | undefined;
    if (!handler) {
      options.drop(topic, 'type_mismatch', `unexpected ${message.type}`);
      return;
    }
    handler(message.body, { topic, lotId: parsed.lotId, sentAt: message.sentAt, retained });
  };
  return (topic, payload, packet) => {
    try {
      dispatch(topic, payload, packet.retain === true);
    } catch (error) {
      options.drop(topic, 'handler_error', error instanceof Error ? error.message : String(error));
    }
  };
}
