import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Random } from '../protocol/random.js';

/**
 * A simulated MQTT broker and client, modelling what real brokers (Mosquitto) do, on simulated time
 * (the global timers, faked by the simulation):
 * - persistent sessions: clean:false keeps subscriptions and queues QoS 1 messages while offline, and
 *   re-sends unacknowledged ones (DUP) when the client comes back; clean:true sessions die with the
 *   connection;
 * - QoS 1 both ways: a publish is acknowledged (PUBACK) over the network; a client re-sends what was
 *   not acknowledged after a reconnect;
 * - retained messages (an empty payload clears), last wills on an abrupt disconnect;
 * - shared subscriptions `$share/<group>/<filter>`: round-robin over every session subscribed in the
 *   group, INCLUDING offline persistent ones (their share is queued for them), as Mosquitto does;
 * - a broker restart drops every connection and all non-persistent state (clean sessions);
 *   persistent sessions and retained messages survive (mosquitto.conf `persistence true`).
 * Faults (decided by the seeded random through `NetFaults`): latency, extra delay that lets a packet
 * overtake others (reordering), duplicated deliveries, and loss — a lost packet on TCP means a dead
 * connection, so loss cuts the connection and the QoS 1 machinery has to recover.
 */

export interface NetFaults {
  /** Probabilities per packet. */
  loss: number;
  dup: number;
  reorder: number;
  delay: number;
}

export interface FaultCounts {
  [kind: string]: number;
}

interface Packet {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  dup?: boolean;
}

interface Session {
  clientId: string;
  clean: boolean;
  subs: Map<string, 0 | 1>;
  /** Messages waiting to be sent (offline, or not yet sent). */
  queue: Packet[];
  /** Sent to the client, not acknowledged: re-sent on the next connect. */
  inflight: Map<number, Packet>;
  conn: Conn | null;
  nextId: number;
}

interface Conn {
  id: number;
  client: SimMqttClient;
  session: Session;
  will: Packet | null;
  open: boolean;
  /** Last scheduled delivery time each way (TCP keeps order unless a reorder fault lets one overtake). */
  lastDown: number;
  lastUp: number;
}

export class SimBroker {
  readonly #sessions = new Map<string, Session>();
  readonly #retained = new Map<string, Packet>();
  readonly #rr = new Map<string, number>();
  readonly #partitioned = new Set<string>();
  #up = true;
  #connSeq = 0;
  readonly faults: FaultCounts = {};
  /** Per-client-id fault probabilities; `null` entries use `net`. */
  net: NetFaults = { loss: 0, dup: 0, reorder: 0, delay: 0 };
  /** Every routed publish (topic, target session), for the trace. */
  onRoute: ((topic: string, target: string, shared: boolean) => void) | null = null;
  /** Every publish the broker accepts (the simulation watches requests and replies). */
  onPublish: ((topic: string, payload: Buffer) => void) | null = null;
  readonly #clients = new Map<string, SimMqttClient[]>();

  constructor(
    private readonly random: Random,
    readonly latencyMs: [number, number] = [1, 15],
  ) {}

  count(kind: string): void {
    this.faults[kind] = (this.faults[kind] ?? 0) + 1;
  }

  /** mqtt.connect's shape, for the links' `connect` seam. `group` names the partition group. */
  connector(group: string): (url: string, options: IClientOptions) => MqttClient {
    return (_url, options) => {
      const c = new SimMqttClient(this, group, options);
      const list = this.#clients.get(group) ?? [];
      list.push(c);
      this.#clients.set(group, list.slice(-4));
      return c as unknown as MqttClient;
    };
  }

