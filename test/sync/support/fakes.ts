import type { Reservation } from '../../../protocol/domain.js';
import type { Change, ChangeReason, ConnectivityState } from '../../../protocol/mqtt.js';
import type {
  ChangeLog,
  ChangeNotifications,
  ConfigSource,
  EventEffects,
  LotConfigMessage,
  OverflowAsk,
  OverflowBooking,
  ReservationEffects,
  WireEvent,
} from '../../../cloud/sync/ports.js';
import type { ApplyResult, EdgeHealth, EdgeSyncStore, OutboxEvent } from '../../../edge/sync/ports.js';

/**
 * In-memory stand-ins for the edge store and the cloud repositories, with the semantics the ports
 * promise. They also count how often each change was applied, to prove "exactly once".
 */

export class MemoryEdgeStore implements EdgeSyncStore {
  cursor = 0;
  readonly reservations = new Map<string, Reservation>();
  /** seq → times applied (must never exceed 1). */
  readonly appliedSeqs = new Map<number, number>();
  config: LotConfigMessage | null = null;
  readonly outbox: Array<{ event: OutboxEvent; acked: boolean }> = [];
  acked = 0;
  readonly commandsSeen = new Set<string>();
  readonly connectivityLog: Array<{ state: ConnectivityState; sinceMs: number }> = [];
  snapshots = 0;
  /** Fault injection: throw from applyChanges while set. */
  failApply = false;

  applyChanges(changes: readonly Change[]): ApplyResult {
    if (this.failApply) throw new Error('injected apply failure');
    let applied = 0;
    let skipped = 0;
    for (const c of changes) {
      if (c.seq <= this.cursor) {
        skipped++;
        continue;
      }
      if (c.seq > this.cursor + 1) return { applied, skipped, gapFrom: this.cursor };
      if ('reservation' in c) this.reservations.set(c.reservation.id, c.reservation);
      this.appliedSeqs.set(c.seq, (this.appliedSeqs.get(c.seq) ?? 0) + 1);
      this.cursor = c.seq;
      applied++;
    }
    return { applied, skipped };
  }

  applySnapshot(reservations: readonly Reservation[], asOfSeq: number): void {
    this.reservations.clear();
    for (const r of reservations) this.reservations.set(r.id, r);
    this.cursor = asOfSeq;
    this.snapshots++;
  }

  getCursor(): number {
    return this.cursor;
  }

  configVersion(): number {
    return this.config?.version ?? 0;
  }

  setConfig(config: LotConfigMessage): void {
    this.config = config;
  }

  /** What a lane does: write an event to the outbox with the next gapless id. */
  writeEvent(event: Omit<OutboxEvent, 'eventId'>): OutboxEvent {
    const e = { ...event, eventId: this.outbox.length + 1 } as OutboxEvent;
    this.outbox.push({ event: e, acked: false });
    return e;
  }

  pendingEvents(afterEventId: number, limit: number): OutboxEvent[] {
    const out: OutboxEvent[] = [];
    for (let i = Math.max(afterEventId, this.acked); i < this.outbox.length && out.length < limit; i++) {
      const row = this.outbox[i]!;
      if (!row.acked) out.push(row.event);
    }
    return out;
  }

  ackEvents(upTo: number): void {
    for (let i = this.acked; i < Math.min(upTo, this.outbox.length); i++) this.outbox[i]!.acked = true;
    this.acked = Math.max(this.acked, Math.min(upTo, this.outbox.length));
  }

  outboxDepth(): number {
    return this.outbox.length - this.acked;
  }

  lastEventId(): number {
    return this.outbox.length;
  }

  setConnectivity(state: ConnectivityState, sinceMs: number): void {
    this.connectivityLog.push({ state, sinceMs });
  }

  health(): EdgeHealth {
    return {
      occupancy: { driveup: { held: 0, total: 2 } },
      lanes: [{ id: 'in-1', state: 'idle', devices: { barrier: 'ok' } }],
    };
  }

  commandSeen(commandId: string): boolean {
    return this.commandsSeen.has(commandId);
  }

  recordCommandAck(commandId: string, ok: boolean, detail: string): void {
    if (this.commandsSeen.has(commandId)) return;
    this.commandsSeen.add(commandId);
    this.writeEvent({
      kind: 'command_ack',
      at: new Date().toISOString(),
      laneId: null,
      correlationId: null,
      commandId,
      ok,
      detail,
    });
  }

