import type {
  ChangeLog,
  ConfigSource,
  EventEffects,
  LotConfigMessage,
  OverflowAsk,
  OverflowBooking,
  ReservationEffects,
  WireEvent,
} from '../cloud/sync/ports.js';
import { ACTIVE_STATUSES, ELIGIBLE_SPOT_TYPES, type Reservation } from '../protocol/domain.js';
import type { Change, ChangeReason } from '../protocol/mqtt.js';
import { bookingPrice, effectivePlan, priceOverstay } from '../protocol/pricing.js';
import type { Random } from '../protocol/random.js';
import { SLOT_MS } from '../protocol/slots.js';

/**
 * The cloud's booking authority in memory: the rules of cloud/repositories/reservations (one car one
 * reservation, bookable spots only, a hold that expires, confirm with payment, cancel with refund,
 * check-in/depart once per fact key with the overstay charge, overflow drive-ups once per request key)
 * over protocol/money and slot math, behind the same ports the real cloud binds
 * (cloud/sync/repo-adapter.ts). It outlives cloud "process" restarts, as PostgreSQL would.
 */

export interface Payment {
  reservationId: string;
  kind: 'capture' | 'refund' | 'overstay';
  amount: number;
  key: string;
}

const ACTIVE = new Set<string>(ACTIVE_STATUSES);

export class CloudModel implements ChangeLog, ConfigSource, ReservationEffects {
  readonly logs = new Map<string, Change[]>();
  readonly reservations = new Map<string, Reservation>();
  readonly configs = new Map<string, LotConfigMessage>();
  readonly payments: Payment[] = [];
  readonly facts = new Map<string, string>();
  readonly requestKeys = new Map<string, string>();
  /** (lot/eventId) → effect applied (debts, cash): must be at most one each. */
  readonly sideEffects = new Map<string, number>();
  readonly holdExpiry = new Map<string, number>();
  #n = 0;

  constructor(
    private readonly now: () => number,
    private readonly random: Random,
  ) {}

  setConfig(c: LotConfigMessage): void {
    this.configs.set(c.lot.id, c);
  }

  // ---- bookings (the HTTP API's effects) ----

  reserve(lotId: string, plate: string, startMs: number, endMs: number): Reservation | null {
    const lot = this.configs.get(lotId)!.lot;
    for (const r of this.reservations.values())
      if (ACTIVE.has(r.status) && r.plate === plate && overlaps(r, startMs, endMs)) return null;
    const spot = this.#freeSpot(lotId, 'car', startMs, endMs, 'bookable');
    if (!spot) return null;
    const r: Reservation = {
      id: `r${++this.#n}-${this.random.id(6)}`,
      lotId,
      spotId: spot.id,
      spotLabel: spot.label,
      vehicleType: 'car',
      plate,
      start: new Date(startMs).toISOString(),
      end: new Date(endMs).toISOString(),
      status: 'TENTATIVE',
      kind: 'booking',
      price: bookingPrice(lot, 'car', { startMs, endMs }).total,
    };
    this.holdExpiry.set(r.id, this.now() + lot.policy.holdMinutes * 60_000);
    this.#append(lotId, 'created', r);
    return r;
  }

  pay(id: string): boolean {
    const r = this.reservations.get(id);
    if (r?.status !== 'TENTATIVE' || (this.holdExpiry.get(id) ?? 0) <= this.now()) return false;
    this.payments.push({ reservationId: id, kind: 'capture', amount: r.price.amount, key: `pay:${id}` });
    this.#append(r.lotId, 'confirmed', { ...r, status: 'CONFIRMED' });
    return true;
  }