  /** Every client of a partition group dies with its process. */
  killGroup(group: string): void {
    for (const c of this.#clients.get(group) ?? []) c.kill();
    this.#clients.delete(group);
  }

  /** Partitions healed and the broker up. */
  healAll(): void {
    this.#partitioned.clear();
    this.#up = true;
  }

  _dupUp(): boolean {
    const d = this.random.chance(this.net.dup);
    if (d) this.count('dup');
    return d;
  }

  get up(): boolean {
    return this.#up;
  }

  partition(group: string, on: boolean): void {
    if (on) {
      this.#partitioned.add(group);
      for (const s of this.#sessions.values())
        if (s.conn && s.conn.client.group === group) this.#drop(s.conn, false);
    } else this.#partitioned.delete(group);
  }

  isPartitioned(group: string): boolean {
    return this.#partitioned.has(group) || this.#partitioned.has('*');
  }

  /** Broker crash/restart: every connection dies; clean sessions are gone; persistent ones stay. */
  restart(downMs: number): void {
    this.#up = false;
    for (const s of [...this.#sessions.values()]) if (s.conn) this.#drop(s.conn, true);
    for (const [id, s] of this.#sessions) {
      if (s.clean) this.#sessions.delete(id);
      // Unacknowledged deliveries are re-sent from the persisted session.
      else
        for (const p of s.inflight.values()) {
          s.queue.unshift({ ...p, dup: true });
        }
      s.inflight.clear();
    }
    setTimeout(() => {
      this.#up = true;
    }, downMs);
  }

  /** Whether a session (online or offline) exists, and which client ids are subscribed to a shared group. */
  sessionIds(): string[] {
    return [...this.#sessions.keys()].sort();
  }

  // ---- called by clients (after their packet crossed the network) ----

  _connect(client: SimMqttClient, options: IClientOptions): Conn | null {
    if (!this.#up || this.isPartitioned(client.group)) return null;
    const clientId = options.clientId ?? 'anon';
    let session = this.#sessions.get(clientId);
    if (session?.conn) this.#drop(session.conn, true); // takeover
    if (!session || options.clean !== false) {
      session = {
        clientId,
        clean: options.clean !== false,
        subs: new Map(),
        queue: [],
        inflight: new Map(),
        conn: null,
        nextId: 1,
      };
      this.#sessions.set(clientId, session);
    }
    const will = options.will
      ? {
          topic: options.will.topic,
          payload: Buffer.from(options.will.payload as Buffer),
          qos: (options.will.qos ?? 0) as 0 | 1,
          retain: options.will.retain ?? false,
        }
      : null;
    const conn: Conn = { id: ++this.#connSeq, client, session, will, open: true, lastDown: 0, lastUp: 0 };
    session.conn = conn;
    // Re-send unacknowledged deliveries, then what queued while offline.
    const resend = [...session.inflight.values()].map((p) => ({ ...p, dup: true }));
    session.inflight.clear();
    session.queue.unshift(...resend);
    setTimeout(() => this.#flush(session), 0);
    return conn;
  }

  _disconnect(conn: Conn, graceful: boolean): void {
    if (!conn.open) return;
    if (graceful) conn.will = null;
    this.#drop(conn, false);
  }

  _subscribe(conn: Conn, filters: string[], qos: 0 | 1): Array<{ topic: string; qos: number }> {
    const granted = filters.map((f) => {
      conn.session.subs.set(f, qos);
      return { topic: f, qos };
    });
    // Retained messages go to plain (not shared) new subscriptions.
    for (const f of filters) {
      if (f.startsWith('$share/')) continue;
      for (const p of this.#retained.values())
        if (topicMatches(f, p.topic)) this.#enqueue(conn.session, { ...p, retain: true });
    }
    this.#flush(conn.session);
    return granted;
  }

  _publish(packet: Packet): void {
    this.onPublish?.(packet.topic, packet.payload);
    if (packet.retain) {
      if (packet.payload.length === 0) this.#retained.delete(packet.topic);
      else this.#retained.set(packet.topic, { ...packet, dup: false });
    }
    this.#route({ ...packet, retain: false, dup: false });
  }

  _puback(conn: Conn, id: number): void {
    conn.session.inflight.delete(id);
  }

  // ---- internals ----

  #route(p: Packet): void {
    const groups = new Map<string, Session[]>();
    for (const s of [...this.#sessions.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : 1))) {
      let plain = false;
      for (const f of s.subs.keys()) {
        if (f.startsWith('$share/')) {
          const [, group, ...rest] = f.split('/');
          const filter = rest.join('/');
          if (!topicMatches(filter, p.topic)) continue;
          const key = `${group}|${filter}`;
          const members = groups.get(key) ?? [];
          if (!members.includes(s)) members.push(s);
          groups.set(key, members);
        } else if (!plain && topicMatches(f, p.topic)) plain = true;
      }
      if (plain) {
        this.onRoute?.(p.topic, s.clientId, false);
        this.#enqueue(s, p);
      }
    }
    for (const [key, members] of groups) {
      // Round-robin over every member session, online or not (Mosquitto does not skip offline ones).
      const n = this.#rr.get(key) ?? 0;
      this.#rr.set(key, n + 1);
      const target = members[n % members.length]!;
      this.onRoute?.(p.topic, target.clientId, true);
      this.#enqueue(target, p);
    }
  }

  #enqueue(s: Session, p: Packet): void {
    if (!s.conn && s.clean) return;
    if (!s.conn && p.qos === 0) return;
    s.queue.push(p);
    if (s.queue.length > 10_000) s.queue.shift(); // max_queued_messages
    this.#flush(s);
  }

  #flush(s: Session): void {
    const conn = s.conn;
    if (!conn?.open) return;
    while (s.queue.length > 0) {
      const p = s.queue.shift()!;
      const id = s.nextId++;
      if (p.qos === 1) s.inflight.set(id, p);
      this.#deliver(conn, id, p);
    }
  }

  /** Broker → client over the network, with the fault model. */
  #deliver(conn: Conn, id: number, p: Packet): void {
    const at = this.#schedule(conn, 'down');
    if (at === null) return;
    const dup = this.random.chance(this.net.dup);
    if (dup) this.count('dup');
    const send = (extra: number) =>
      setTimeout(() => {
        if (!conn.open) return;
        conn.client._message(p, () => {
          // PUBACK back over the network
          const back = this.#schedule(conn, 'up');
          if (back !== null) setTimeout(() => conn.open && this._puback(conn, id), back);
        });
      }, at + extra);
    send(0);
    if (dup) send(this.random.int(50) + 1);
  }

  /**
   * Delay for the next packet on `conn` in one direction, or null when the fault model loses it (the
   * connection is then cut, as a TCP connection that loses a segment for good would be).
   */
  _schedule(conn: Conn, dir: 'up' | 'down'): number | null {
    return this.#schedule(conn, dir);
  }

  #schedule(conn: Conn, dir: 'up' | 'down'): number | null {
    if (!conn.open) return null;
    if (this.random.chance(this.net.loss)) {
      this.count('loss');
      const c = conn;
      setTimeout(() => this.#drop(c, false), 1 + this.random.int(500));
      return null;
    }
    const [lo, hi] = this.latencyMs;
    let d = lo + this.random.int(hi - lo + 1);
    if (this.random.chance(this.net.delay)) {
      this.count('delay');
      d += this.random.int(3000);
    }
    const now = Date.now();
    const last = dir === 'down' ? conn.lastDown : conn.lastUp;
    if (this.random.chance(this.net.reorder)) {
      this.count('reorder');
      d = this.random.int(Math.max(1, last - now + 1)); // may overtake packets already on the wire
    } else d = Math.max(d, last - now + 1);
    if (dir === 'down') conn.lastDown = now + d;
    else conn.lastUp = now + d;
    return d;
  }

  #drop(conn: Conn, silentWill: boolean): void {
    if (!conn.open) return;
    conn.open = false;
    const s = conn.session;
    if (s.conn === conn) s.conn = null;
    // Deliveries not acknowledged stay in the persistent session for the next connect.
    if (s.clean && s.conn === null && this.#sessions.get(s.clientId) === s) this.#sessions.delete(s.clientId);
    if (conn.will && !silentWill && this.#up) this._publish(conn.will);
    conn.client._closed(conn);
  }
}

/** MQTT topic filter matching with + and #. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

interface Pending {
  packet: Packet;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * The subset of mqtt.js's MqttClient the links use: connect/close/error/message events,
 * publishAsync (resolves on PUBACK), subscribeAsync, endAsync, `options.will`, automatic reconnect
 * every `reconnectPeriod`. QoS 1 publishes not acknowledged when the connection drops are re-sent on
 * the next connect, as mqtt.js does for a persistent session.
 */
export class SimMqttClient extends EventEmitter {
  connected = false;
  readonly options: IClientOptions;
  #conn: Conn | null = null;
  #ended = false;
  #dead = false;
  #pending: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly broker: SimBroker,
    readonly group: string,
    options: IClientOptions,
  ) {
    super();
    this.options = { ...options };
    this.#timer = setTimeout(() => this.#tryConnect(), 1);
  }

  /** The process died: no more reconnects, no more events, the broker sees an abrupt close. */
  kill(): void {
    this.#dead = true;
    this.#ended = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#conn) this.broker._disconnect(this.#conn, false);
    this.#pending = [];
    this.removeAllListeners();
  }

  #tryConnect(): void {
    this.#timer = null;
    if (this.#ended) return;
    const conn = this.broker._connect(this, this.options);
    if (!conn) {
      this.#timer = setTimeout(() => this.#tryConnect(), this.options.reconnectPeriod ?? 1000);
      return;
    }
    this.#conn = conn;
    this.connected = true;
    this.emit('connect', { sessionPresent: true });
    // Re-send unacknowledged publishes (mqtt.js's outgoing store).
    for (const p of this.#pending) this.#send(conn, p);
  }

  _closed(conn: Conn): void {
    if (this.#conn !== conn) return;
    this.#conn = null;
    this.connected = false;
    if (this.#dead) return;
    this.emit('close');
    if (!this.#ended && !this.#timer)
      this.#timer = setTimeout(() => this.#tryConnect(), this.options.reconnectPeriod ?? 1000);
  }

  _message(p: Packet, ack: () => void): void {
    if (this.#dead) return;
    // mqtt.js acknowledges a QoS 1 message as soon as the handler has been called.
    this.emit('message', p.topic, p.payload, { retain: p.retain, dup: p.dup ?? false, qos: p.qos });
    if (p.qos === 1) ack();
  }

  #send(conn: Conn, pending: Pending): void {
    const d = this.broker._schedule(conn, 'up');
    if (d === null) return;
    const dup = this.broker._dupUp();
    const deliver = () => {
      if (!conn.open) return;
      this.broker._publish(pending.packet);
      const back = this.broker._schedule(conn, 'down');
      if (back === null) return;
      setTimeout(() => {
        if (!conn.open || this.#conn !== conn) return;
        const i = this.#pending.indexOf(pending);
        if (i >= 0) {
          this.#pending.splice(i, 1);
          pending.resolve();
        }
      }, back);
    };
    setTimeout(deliver, d);
    if (dup) setTimeout(deliver, d + 1);
  }

  publishAsync(topic: string, payload: Buffer | string, opts: { qos?: 0 | 1; retain?: boolean } = {}) {
    if (this.#ended) return Promise.reject(new Error('client disconnecting'));
    const packet: Packet = {
      topic,
      payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
      qos: opts.qos ?? 0,
      retain: opts.retain ?? false,
    };
    return new Promise<void>((resolve, reject) => {
      const pending = { packet, resolve, reject };
      this.#pending.push(pending);
      if (this.#conn) this.#send(this.#conn, pending);
    });
  }

  subscribeAsync(filters: string | string[], opts: { qos?: 0 | 1 } = {}) {
    const list = Array.isArray(filters) ? filters : [filters];
    const conn = this.#conn;
    if (!conn) return Promise.reject(new Error('not connected'));
    return new Promise<Array<{ topic: string; qos: number }>>((resolve, reject) => {
      const d = this.broker._schedule(conn, 'up');
      if (d === null) return reject(new Error('connection lost'));
      setTimeout(() => {
        if (!conn.open) return reject(new Error('connection lost'));
        resolve(this.broker._subscribe(conn, list, opts.qos ?? 0));
      }, d);
    });
  }

  async endAsync(_force?: boolean): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#conn) this.broker._disconnect(this.#conn, true);
    for (const p of this.#pending) p.reject(new Error('client disconnecting'));
    this.#pending = [];
  }
}
