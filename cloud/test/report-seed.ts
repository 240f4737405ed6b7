import type { Random } from '../../protocol/random.js';
import type { Queryable } from '../db/database.js';

/**
 * A lot's history as facts, for the report tests and the report bench: bookings (completed,
 * no-show, cancelled with refund) with their payments (some pending or failed, which are not
 * revenue), and the gate events and effect rows a lot reports — entries and exits with pools,
 * overstay and drive-up charges, cash at the gate, debts — inserted in bulk. Returns what a correct
 * report must add up to, computed here independently of the report code.
 */

export interface SeedOptions {
  lotId: string;
  currency: string;
  /** Spot ids of the lot: bookings go to `bookable`. */
  bookableSpot: string;
  startMs: number;
  days: number;
  sessionsPerDay: number;
  random: Random;
}

export interface SeededStay {
  entered: number;
  exited: number | null;
  pool: 'bookable' | 'driveup';
}

export interface SeedTotals {
  bookings: number;
  overstay: number;
  refunds: number;
  cash: number;
  gateCharges: number;
  owed: number;
  entries: number;
  exits: number;
  noShows: number;
  forfeited: number;
  stays: SeededStay[];
  /** Departures with their stay, for the average. */
  staysMs: Array<{ exited: number; ms: number }>;
}

const MIN = 60_000;
const CHUNK = 5000;

interface Row {
  [k: string]: unknown;
}

export async function seedLotHistory(q: Queryable, o: SeedOptions): Promise<SeedTotals> {
  const rnd = o.random;
  const t: SeedTotals = {
    bookings: 0,
    overstay: 0,
    refunds: 0,
    cash: 0,
    gateCharges: 0,
    owed: 0,
    entries: 0,
    exits: 0,
    noShows: 0,
    forfeited: 0,
    stays: [],
    staysMs: [],
  };
  const reservations: Row[] = [];
  const payments: Row[] = [];
  const events: Row[] = [];
  const cash: Row[] = [];
  const charges: Row[] = [];
  const debts: Row[] = [];
  let eventId = 0;
  let n = 0;
  const endMs = o.startMs + o.days * 86_400_000;
  const iso = (ms: number) => new Date(ms).toISOString();

  const reservation = (id: string, startMs: number, endMs2: number, status: string, price: number) => {
    reservations.push({
      id,
      lot_id: o.lotId,
      spot_id: o.bookableSpot,
      spot_label: o.bookableSpot,
      kind: 'booking',
      vehicle_type: 'car',
      plate: `P${n}`,
      start_at: iso(startMs),
      end_at: iso(endMs2),
      status,
      price_amount: price,
      currency: o.currency,
      created_at: iso(startMs - 60 * MIN),
      updated_at: iso(startMs),
    });
  };
  const payment = (rid: string, kind: string, amount: number, status: string, atMs: number) => {
    payments.push({
      id: `${rid}-${kind}`,
      reservation_id: rid,
      kind,
      amount,
      currency: o.currency,
      status,
      created_at: iso(atMs),
      updated_at: iso(atMs),
    });
    if (status !== 'succeeded') return;
    if (kind === 'capture') t.bookings += amount;
    else if (kind === 'overstay') t.overstay += amount;
    else t.refunds += amount;
  };
  const event = (kind: string, atMs: number, body: Row) => {
    eventId++;
    events.push({ eventId, kind, at: iso(atMs), laneId: 'l1', correlationId: null, ...body });
    return eventId;
  };

  for (let day = 0; day < o.days; day++) {
    for (let s = 0; s < o.sessionsPerDay; s++) {
      n++;
      const entered = o.startMs + day * 86_400_000 + rnd.int(86_400_000);
      const stayMs = (15 + rnd.int(8 * 60)) * MIN;
      const stillInside = entered + stayMs >= endMs || rnd.chance(0.01);
      const exited = stillInside ? null : entered + stayMs;
      const sessionId = `sess-${n}`;
      const roll = rnd.next();
      if (roll < 0.06) {
        // A no-show: paid, never came; a third got part of it back.
        const rid = `ns-${n}`;
        const price = 100 + rnd.int(5000);
        reservation(rid, entered, entered + stayMs, 'NO_SHOW', price);
        payment(rid, 'capture', price, 'succeeded', entered - 60 * MIN);
        let refund = 0;
        if (rnd.chance(0.33)) {
          refund = rnd.int(price);
          payment(rid, 'refund', refund, 'succeeded', entered + 30 * MIN);
        }
        t.noShows++;
        t.forfeited += price - refund;
        continue;
      }
      if (roll < 0.1) {
        // Cancelled and refunded in full; or a payment that never succeeded.
        const rid = `cx-${n}`;
        const price = 100 + rnd.int(5000);
        reservation(rid, entered, entered + stayMs, rnd.chance(0.5) ? 'CANCELLED' : 'EXPIRED', price);
        const ok = rnd.chance(0.5);
        payment(
          rid,
          'capture',
          price,
          ok ? 'succeeded' : rnd.chance(0.5) ? 'pending' : 'failed',
          entered - 90 * MIN,
        );
        if (ok) payment(rid, 'refund', price, 'succeeded', entered - 30 * MIN);
        continue;
      }
      const booked = roll < 0.6;
      const pool = booked ? 'bookable' : 'driveup';
      const rid = booked ? `bk-${n}` : null;
      if (rid !== null) {
        const price = 100 + rnd.int(5000);
        reservation(rid, entered, entered + stayMs, 'COMPLETED', price);
        payment(rid, 'capture', price, 'succeeded', entered - 60 * MIN);
      }
      event('entry', entered, {
        sessionId,
        reservationId: rid,
        plate: `P${n}`,
        credential: booked ? 'plate' : 'driveup',
        pool,
        spotId: null,
        overflowReservationId: null,
      });
      t.entries++;
      t.stays.push({ entered, exited, pool });
      if (exited === null) continue;
      const charge = booked ? (rnd.chance(0.1) ? 50 + rnd.int(2000) : 0) : 100 + rnd.int(3000);
      let settlement = 'none';
      if (charge > 0 && booked) {
        settlement = 'cloud';
        payment(rid!, 'overstay', charge, rnd.chance(0.9) ? 'succeeded' : 'failed', exited);
      } else if (charge > 0) {
        settlement = rnd.chance(0.7) ? 'cash' : 'owed';
        if (settlement === 'cash') {
          const id = event('cash_payment', exited - MIN, {
            sessionId,
            amount: { amount: charge, currency: o.currency },
            attendant: 'att',
          });
          cash.push({ event_id: id, session_id: sessionId, amount_minor: charge, at: iso(exited - MIN) });
          t.cash += charge;
        }
      }
      const exitId = event('exit', exited, {
        sessionId,
        reservationId: rid,
        plate: `P${n}`,
        charge: charge > 0 ? { amount: charge, currency: o.currency } : null,
        overstayMinutes: booked && charge > 0 ? 30 : 0,
        settlement,
      });
      t.exits++;
      t.staysMs.push({ exited, ms: stayMs });
      if (charge > 0) {
        charges.push({
          event_id: exitId,
          session_id: sessionId,
          reservation_id: rid,
          kind: booked ? 'overstay' : 'driveup',
          amount_minor: charge,
          settlement,
          at: iso(exited),
        });
        t.gateCharges += charge;
      }
      if (settlement === 'owed') {
        const id = event('unable_to_collect', exited, {
          sessionId,
          reservationId: rid,
          plate: `P${n}`,
          amount: { amount: charge, currency: o.currency },
        });
        debts.push({ event_id: id, session_id: sessionId, amount_minor: charge, at: iso(exited) });
        t.owed += charge;
      }
    }
  }
  await insertAll(q, o, { reservations, payments, events, cash, charges, debts });
  return t;
}