  /** Active reservations the way the mirror sees them. */
  active(): Map<string, Reservation['status']> {
    return new Map([...this.reservations.values()].map((r) => [r.id, r.status]));
  }
}

export const LOT_CONFIG = (lotId: string, version = 1): LotConfigMessage => ({
  version,
  lot: {
    id: lotId,
    name: `Lot ${lotId}`,
    timeZone: 'Europe/Paris',
    location: { lat: 48.85, lng: 2.35 },
    rates: { currency: 'EUR', hourlyRate: 400, dailyMax: null, dynamicPricing: null },
    policy: {
      maxDurationMinutes: 10080,
      bookingHorizonDays: 90,
      holdMinutes: 15,
      noShowGraceMinutes: 480,
      earlyArrivalMinutes: 15,
      exitGraceMinutes: 0,
      antiPassback: 'hard',
      plateMinConfidence: 0.8,
      overflowHorizonMinutes: 240,
      overflowTimeoutMs: 1500,
      refund: 'none',
      debtPolicy: 'warn',
    },
    spots: [
      { id: 's1', label: 'A-1', level: '0', type: 'car', pool: 'bookable' },
      { id: 's2', label: 'A-2', level: '0', type: 'car', pool: 'bookable' },
      { id: 'd1', label: 'D-1', level: '0', type: 'car', pool: 'driveup' },
    ],
  },
  publicKeys: [],
});

/** The cloud's bookings and change log, in memory: every change appends to the lot's log. */
export class MemoryCloud implements ChangeLog, ConfigSource, ReservationEffects, ChangeNotifications {
  readonly logs = new Map<string, Change[]>();
  readonly reservations = new Map<string, Reservation>();
  readonly floors = new Map<string, number>();
  readonly configsByLot = new Map<string, LotConfigMessage>();
  readonly checkIns: string[] = [];
  readonly departures: string[] = [];
  readonly cancels: string[] = [];
  overflowAnswer: 'grant' | 'refuse' = 'grant';
  /** Delay before answering an overflow request (to test deadlines). */
  overflowDelayMs = 0;
  /** While set, appends do not notify (a lost NOTIFY). */
  silent = false;
  #listeners = new Set<(lotId: string) => void>();
  #n = 0;

  constructor(readonly now: () => number = Date.now) {}

  // ---- writes, as the cloud's reservation code would do them ----

  reserve(lotId: string, over: Partial<Reservation> = {}): Reservation {
    const id = over.id ?? `r${++this.#n}`;
    const start = Math.floor(this.now() / 900_000) * 900_000;
    const r: Reservation = {
      id,
      lotId,
      spotId: 's1',
      spotLabel: 'A-1',
      vehicleType: 'car',
      plate: `P${this.#n}`,
      start: new Date(start).toISOString(),
      end: new Date(start + 2 * 3_600_000).toISOString(),
      status: 'CONFIRMED',
      kind: 'booking',
      price: { amount: 800, currency: 'EUR' },
      ...over,
    };
    this.#append(lotId, 'confirmed', r);
    return r;
  }

  cancel(reservationId: string): Reservation {
    const r = this.reservations.get(reservationId);
    if (!r) throw new Error(`no reservation ${reservationId}`);
    const next = { ...r, status: 'CANCELLED' as const };
    this.#append(r.lotId, 'cancelled', next);
    return next;
  }

  setConfig(config: LotConfigMessage): void {
    this.configsByLot.set(config.lot.id, config);
  }

  prune(lotId: string, upToSeq: number): void {
    const log = this.logs.get(lotId) ?? [];
    this.logs.set(
      lotId,
      log.filter((c) => c.seq > upToSeq),
    );
    this.floors.set(lotId, Math.max(this.floors.get(lotId) ?? 0, upToSeq));
  }

  #append(lotId: string, reason: ChangeReason, r: Reservation): void {
    this.reservations.set(r.id, r);
    const log = this.logs.get(lotId) ?? [];
    this.logs.set(lotId, log);
    const seq = (log.at(-1)?.seq ?? this.floors.get(lotId) ?? 0) + 1;
    log.push({ seq, at: new Date(this.now()).toISOString(), reason, reservation: r });
    if (!this.silent) for (const l of this.#listeners) l(lotId);
  }

  // ---- ChangeLog ----

  async headSeq(lotId: string): Promise<number> {
    return this.logs.get(lotId)?.at(-1)?.seq ?? this.floors.get(lotId) ?? 0;
  }

