import type { SimLaneControl } from '../hardware-sim/lane.js';
import { randomPlate } from '../hardware-sim/scenarios.js';
import type { Clock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import { SLOT_MS, slotOf, slotStartMs } from '../protocol/slots.js';
import { CloudApi, CloudApiError, type Reservation } from './cloud-api.js';
import { displayAsksPayment, payExitFee } from './pay-exit.js';

/**
 * The demo's live traffic, in wall-clock time. For each lot it books through the cloud's public
 * HTTP API (reserve → sandbox pay → complete → signed QR) and drives simulated vehicles through the
 * lot's entry and exit lanes with the simulator's controls — the same path a real car and a real
 * driver app take. Kinds of visitor:
 *   - booked, recognised by plate;
 *   - booked, shows the QR (the camera cannot read the plate);
 *   - booked, the camera misreads the plate, then the QR;
 *   - drive-up without a booking (pays by the QR on the exit display; offline its fee is recorded as
 *     owed and becomes a debt on the plate when the link returns);
 *   - a late leaver: books the current 15-minute slot and leaves well after it ended (overstay).
 * One vehicle at a time per lane; each lane has its own queue. Everything random comes from the seed.
 */

export type VisitorKind =
  | 'booked-plate'
  | 'booked-qr'
  | 'misread-qr'
  | 'drive-up'
  | 'late-leaver'
  /** A contract parker (demo/permits.ts): in by plate, also offline; nothing to pay at the exit. */
  | 'permit-holder';

export interface TrafficLot {
  lotId: string;
  name: string;
  entry: SimLaneControl;
  exit: SimLaneControl;
  /** True once the lot's controller holds the reservation (sync delivered it). */
  knowsReservation?: (reservationId: string) => boolean;
  /** Plates of the lot's permits (demo/permits.ts); none = no permit holders come. */
  permitPlates?: readonly string[];
  /** A merchant validates this drive-up's stay (demo/validations.ts); what it got. */
  validate?: (plate: string) => Promise<string>;
  /** The attendant takes the fee in cash at the booth (demo/attendant-api.ts); what was paid. */
  payCash?: (plate: string) => Promise<string>;
}

export interface TrafficEvent {
  lotId: string;
  kind: VisitorKind;
  plate: string;
  what:
    | 'booked'
    | 'arrived'
    | 'admitted'
    | 'refused'
    | 'paid'
    | 'left'
    | 'stuck'
    | 'booking-failed'
    | 'validated';
  detail?: string;
}

export interface TrafficOptions {
  cloudUrl: string;
  lots: readonly TrafficLot[];
  random: Random;
  clock: Clock;
  logger: Logger;
  /** The driver account the bookings are made with (registered when missing). */
  driver: { email: string; password: string };
  /** Mean gap between new visitors per lot [12 s]. */
  meanGapMs?: number;
  /** Stay of ordinary visitors [30 s .. 3 min]. */
  stayMs?: [number, number];
  /** How long a driver waits at a closed barrier before reversing away [20 s]. */
  patienceMs?: number;
  onEvent?: (event: TrafficEvent) => void;
}

interface Visitor {
  kind: VisitorKind;
  plate: string;
  reservation: Reservation | null;
}

const MIX: Array<[VisitorKind, number]> = [
  ['booked-plate', 4],
  ['booked-qr', 2],
  ['misread-qr', 1],
  ['drive-up', 4],
  ['late-leaver', 1],
  ['permit-holder', 2],
];

/** A serial queue: one vehicle at a lane at a time. */
class LaneQueue {
  #tail: Promise<void> = Promise.resolve();
  #length = 0;
  get length(): number {
    return this.#length;
  }
  push<T>(job: () => Promise<T>): Promise<T> {
    this.#length++;
    const run = this.#tail.then(job).finally(() => {
      this.#length--;
    });
    this.#tail = run.then(
      () => {},
      () => {},
    );
    return run;
  }
  idle(): Promise<void> {
    return this.#tail;
  }
}