async function chunks(rows: Row[], fn: (json: string) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) await fn(JSON.stringify(rows.slice(i, i + CHUNK)));
}

async function insertAll(
  q: Queryable,
  o: SeedOptions,
  r: { reservations: Row[]; payments: Row[]; events: Row[]; cash: Row[]; charges: Row[]; debts: Row[] },
): Promise<void> {
  await chunks(r.reservations, (j) =>
    q.query(
      `insert into reservations (id, lot_id, spot_id, spot_label, kind, vehicle_type, plate, start_at, end_at,
              status, price_amount, currency, created_at, updated_at)
       select id, lot_id, spot_id, spot_label, kind, vehicle_type, plate, start_at, end_at, status, price_amount,
              currency, created_at, updated_at
         from jsonb_to_recordset($1::jsonb) as x(id text, lot_id text, spot_id text, spot_label text, kind text,
              vehicle_type text, plate text, start_at timestamptz, end_at timestamptz, status text,
              price_amount bigint, currency text, created_at timestamptz, updated_at timestamptz)`,
      [j],
    ),
  );
  await chunks(r.payments, (j) =>
    q.query(
      `insert into payments (id, reservation_id, kind, amount, currency, status, created_at, updated_at)
       select * from jsonb_to_recordset($1::jsonb) as x(id text, reservation_id text, kind text, amount bigint,
              currency text, status text, created_at timestamptz, updated_at timestamptz)`,
      [j],
    ),
  );
  await chunks(r.events, (j) =>
    q.query(
      `insert into gate_events (lot_id, event_id, kind, at, body, applied_at)
       select $2, (e->>'eventId')::bigint, e->>'kind', (e->>'at')::timestamptz, e, (e->>'at')::timestamptz
         from jsonb_array_elements($1::jsonb) as e`,
      [j, o.lotId],
    ),
  );
  await chunks(r.cash, (j) =>
    q.query(
      `insert into lot_cash_payments (lot_id, event_id, session_id, amount_minor, currency, attendant, at)
       select $2, event_id, session_id, amount_minor, $3, 'att', at
         from jsonb_to_recordset($1::jsonb) as x(event_id bigint, session_id text, amount_minor bigint, at timestamptz)`,
      [j, o.lotId, o.currency],
    ),
  );
  await chunks(r.charges, (j) =>
    q.query(
      `insert into lot_gate_charges (lot_id, event_id, session_id, reservation_id, plate, kind, amount_minor, currency,
              overstay_minutes, settlement, at)
       select $2, event_id, session_id, reservation_id, null, kind, amount_minor, $3, 0, settlement, at
         from jsonb_to_recordset($1::jsonb) as x(event_id bigint, session_id text, reservation_id text, kind text,
              amount_minor bigint, settlement text, at timestamptz)`,
      [j, o.lotId, o.currency],
    ),
  );
  await chunks(r.debts, (j) =>
    q.query(
      `insert into lot_debts (lot_id, event_id, session_id, reservation_id, plate, amount_minor, currency, at)
       select $2, event_id, session_id, null, null, amount_minor, $3, at
         from jsonb_to_recordset($1::jsonb) as x(event_id bigint, session_id text, amount_minor bigint, at timestamptz)`,
      [j, o.lotId, o.currency],
    ),
  );
}
