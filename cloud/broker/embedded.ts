import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import {
  type BrokerAccount,
  accountFromUsername,
  canPublish,
  canRead,
  canSubscribe,
  splitSharedSubscription,
} from '../../protocol/acl.js';
import type { Logger } from '../../protocol/logger.js';
import { MAX_PAYLOAD_BYTES, topics } from '../../protocol/mqtt.js';
import type { CredentialStore } from './credentials.js';
import { guardPacketSize } from './packet-size-guard.js';

/**
 * The broker `npm start` and the tests use when no MQTT_URL is configured: aedes in this
 * process, on a local TCP port, enforcing the same accounts and ACL as the shipped Mosquitto
 * configuration (deploy/mosquitto). aedes speaks MQTT 3.1.1 only (protocolVersion 4).
 */

export type BrokerKind = 'aedes' | 'mosquitto' | 'emqx' | 'hivemq';

/**
 * aedes 1.x has no shared subscriptions: `$share/<group>/…` would be taken as a literal filter
 * that never matches (the embedded broker refuses it instead). Mosquitto 2, EMQX and HiveMQ
 * implement them for MQTT 3.1.1 and 5 clients.
 */
export function supportsSharedSubscriptions(kind: BrokerKind): boolean {
  return kind !== 'aedes';
}

/** The filter a cloud instance subscribes to for every lot's up/ topics on this kind of broker. */
export function cloudUpSubscription(kind: BrokerKind, group = 'cloud'): string {
  return supportsSharedSubscriptions(kind) ? topics.cloudUpShared(group) : topics.cloudUpFilter();
}

export interface EmbeddedBrokerOptions {
  /** 0 or absent: a free port chosen by the OS. */
  port?: number;
  /** Default 127.0.0.1: the embedded broker is for one machine. */
  host?: string;
  credentials: CredentialStore;
  logger: Logger;
  /** Larger payloads are dropped (QoS flow completes, client stays connected). Default MAX_PAYLOAD_BYTES. */
  maxPayloadBytes?: number;
  /** A larger packet disconnects its sender. Default maxPayloadBytes + 4 KiB, as in mosquitto.conf. */
  maxPacketBytes?: number;
}

/** Where refused and dropped messages go: no account may subscribe to a `$` topic. */
const SINK_TOPIC = '$parkedge/dropped';
/** MQTT 3.1.1 CONNACK 5, what Mosquitto answers a wrong password with too. */
const NOT_AUTHORIZED = 5;

export class EmbeddedBroker {
  readonly kind: BrokerKind = 'aedes';
  /** CONNECTs refused: unknown account, wrong or missing password. */
  deniedConnects = 0;
  /** PUBLISHes outside the account's grant, dropped. */
  deniedPublishes = 0;
  /** SUBSCRIBE filters refused (SUBACK 0x80), including `$share/…`, which aedes cannot serve. */
  deniedSubscribes = 0;
  /** Messages withheld from a subscriber that may not read them (defence in depth). */
  deniedDeliveries = 0;
  /** PUBLISHes whose payload was over maxPayloadBytes, dropped. */
  droppedOversize = 0;
  /** Connections cut because a packet announced more than maxPacketBytes. */
  oversizeDisconnects = 0;

  readonly #accounts = new WeakMap<Client, BrokerAccount>();
  readonly #sockets = new Set<Socket>();
  readonly #log: Logger;
  readonly #credentials: CredentialStore;
  readonly #maxPayloadBytes: number;
  readonly #maxPacketBytes: number;
  #aedes: Aedes | null = null;
  #server: Server | null = null;
  #host = '127.0.0.1';
  #port = 0;