  async changesSince(lotId: string, fromSeq: number, limit: number): Promise<Change[]> {
    return (this.logs.get(lotId) ?? []).filter((c) => c.seq > fromSeq).slice(0, limit);
  }

  async heads(): Promise<Array<{ lotId: string; headSeq: number }>> {
    return Promise.all(
      [...this.logs.keys()].map(async (lotId) => ({ lotId, headSeq: await this.headSeq(lotId) })),
    );
  }

  async logFloor(lotId: string): Promise<number> {
    return this.floors.get(lotId) ?? 0;
  }

  async snapshot(lotId: string, nowMs: number): Promise<{ asOfSeq: number; reservations: Reservation[] }> {
    const reservations = [...this.reservations.values()].filter(
      (r) =>
        r.lotId === lotId &&
        ['TENTATIVE', 'CONFIRMED', 'CHECKED_IN'].includes(r.status) &&
        Date.parse(r.end) > nowMs,
    );
    return { asOfSeq: await this.headSeq(lotId), reservations };
  }

  // ---- ChangeNotifications ----

  async listen(onLot: (lotId: string) => void): Promise<() => Promise<void>> {
    this.#listeners.add(onLot);
    return async () => {
      this.#listeners.delete(onLot);
    };
  }

  // ---- ConfigSource ----

  async versions(): Promise<Array<{ lotId: string; version: number }>> {
    return [...this.configsByLot.values()].map((c) => ({ lotId: c.lot.id, version: c.version }));
  }

  async config(lotId: string): Promise<LotConfigMessage | null> {
    return this.configsByLot.get(lotId) ?? null;
  }

  // ---- OverflowBooking ----

  async book(
    ask: OverflowAsk,
  ): Promise<{ granted: true; reservation: Reservation } | { granted: false; reason: string }> {
    if (this.overflowDelayMs > 0) await new Promise((r) => setTimeout(r, this.overflowDelayMs));
    if (this.overflowAnswer === 'refuse') return { granted: false, reason: 'no bookable spot free' };
    const r = this.reserve(ask.lotId, {
      plate: ask.plate,
      kind: 'driveup',
      start: new Date(ask.startMs).toISOString(),
      end: new Date(ask.endMs).toISOString(),
      spotId: 's2',
      spotLabel: 'A-2',
    });
    return { granted: true, reservation: r };
  }

  // OverflowBooking.cancel is exposed through `overflowPort()` (it would clash with `cancel(reservationId)`).
  async cancelOverflow(
    lotId: string,
    reservationId: string,
  ): Promise<{ cancelled: boolean; reason?: string }> {
    const r = this.reservations.get(reservationId);
    if (!r || r.lotId !== lotId || r.kind !== 'driveup')
      return { cancelled: false, reason: 'not a drive-up of this lot' };
    if (r.status === 'CANCELLED') return { cancelled: true };
    this.cancels.push(reservationId);
    this.cancel(reservationId);
    return { cancelled: true };
  }

  // ---- ReservationEffects ----

  async checkIn(lotId: string, reservationId: string): Promise<void> {
    const r = this.reservations.get(reservationId);
    if (!r || r.lotId !== lotId) throw new Error('unknown reservation');
    this.checkIns.push(reservationId);
    this.#append(lotId, 'checked_in', { ...r, status: 'CHECKED_IN' });
  }

  async depart(lotId: string, reservationId: string): Promise<void> {
    const r = this.reservations.get(reservationId);
    if (!r || r.lotId !== lotId) throw new Error('unknown reservation');
    this.departures.push(reservationId);
    this.#append(lotId, 'completed', { ...r, status: 'COMPLETED' });
  }

  overflowPort(): OverflowBooking {
    return { book: (ask) => this.book(ask), cancel: (lotId, id) => this.cancelOverflow(lotId, id) };
  }

  /** Effects without SQL: entry/exit through the reservation methods, the rest only counted. */
  effects(): EventEffects & { seen: Map<string, number> } {
    const seen = new Map<string, number>();
    return {
      seen,
      affects: () => true,
      apply: async (lotId, e: WireEvent) => {
        const key = `${lotId}/${e.eventId}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        if (e.kind === 'entry' && typeof e.reservationId === 'string')
          await this.checkIn(lotId, e.reservationId);
        if (e.kind === 'exit' && typeof e.reservationId === 'string')
          await this.depart(lotId, e.reservationId);
      },
    };
  }
}