export class DemoTraffic {
  readonly #o: Required<Omit<TrafficOptions, 'onEvent'>> & Pick<TrafficOptions, 'onEvent'>;
  readonly #api: CloudApi;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #queues = new Map<string, { entry: LaneQueue; exit: LaneQueue }>();
  readonly #plates = new Set<string>();
  /** Permit plates on a visit now (each drives in once at a time). */
  readonly #permitPlatesOut = new Set<string>();
  /** The generator makes new visitors. */
  #running = false;
  /** stop() was called: nobody new comes, cars inside stay. */
  #stopped = false;
  #loggedIn = false;
  readonly counts = { booked: 0, admitted: 0, refused: 0, left: 0, bookingFailed: 0 };

  constructor(options: TrafficOptions) {
    this.#o = {
      meanGapMs: 12_000,
      stayMs: [30_000, 180_000],
      patienceMs: 20_000,
      ...options,
    };
    this.#api = new CloudApi(options.cloudUrl);
    for (const lot of options.lots)
      this.#queues.set(lot.lotId, { entry: new LaneQueue(), exit: new LaneQueue() });
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const lot of this.#o.lots) this.#schedule(lot, 1_000 + this.#o.random.int(3_000));
  }

  /** Stops new visitors and waits (bounded) for the vehicles at the barriers to finish. */
  async stop(timeoutMs = 5_000): Promise<void> {
    this.#running = false;
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const idle = Promise.all([...this.#queues.values()].flatMap((q) => [q.entry.idle(), q.exit.idle()]));
    await Promise.race([idle, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** One visitor now (the demo control endpoint and tests use this too). */
  async visit(lotId: string, kind: VisitorKind, plate?: string): Promise<void> {
    const lot = this.#o.lots.find((l) => l.lotId === lotId);
    if (!lot) throw new Error(`unknown lot ${lotId}`);
    await this.#visit(lot, kind, plate);
  }

  /**
   * One scripted car at a lane (control endpoint, tests): arrives, the camera reads `plate`, shows
   * `qr` when given, drives through once the arm is up or reverses away after `patienceMs`.
   * Queued behind the generated traffic at that lane.
   */
  async arrive(a: {
    lotId: string;
    plate: string;
    qr: string | null;
    lane: 'entry' | 'exit';
    patienceMs: number;
  }): Promise<{ admitted: boolean; display: string[] }> {
    const lot = this.#o.lots.find((l) => l.lotId === a.lotId);
    if (!lot) throw new Error(`unknown lot ${a.lotId}`);
    const sim = a.lane === 'entry' ? lot.entry : lot.exit;
    const queue = this.#queues.get(a.lotId)![a.lane];
    return queue.push(async () => {
      await sim.vehicleArrives(a.plate, { misread: false });
      if (a.qr) await sim.presentQr(a.qr);
      const open = await sim.waitForArm('up', a.patienceMs);
      const display = [...sim.display.current()];
      if (open) await sim.driveThrough();
      else await sim.backOut();
      return { admitted: open, display };
    });
  }

  #schedule(lot: TrafficLot, delayMs: number): void {
    if (!this.#running) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#running) return;
      const queues = this.#queues.get(lot.lotId)!;
      // Do not pile up cars at a busy barrier: skip a turn instead.
      if (queues.entry.length < 2) {
        this.#visit(lot, this.#pickKind()).catch((err: unknown) =>
          this.#o.logger.warn({ err, lotId: lot.lotId }, 'demo visitor failed'),
        );
      }
      this.#schedule(lot, this.#gap());
    }, delayMs);
    t.unref?.();
    this.#timers.add(t);
  }

  #gap(): number {
    return Math.max(2_000, Math.round(-Math.log(1 - this.#o.random.next()) * this.#o.meanGapMs));
  }

  #pickKind(): VisitorKind {
    const total = MIX.reduce((s, [, w]) => s + w, 0);
    let r = this.#o.random.next() * total;
    for (const [kind, w] of MIX) {
      r -= w;
      if (r < 0) return kind;
    }
    return 'drive-up';
  }

  #freshPlate(): string {
    for (;;) {
      const p = randomPlate(this.#o.random);
      if (!this.#plates.has(p)) {
        this.#plates.add(p);
        return p;
      }
    }
  }

  #emit(e: TrafficEvent): void {
    // Cars caught by the shutdown are not news.
    if (this.#stopped) return;
    this.#o.onEvent?.(e);
  }

  async #ensureLogin(): Promise<void> {
    if (this.#loggedIn) return;
    await this.#api.login(this.#o.driver.email, this.#o.driver.password, { registerIfMissing: true });
    this.#loggedIn = true;
  }

  async #book(lot: TrafficLot, plate: string, kind: VisitorKind): Promise<Reservation | null> {
    const now = this.#o.clock.now();
    const start = slotStartMs(slotOf(now));
    // Late leavers book only the current slot; the others an hour or two.
    const slots = kind === 'late-leaver' ? 1 : 4 + this.#o.random.int(5);
    const body = {
      lotId: lot.lotId,
      vehicleType: 'car',
      plate,
      start: new Date(start).toISOString(),
      end: new Date(start + slots * SLOT_MS).toISOString(),
    };
    try {
      await this.#ensureLogin();
      const r = await this.#api.book(body);
      this.counts.booked++;
      this.#emit({ lotId: lot.lotId, kind, plate, what: 'booked', detail: `${r.id} spot ${r.spotLabel}` });
      return r;
    } catch (err) {
      if (err instanceof CloudApiError && err.status === 401) this.#loggedIn = false;
      this.counts.bookingFailed++;
      this.#emit({ lotId: lot.lotId, kind, plate, what: 'booking-failed', detail: (err as Error).message });
      return null;
    }
  }

  async #visit(lot: TrafficLot, kind: VisitorKind, givenPlate?: string): Promise<void> {
    if (kind === 'permit-holder' && givenPlate === undefined) {
      // A permit plate not already out driving; none free: an ordinary drive-up comes instead.
      const free = (lot.permitPlates ?? []).filter((p) => !this.#permitPlatesOut.has(p));
      if (free.length === 0) return this.#visit(lot, 'drive-up');
      const plate = free[this.#o.random.int(free.length)]!;
      this.#permitPlatesOut.add(plate);
      return this.#visit(lot, kind, plate).finally(() => this.#permitPlatesOut.delete(plate));
    }
    const plate = givenPlate ?? this.#freshPlate();
    let reservation: Reservation | null = null;
    if (kind !== 'drive-up' && kind !== 'permit-holder') {
      reservation = await this.#book(lot, plate, kind);
      // No booking (cloud unreachable, lot full): the driver turns up anyway, as a drive-up.
      if (!reservation) kind = 'drive-up';
    }
    if (reservation && lot.knowsReservation) {
      // The driver drives to the lot meanwhile: come once the booking reached it (or after 10 s
      // anyway — with the link cut it never does, and the car then shows its QR or is a drive-up).
      await this.#until(() => lot.knowsReservation!(reservation!.id), 10_000);
    }
    const visitor: Visitor = { kind, plate, reservation };
    const queues = this.#queues.get(lot.lotId)!;
    const admitted = await queues.entry
      .push(() => this.#enter(lot, visitor))
      .then(
        (ok) => ok,
        (err: unknown) => {
          this.#o.logger.warn({ err, lotId: lot.lotId, plate }, 'demo entry failed');
          return false;
        },
      );
    if (!admitted || this.#stopped) return;
    const stay = this.#stayFor(visitor);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, stay);
      t.unref?.();
      this.#timers.add(t);
    });
    if (this.#stopped) return;
    // Every other drive-up went to the cinema / the mall, which validates its parking.
    if (kind === 'drive-up' && lot.validate && this.#o.random.int(2) === 0) {
      await lot.validate(plate).then(
        (detail) => this.#emit({ lotId: lot.lotId, kind, plate, what: 'validated', detail }),
        (err: unknown) => this.#o.logger.warn({ err, lotId: lot.lotId, plate }, 'demo validation failed'),
      );
    }
    await queues.exit
      .push(() => this.#leave(lot, visitor))
      .catch((err: unknown) => this.#o.logger.warn({ err, lotId: lot.lotId, plate }, 'demo exit failed'));
  }

  async #until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = this.#o.clock.now() + timeoutMs;
    while (!cond()) {
      if (this.#o.clock.now() > deadline || this.#stopped) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  }

  #stayFor(v: Visitor): number {
    if (v.kind === 'late-leaver' && v.reservation) {
      // Well after the booked slot (and the lot's exit grace) ended: an overstay charge at the exit.
      const end = Date.parse(v.reservation.end);
      return Math.max(0, end - this.#o.clock.now()) + 12 * 60_000;
    }
    const [min, max] = this.#o.stayMs;
    return min + this.#o.random.int(Math.max(1, max - min));
  }

  /** Resolves true when the car drove in. */
  async #enter(lot: TrafficLot, v: Visitor): Promise<boolean> {
    const lane = lot.entry;
    this.#emit({ lotId: lot.lotId, kind: v.kind, plate: v.plate, what: 'arrived' });
    const qr = v.reservation?.credential ?? null;
    switch (v.kind) {
      case 'booked-qr':
        await lane.vehicleArrives(v.plate, { unreadable: true });
        if (qr) await lane.presentQr(qr);
        break;
      case 'misread-qr':
        await lane.vehicleArrives(v.plate, { misread: true });
        if (!(await lane.waitForArm('up', 3_000)) && qr) await lane.presentQr(qr);
        break;
      default:
        await lane.vehicleArrives(v.plate, { misread: false });
        break;
    }
    if (await lane.waitForArm('up', this.#o.patienceMs)) {
      await lane.driveThrough();
      this.counts.admitted++;
      this.#emit({ lotId: lot.lotId, kind: v.kind, plate: v.plate, what: 'admitted' });
      return true;
    }
    await lane.backOut();
    this.counts.refused++;
    this.#emit({
      lotId: lot.lotId,
      kind: v.kind,
      plate: v.plate,
      what: 'refused',
      detail: lane.display.current().join(' / '),
    });
    return false;
  }

  /**
   * The driver scans the QR on the exit display and pays the fee (the sandbox), or — one in three —
   * walks to the booth and pays the attendant in cash; either way the arm then opens.
   */
  async #payAtLane(lot: TrafficLot, v: Visitor): Promise<boolean> {
    try {
      const detail =
        lot.payCash && this.#o.random.int(3) === 0
          ? await lot.payCash(v.plate)
          : await payExitFee(this.#api, lot.lotId, v.plate).then(
              (paid) => `${(paid.amount.amount / 100).toFixed(2)} ${paid.amount.currency} by the QR`,
            );
      this.#emit({ lotId: lot.lotId, kind: v.kind, plate: v.plate, what: 'paid', detail });
    } catch (err) {
      this.#o.logger.warn({ err, lotId: lot.lotId, plate: v.plate }, 'demo exit payment failed');
    }
    return lot.exit.waitForArm('up', this.#o.patienceMs);
  }

  async #leave(lot: TrafficLot, v: Visitor): Promise<void> {
    const lane = lot.exit;
    const qr = v.reservation?.credential ?? null;
    await lane.vehicleArrives(v.plate, { misread: false });
    let open = await lane.waitForArm('up', 6_000);
    if (!open && displayAsksPayment(lane.display.current())) open = await this.#payAtLane(lot, v);
    if (!open && qr) {
      await lane.presentQr(qr);
      open = await lane.waitForArm('up', this.#o.patienceMs);
    }
    if (!open) open = await lane.waitForArm('up', this.#o.patienceMs);
    if (open) {
      await lane.driveThrough();
      this.counts.left++;
      this.#emit({
        lotId: lot.lotId,
        kind: v.kind,
        plate: v.plate,
        what: 'left',
        detail: lane.display.current().join(' / '),
      });
      return;
    }
    // Nobody is trapped in the demo: the car waits for the attendant; reverse so the lane frees up.
    await lane.backOut();
    this.#emit({
      lotId: lot.lotId,
      kind: v.kind,
      plate: v.plate,
      what: 'stuck',
      detail: lane.display.current().join(' / '),
    });
  }
}