  constructor(options: EmbeddedBrokerOptions) {
    this.#log = options.logger.child({ component: 'broker' });
    this.#credentials = options.credentials;
    this.#maxPayloadBytes = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
    this.#maxPacketBytes = options.maxPacketBytes ?? this.#maxPayloadBytes + 4096;
    if (this.#maxPacketBytes <= this.#maxPayloadBytes)
      throw new RangeError('maxPacketBytes must exceed maxPayloadBytes');
    this.#host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 0;
  }

  get url(): string {
    return `mqtt://${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get host(): string {
    return this.#host;
  }

  get connectedClients(): number {
    return this.#aedes?.connectedClients ?? 0;
  }

  async start(): Promise<this> {
    if (this.#aedes) throw new Error('broker already started');
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) =>
        this.#authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.#authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => this.#authorizeSubscribe(client, sub, done),
      authorizeForward: (client, packet) => {
        if (canRead(this.#accounts.get(client) ?? null, packet.topic)) return packet;
        this.deniedDeliveries++;
        return null;
      },
    });
    aedes.on('clientError', (client, error) =>
      this.#log.debug({ clientId: client.id, err: error.message }, 'mqtt client error'),
    );
    aedes.on('connectionError', (_client, error) =>
      this.#log.debug({ err: error.message }, 'mqtt connection error'),
    );
    const server = createServer((socket) => {
      socket.setNoDelay(true); // as Mosquitto does; Nagle adds tens of ms to every small message
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      aedes.handle(
        guardPacketSize(socket, this.#maxPacketBytes, () => {
          this.oversizeDisconnects++;
          this.#log.warn(
            { remote: socket.remoteAddress, limit: this.#maxPacketBytes },
            'mqtt packet too large, disconnecting',
          );
        }),
      );
    });
    this.#aedes = aedes;
    this.#server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.#port, this.#host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      this.#aedes = null;
      this.#server = null;
      throw error;
    }
    server.on('error', (error) => this.#log.error({ err: error }, 'mqtt listener error'));
    this.#port = (server.address() as AddressInfo).port;
    this.#log.info({ url: this.url }, 'embedded mqtt broker listening');
    return this;
  }

  async close(): Promise<void> {
    const aedes = this.#aedes;
    const server = this.#server;
    if (!aedes || !server) return;
    this.#aedes = null;
    this.#server = null;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await serverClosed;
    this.#log.info({ url: this.url }, 'embedded mqtt broker closed');
  }

  #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const refuse = (reason: string) => {
      this.deniedConnects++;
      this.#log.warn({ clientId: client.id, username, reason }, 'mqtt connect refused');
      const error = new Error('not authorized') as AuthenticateError;
      error.returnCode = NOT_AUTHORIZED;
      done(error, false);
    };
    const account = accountFromUsername(username);
    if (!account || !username) {
      refuse(username ? 'unknown account' : 'anonymous');
      return;
    }
    if (!password || password.length === 0) {
      refuse('no password');
      return;
    }
    this.#credentials.verify(username, password).then(
      (ok) => {
        if (!ok) {
          refuse('wrong password');
          return;
        }
        this.#accounts.set(client, account);
        done(null, true);
      },
      (error: unknown) => {
        this.#log.error({ err: error, username }, 'credential check failed');
        refuse('credential store error');
      },
    );
  }

  #authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    // client is null only for a will published after its client is gone; aedes checked it at CONNECT.
    if (client === null) {
      done(null);
      return;
    }
    const size = packet.payload?.length ?? 0;
    if (size > this.#maxPayloadBytes) {
      this.droppedOversize++;
      this.#log.warn(
        { clientId: client.id, topic: packet.topic.slice(0, 200), size },
        'mqtt payload over the cap, dropped',
      );
      this.#drop(packet, done);
      return;
    }
    const account = this.#accounts.get(client) ?? null;
    if (!canPublish(account, packet.topic)) {
      this.deniedPublishes++;
      this.#log.warn(
        { clientId: client.id, username: account?.username, topic: packet.topic.slice(0, 200) },
        'mqtt publish denied by acl, dropped',
      );
      this.#drop(packet, done);
      return;
    }
    done(null);
  }

  /**
   * Drops a message the way Mosquitto does for MQTT 3.1.1 (the QoS flow completes, the client
   * stays connected): aedes can only authorise or disconnect, so the message is redirected to a
   * topic nobody may subscribe to, unretained and empty.
   */
  #drop(packet: PublishPacket, done: (error?: Error | null) => void): void {
    packet.topic = SINK_TOPIC;
    packet.retain = false;
    packet.payload = Buffer.alloc(0);
    done(null);
  }

  #authorizeSubscribe(
    client: Client,
    sub: Subscription,
    done: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const account = this.#accounts.get(client) ?? null;
    const shared = splitSharedSubscription(sub.topic);
    if (shared || !canSubscribe(account, sub.topic)) {
      this.deniedSubscribes++;
      this.#log.warn(
        { clientId: client.id, username: account?.username, filter: sub.topic.slice(0, 200) },
        shared
          ? 'shared subscriptions are not supported by the embedded broker; subscribe to the plain filter'
          : 'mqtt subscribe denied by acl',
      );
      done(null, null); // SUBACK 0x80 for this filter; the others in the packet still count
      return;
    }
    done(null, sub);
  }
}

/** Starts the embedded broker; see EmbeddedBrokerOptions. */
export function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  return new EmbeddedBroker(options).start();
}
