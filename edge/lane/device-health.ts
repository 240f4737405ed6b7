import type { Logger } from '../../protocol/logger.js';
import type { DeviceHealth } from '../devices/types.js';
import { type GateEnvironment, iso } from './types.js';

type Device = 'camera' | 'qr';

/**
 * A lane's camera and scanner health: every change is pushed on the bus; losing a device raises a
 * `device_fault` alarm and getting it back records the restore. Only edges count: lost once,
 * restored once (a device that was never lost is not "restored").
 */
export class DeviceHealthWatch {
  readonly #laneId: string;
  readonly #env: Pick<GateEnvironment, 'store' | 'bus' | 'metrics' | 'clock'>;
  readonly #log: Logger;
  readonly #lost = new Set<Device>();
  /** Last health announced on the bus per device, so only changes are pushed. */
  readonly #seen = new Map<Device, DeviceHealth>();

  constructor(opts: {
    laneId: string;
    env: Pick<GateEnvironment, 'store' | 'bus' | 'metrics' | 'clock'>;
    log: Logger;
  }) {
    this.#laneId = opts.laneId;
    this.#env = opts.env;
    this.#log = opts.log;
  }

  /** The health at start-up: announced only when it changes from this. */
  initial(device: Device, health: DeviceHealth): void {
    this.#seen.set(device, health);
  }

  report(device: Device, health: DeviceHealth, detail: string): void {
    if (this.#seen.get(device) !== health) {
      this.#seen.set(device, health);
      this.#env.bus.emit({
        type: 'device',
        laneId: this.#laneId,
        device,
        health,
        detail: detail.slice(0, 200),
        at: iso(this.#env.clock.now()),
      });
    }
    if (health === 'lost') {
      if (this.#lost.has(device)) return;
      this.#lost.add(device);
    } else if (health === 'ok') {
      if (!this.#lost.delete(device)) return;
    } else {
      return;
    }
    this.#record(device, health === 'lost' ? 'lost' : 'restored', detail);
  }

  #record(device: Device, state: 'lost' | 'restored', detail: string): void {
    const env = this.#env;
    const atMs = env.clock.now();
    this.#log.warn({ device, state, detail }, 'device health');
    const draft = {
      kind: 'device_fault' as const,
      at: iso(atMs),
      laneId: this.#laneId,
      correlationId: null,
      device,
      state,
      detail: detail.slice(0, 200),
    } as const;
    if (state === 'lost') {
      env.metrics.alarms.inc({ kind: 'device_fault' });
      env.store.ledger.recordAlarm(draft, atMs, `${device} lost: ${detail}`.slice(0, 200));
    } else {
      env.store.ledger.recordEvent(draft, atMs);
    }
  }
}
