import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import { type BodyOf, type DownChannel, encodeMessage, TOPIC_ROOT, topics } from '../../protocol/mqtt.js';
import { mqttClientId } from './identity.js';
import type { CloudMqttOptions } from './ports.js';

export interface CloudLinkOptions {
  clock: Clock;
  newId: () => string;
  log: Logger;
}

export interface SendOptions {
  retain?: boolean;
  /** Keep the original send time (republished commands are refused by age at the edge). */
  sentAt?: string;
}

export interface CloudLinkListeners {
  /** Subscribed and marked connected. */
  ready(): void;
  message(topic: string, payload: Buffer, packet: { retain?: boolean }): void;
}

/**
 * The cloud instance's one MQTT connection (the cloud account, persistent session): subscribes to every
 * lot's up/ topics, sends on a lot's down/ topics with QoS 1.
 */
export class CloudLink {
  client: MqttClient | null = null;
  connected = false;
  /** close() was called: the connection's end is expected, not a loss worth a warning. */
  #closing = false;

  constructor(private readonly options: CloudLinkOptions) {}

  /** Resolves on PUBACK; rejects while the broker is not connected. */
  async send<C extends DownChannel>(
    lotId: string,
    channel: C,
    body: BodyOf<C>,
    opts: SendOptions = {},
  ): Promise<void> {
    const c = this.client;
    if (!c || !this.connected) throw new Error('broker not connected');
    const payload = encodeMessage(channel, body, {
      id: this.options.newId(),
      sentAt: opts.sentAt ?? new Date(this.options.clock.now()).toISOString(),
    });
    await c.publishAsync(topics.down(lotId, channel), payload, { qos: 1, retain: opts.retain ?? false });
  }

  connect(mqttOptions: CloudMqttOptions, on: CloudLinkListeners): void {
    const { log } = this.options;
    const options: IClientOptions = {
      clientId: mqttClientId(mqttOptions.instanceId),
      clean: false,
      ...(mqttOptions.sessionExpirySec !== undefined
        ? { protocolVersion: 5, properties: { sessionExpiryInterval: mqttOptions.sessionExpirySec } }
        : { protocolVersion: 4 }),
      keepalive: mqttOptions.keepaliveSec ?? 30,
      reconnectPeriod: mqttOptions.reconnectPeriodMs ?? 1000,
      resubscribe: false,
      username: mqttOptions.username,
      password: mqttOptions.password,
      ...(mqttOptions.tls ?? {}),
    };
    const client = (mqttOptions.connect ?? mqtt.connect)(mqttOptions.url, options);
    this.client = client;
    client.on('connect', () => {
      (async () => {
        await this.#subscribe(client, mqttOptions.sharedSubscription);
        this.connected = true;
        log.info({ shared: mqttOptions.sharedSubscription }, 'cloud sync connected');
        on.ready();
      })().catch((error: unknown) => log.error({ err: error }, 'cloud sync connect handling failed'));
    });
    client.on('close', () => {
      if (this.connected && !this.#closing) log.warn('broker connection lost');
      else if (this.connected) log.info('broker connection closed');
      this.connected = false;
    });
    client.on('error', (error) => log.warn({ err: error }, 'mqtt error'));
    client.on('disconnect', (packet) => {
      // MQTT 5 "session taken over": another process connected with this instance's client id.
      if (packet.reasonCode === 0x8e)
        log.error(
          { instanceId: mqttOptions.instanceId },
          'another process uses this MQTT instance id; give each cloud instance its own MQTT_INSTANCE_ID',
        );
    });
    client.on('message', (topic, payload, packet) => on.message(topic, payload, packet));
  }

  /** Ends the connection on purpose (shutdown): logged as closed, not lost. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.client?.endAsync(true);
  }

  async #subscribe(c: MqttClient, shared: boolean): Promise<void> {
    const filters = shared
      ? [`$share/cloud/${TOPIC_ROOT}/+/up/events`, `$share/cloud/${TOPIC_ROOT}/+/up/request`]
      : [`${TOPIC_ROOT}/+/up/events`, `${TOPIC_ROOT}/+/up/request`];
    // Status is a plain subscription on every instance: shared subscriptions get no retained messages,
    // and presence is cheap enough for each instance to track.
    filters.push(`${TOPIC_ROOT}/+/up/status`);
    const granted = await c.subscribeAsync(filters, { qos: 1 });
    for (const g of granted)
      if (g.qos === 128) this.options.log.error({ topic: g.topic }, 'subscription refused by the broker');
  }
}