  cancel(id: string): boolean {
    const r = this.reservations.get(id);
    if (!r || (r.status !== 'TENTATIVE' && r.status !== 'CONFIRMED')) return false;
    const policy = this.configs.get(r.lotId)!.lot.policy;
    if (r.status === 'CONFIRMED' && policy.refund === 'full_before_start' && this.now() < Date.parse(r.start))
      this.payments.push({ reservationId: id, kind: 'refund', amount: r.price.amount, key: `refund:${id}` });
    this.#append(r.lotId, 'cancelled', { ...r, status: 'CANCELLED' });
    return true;
  }

  /** The hold-expiry and no-show sweepers. */
  sweep(): void {
    const now = this.now();
    for (const r of [...this.reservations.values()]) {
      if (r.status === 'TENTATIVE' && (this.holdExpiry.get(r.id) ?? 0) <= now)
        this.#append(r.lotId, 'expired', { ...r, status: 'EXPIRED' });
      else if (r.status === 'CONFIRMED' && Date.parse(r.end) <= now)
        this.#append(r.lotId, 'no_show', { ...r, status: 'NO_SHOW' });
    }
  }

  #freeSpot(lotId: string, type: 'car', startMs: number, endMs: number, pool: 'bookable') {
    const lot = this.configs.get(lotId)!.lot;
    const eligible = ELIGIBLE_SPOT_TYPES[type];
    for (const s of lot.spots) {
      if (s.pool !== pool || !eligible.includes(s.type)) continue;
      let free = true;
      for (const r of this.reservations.values())
        if (r.lotId === lotId && r.spotId === s.id && ACTIVE.has(r.status) && overlaps(r, startMs, endMs)) {
          free = false;
          break;
        }
      if (free) return s;
    }
    return null;
  }

  #append(lotId: string, reason: ChangeReason, r: Reservation): void {
    this.reservations.set(r.id, r);
    const log = this.logs.get(lotId) ?? [];
    this.logs.set(lotId, log);
    log.push({ seq: log.length + 1, at: new Date(this.now()).toISOString(), reason, reservation: r });
  }

  // ---- ChangeLog ----
  async headSeq(lotId: string) {
    return this.logs.get(lotId)?.length ?? 0;
  }
  async changesSince(lotId: string, fromSeq: number, limit: number) {
    return (this.logs.get(lotId) ?? []).slice(fromSeq, fromSeq + limit);
  }
  async heads() {
    return [...this.logs.entries()].map(([lotId, l]) => ({ lotId, headSeq: l.length }));
  }
  async logFloor() {
    return 0;
  }
  async snapshot(lotId: string, nowMs: number) {
    const reservations = [...this.reservations.values()].filter(
      (r) => r.lotId === lotId && ACTIVE.has(r.status) && Date.parse(r.end) > nowMs,
    );
    return { asOfSeq: this.logs.get(lotId)?.length ?? 0, reservations };
  }

  // ---- ConfigSource ----
  async versions() {
    return [...this.configs.values()].map((c) => ({ lotId: c.lot.id, version: c.version }));
  }
  async config(lotId: string) {
    return this.configs.get(lotId) ?? null;
  }

  // ---- OverflowBooking ----
  overflowPort(): OverflowBooking {
    return {
      book: async (ask: OverflowAsk) => {
        const key = `overflow:${ask.lotId}:${ask.correlationId}`;
        const earlier = this.requestKeys.get(key);
        if (earlier) return { granted: true, reservation: this.reservations.get(earlier)! };
        for (const r of this.reservations.values())
          if (ACTIVE.has(r.status) && r.plate === ask.plate && overlaps(r, ask.startMs, ask.endMs))
            return { granted: false, reason: 'plate already booked' };
        const spot = this.#freeSpot(ask.lotId, 'car', ask.startMs, ask.endMs, 'bookable');
        if (!spot) return { granted: false, reason: 'full' };
        const r: Reservation = {
          id: `o${++this.#n}-${this.random.id(6)}`,
          lotId: ask.lotId,
          spotId: spot.id,
          spotLabel: spot.label,
          vehicleType: ask.vehicleType,
          plate: ask.plate,
          start: new Date(ask.startMs).toISOString(),
          end: new Date(ask.endMs).toISOString(),
          status: 'CONFIRMED',
          kind: 'driveup',
          price: { amount: 0, currency: 'EUR' },
        };
        this.requestKeys.set(key, r.id);
        this.#append(ask.lotId, 'driveup_granted', r);
        return { granted: true, reservation: r };
      },
      cancel: async (lotId, reservationId) => {
        const r = this.reservations.get(reservationId);
        if (!r || r.lotId !== lotId || r.kind !== 'driveup') return { cancelled: false, reason: 'not ours' };
        if (r.status === 'CANCELLED') return { cancelled: true };
        if (r.status !== 'CONFIRMED') return { cancelled: false, reason: r.status };
        this.#append(lotId, 'cancelled', { ...r, status: 'CANCELLED' });
        return { cancelled: true };
      },
    };
  }

  // ---- ReservationEffects (once per fact key) ----
  async checkIn(lotId: string, reservationId: string, _atMs: number, factKey: string) {
    const key = `${lotId}/${factKey}`;
    if (this.facts.has(key)) return;
    const r = this.reservations.get(reservationId);
    if (!r || r.lotId !== lotId || r.status !== 'CONFIRMED') {
      this.facts.set(key, 'refused');
      return;
    }
    this.facts.set(key, 'checked_in');
    this.#append(lotId, 'checked_in', { ...r, status: 'CHECKED_IN' });
  }

  async depart(lotId: string, reservationId: string, atMs: number, _exit: unknown, factKey: string) {
    const key = `${lotId}/${factKey}`;
    if (this.facts.has(key)) return;
    const r = this.reservations.get(reservationId);
    if (!r || r.lotId !== lotId || r.status !== 'CHECKED_IN') {
      this.facts.set(key, 'refused');
      return;
    }
    this.facts.set(key, 'completed');
    const lot = this.configs.get(lotId)!.lot;
    const fee = priceOverstay(
      effectivePlan(lot),
      { endMs: Date.parse(r.end), exitMs: atMs, vehicleType: r.vehicleType },
      lot.policy.exitGraceMinutes,
      lot.timeZone,
    ).total;
    if (fee.amount > 0 && r.kind === 'booking')
      this.payments.push({ reservationId, kind: 'overstay', amount: fee.amount, key: `overstay:${factKey}` });
    this.#append(lotId, 'completed', { ...r, status: 'COMPLETED' });
  }

  /** Gate-event effects as cloud/sync/effects.ts applies them (reservation facts + sync tables). */
  effects(onAck: (commandId: string, ok: boolean, detail: string, at: string) => void): EventEffects {
    return {
      affects: (e) => ['entry', 'exit', 'unable_to_collect', 'cash_payment', 'command_ack'].includes(e.kind),
      apply: async (lotId: string, e: WireEvent) => {
        const factKey = `edge:${e.eventId}`;
        const rid = typeof e.reservationId === 'string' ? e.reservationId : null;
        if (e.kind === 'entry' && rid) await this.checkIn(lotId, rid, Date.parse(e.at), factKey);
        else if (e.kind === 'exit' && rid) await this.depart(lotId, rid, Date.parse(e.at), e, factKey);
        else if (e.kind === 'unable_to_collect' || e.kind === 'cash_payment') {
          const k = `${e.kind}:${lotId}/${e.eventId}`;
          if (!this.sideEffects.has(k)) this.sideEffects.set(k, 1);
        } else if (e.kind === 'command_ack')
          onAck(String(e.commandId), e.ok === true, String(e.detail ?? ''), e.at);
      },
    };
  }
}

function overlaps(r: Reservation, startMs: number, endMs: number): boolean {
  return Date.parse(r.start) < endMs && startMs < Date.parse(r.end);
}

export function slotAligned(ms: number): number {
  return Math.floor(ms / SLOT_MS) * SLOT_MS;
}
