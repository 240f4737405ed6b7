import type { Clock } from '../protocol/clock.js';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/**
 * One lot's "internet link" in the demo: a TCP relay between the lot controller and the MQTT broker.
 * Cutting it destroys the open connections (the edge's MQTT client sees the socket close at once and
 * the broker publishes the lot's last will) and refuses new ones until it is restored. Nothing in the
 * edge or the cloud knows the relay is there: what they observe is a real network failure.
 */
export interface LinkTarget {
  host: string;
  port: number;
}

export interface LinkChange {
  up: boolean;
  at: number;
}

export class LinkRelay {
  readonly #target: LinkTarget;
  readonly #host: string;
  readonly #pairs = new Set<[Socket, Socket]>();
  readonly #listeners = new Set<(change: LinkChange) => void>();
  readonly #clock: Clock;
  #server: Server | null = null;
  #port = 0;
  #up = true;
  #changedAt: number;
  /** Connections refused while the link was down. */
  refused = 0;

  constructor(target: LinkTarget, options: { clock: Clock; host?: string; port?: number }) {
    this.#target = target;
    this.#clock = options.clock;
    this.#changedAt = options.clock.now();
    this.#host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 0;
  }

  /** `mqtt://host:port` of the relay, for the edge's MQTT url. */
  get url(): string {
    return `mqtt://${this.#host}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get up(): boolean {
    return this.#up;
  }

  get changedAt(): number {
    return this.#changedAt;
  }

  /** Open connections currently relayed. */
  get connections(): number {
    return this.#pairs.size;
  }

  async start(): Promise<this> {
    if (this.#server) throw new Error('link relay already started');
    const server = createServer((inbound) => this.#accept(inbound));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.#host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Cut (false) or restore (true) the link. Idempotent. */
  set(up: boolean): void {
    if (up === this.#up) return;
    this.#up = up;
    this.#changedAt = this.#clock.now();
    if (!up) {
      for (const [a, b] of this.#pairs) {
        a.destroy();
        b.destroy();
      }
      this.#pairs.clear();
    }
    for (const l of this.#listeners) l({ up, at: this.#changedAt });
  }

  toggle(): boolean {
    this.set(!this.#up);
    return this.#up;
  }

  onChange(listener: (change: LinkChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(inbound: Socket): void {
    if (!this.#up) {
      this.refused++;
      inbound.destroy();
      return;
    }
    const outbound = connect(this.#target.port, this.#target.host);
    const pair: [Socket, Socket] = [inbound, outbound];
    this.#pairs.add(pair);
    const teardown = () => {
      this.#pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', teardown).on('close', teardown);
    outbound.on('error', teardown).on('close', teardown);
    inbound.setNoDelay(true);
    outbound.setNoDelay(true);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }
}

/** host and port of an mqtt:// (or tcp://) URL; the default port is 1883. */
export function targetOf(url: string): LinkTarget {
  const u = new URL(url);
  if (u.protocol !== 'mqtt:' && u.protocol !== 'tcp:') {
    throw new Error(`the demo's link relay forwards plain mqtt:// only, not ${u.protocol}`);
  }
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 1883 };
}
