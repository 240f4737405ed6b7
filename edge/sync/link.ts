import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock } from '../../protocol/clock.js';
import { type BodyOf, type Channel, encodeMessage, topics, type UpChannel } from '../../protocol/mqtt.js';
import type { EdgeMqttOptions } from './ports.js';

export interface EdgeLinkOptions {
  lotId: string;
  clock: Clock;
  newId: () => string;
}

/** Reacts to the broker connection; every sync part hangs off these. */
export interface LinkListeners {
  connect(): void;
  close(): void;
  error(error: Error): void;
  message(topic: string, payload: Buffer, packet: { retain?: boolean }): void;
}

/**
 * The lot's one MQTT connection with a persistent session (clean: false, stable client id): what is up,
 * how a message is enveloped, and how it leaves (QoS 1 on up/*).
 */
export class EdgeLink {
  client: MqttClient | null = null;
  /** The broker connection is up (between 'connect' and 'close'). */
  connected = false;
  /** stop() was called; nothing new starts. */
  stopped = false;

  constructor(private readonly options: EdgeLinkOptions) {}

  /** An envelope with a fresh id and the injected clock's time. */
  message<C extends Channel>(channel: C, body: BodyOf<C>): Buffer {
    return encodeMessage(channel, body, {
      id: this.options.newId(),
      sentAt: new Date(this.options.clock.now()).toISOString(),
    });
  }

  /** Resolves on PUBACK; rejects when not connected or the link drops. */
  async publish(channel: UpChannel, payload: Buffer, retain = false): Promise<void> {
    const c = this.client;
    if (!c || !this.connected) throw new Error('not connected');
    await c.publishAsync(topics.up(this.options.lotId, channel), payload, { qos: 1, retain });
  }

  /** Opens the connection; `offlineStatus` becomes the last will (retained up/status). */
  connect(mqttOptions: EdgeMqttOptions, offlineStatus: Buffer, on: LinkListeners): MqttClient {
    const { lotId } = this.options;
    const options: IClientOptions = {
      clientId: mqttOptions.clientId ?? `edge-${lotId}`,
      clean: false,
      protocolVersion: 4,
      keepalive: mqttOptions.keepaliveSec ?? 30,
      reconnectPeriod: mqttOptions.reconnectPeriodMs ?? 1000,
      connectTimeout: mqttOptions.connectTimeoutMs ?? 10_000,
      resubscribe: false,
      username: mqttOptions.username,
      password: mqttOptions.password,
      will: { topic: topics.up(lotId, 'status'), payload: offlineStatus, qos: 1, retain: true },
      ...(mqttOptions.tls ?? {}),
    };
    const client = (mqttOptions.connect ?? mqtt.connect)(mqttOptions.url, options);
    this.client = client;
    client.on('connect', () => on.connect());
    client.on('close', () => on.close());
    client.on('error', (error) => on.error(error));
    client.on('message', (topic, payload, packet) => on.message(topic, payload, packet));
    return client;
  }

  /** Replaces the will the broker gets on the next connect. */
  setWill(offlineStatus: Buffer): void {
    if (!this.client) return;
    this.client.options.will = {
      topic: topics.up(this.options.lotId, 'status'),
      payload: offlineStatus,
      qos: 1,
      retain: true,
    };
  }
}
