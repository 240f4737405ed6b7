import { ACTIVE_STATUSES } from '../protocol/domain.js';
import { effectivePlan, priceOverstay } from '../protocol/pricing.js';
import type { World } from './world.js';

/**
 * The invariants (docs/architecture.md#invariants), checked after every step (`checkStep`) and at
 * quiescence after healing (`checkQuiescent`). Each returns what it found broken, with enough detail to
 * start debugging from the replayed seed.
 */
export interface Violation {
  invariant: string;
  detail: string;
}

const ACTIVE = new Set<string>(ACTIVE_STATUSES);
/** After healing, a request must be answered within this much simulated time. */
export const ANSWER_BOUND_MS = 5000;

export function checkStep(w: World): Violation[] {
  return [...noDoubleBooking(w), ...offlineAdmissions(w), ...eventsPrefix(w), ...barrierSafety(w)];
}

export async function checkQuiescent(w: World): Promise<Violation[]> {
  return [
    ...checkStep(w),
    ...eventsExactlyOnce(w),
    ...mirrorsConverged(w),
    ...money(w),
    ...requestsAnswered(w),
  ];
}

/** (1) No spot and no plate double-booked in the cloud. */
function noDoubleBooking(w: World): Violation[] {
  const active = [...w.model.reservations.values()].filter((r) => ACTIVE.has(r.status));
  for (let i = 0; i < active.length; i++)
    for (let j = i + 1; j < active.length; j++) {
      const a = active[i]!;
      const b = active[j]!;
      if (!(Date.parse(a.start) < Date.parse(b.end) && Date.parse(b.start) < Date.parse(a.end))) continue;
      if (a.lotId === b.lotId && a.spotId === b.spotId)
        return [
          { invariant: 'no-double-booking', detail: `spot ${a.lotId}/${a.spotId}: ${a.id} and ${b.id}` },
        ];
      if (a.plate === b.plate)
        return [{ invariant: 'no-double-booking', detail: `plate ${a.plate}: ${a.id} and ${b.id}` }];
    }
  return [];
}

/**
 * (2) Offline admissions never exceed the drive-up pool plus what the cloud granted: drive-up
 * sessions inside ≤ drive-up spots (+ attendant manual opens, which the attendant decides), and every
 * overflow session holds a grant the cloud made.
 */
function offlineAdmissions(w: World): Violation[] {
  const out: Violation[] = [];
  for (const l of w.lots) {
    const e = l.edge;
    if (!e) continue;
    let rows: Array<{ kind: string; pool: string | null; reservation_id: string | null; credential: string }>;
    try {
      rows = e.store.db
        .prepare(
          'SELECT kind, pool, coalesce(overflow_reservation_id, reservation_id) AS reservation_id, credential FROM sessions WHERE exited_at IS NULL',
        )
        .all() as typeof rows;
    } catch {
      continue; // the file is being closed by a crash
    }
    const driveups = rows.filter((r) => r.kind === 'driveup' && r.credential !== 'attendant').length;
    if (driveups > l.driveupPool)
      out.push({
        invariant: 'offline-admissions',
        detail: `${l.lotId}: ${driveups} drive-ups inside, pool ${l.driveupPool} (${rows.map((r) => `${r.kind}/${r.credential}`).join(' ')})`,
      });
    for (const r of rows.filter((x) => x.kind === 'overflow')) {
      const granted = r.reservation_id ? w.model.reservations.get(r.reservation_id) : undefined;
      if (granted?.kind !== 'driveup')
        out.push({
          invariant: 'offline-admissions',
          detail: `${l.lotId}: overflow session without a cloud grant`,
        });
    }
  }
  return out;
}

interface EdgeEvent {
  eventId: number;
  kind: string;
  at: string;
  [k: string]: unknown;
}

function edgeEvents(w: World, lotId: string): EdgeEvent[] | null {
  const l = w.lots.find((x) => x.lotId === lotId)!;
  try {
    return (l.edge?.store.ledger.eventsAfter(0, 1_000_000) as EdgeEvent[] | undefined) ?? null;
  } catch {
    return null;
  }
}

/** (3, continuous) What the cloud stored for a lot is exactly what the edge committed, id for id. */
function eventsPrefix(w: World): Violation[] {
  for (const l of w.lots) {
    const mine = edgeEvents(w, l.lotId);
    if (!mine) continue;
    const stored = w.syncStore.events.get(l.lotId);
    if (!stored) continue;
    const byId = new Map(mine.map((e) => [e.eventId, e]));
    const last = mine.at(-1)?.eventId ?? 0;
    for (const [id, row] of stored) {
      const e = byId.get(id);
      if (id > last)
        return [
          {
            invariant: 'events-exactly-once',
            detail: `${l.lotId}: cloud has event ${id} the edge never committed`,
          },
        ];
      if (e && (e.kind !== row.event.kind || e.at !== row.event.at))
        return [
          {
            invariant: 'events-exactly-once',
            detail: `${l.lotId}: event ${id} differs (${e.kind} vs ${row.event.kind})`,
          },
        ];
    }
  }
  return [];
}

/** (5) The arm never comes down on an occupied safety loop, and never opens at boot. */
function barrierSafety(w: World): Violation[] {
  for (const l of w.lots)
    for (const s of l.lanesSeen) {
      const v = s.safetyViolations();
      if (v.length > 0)
        return [
          {
            invariant: 'barrier-safety',
            detail: `${l.lotId}/${s.laneId}: ${v[0]!.kind} at +${v[0]!.at - 1_748_844_000_000} ms (incarnation ${l.lanesSeen.indexOf(s) >> 1})`,
          },
        ];
      if (!l.bootChecked.has(s)) {
        l.bootChecked.add(s);
        const relay = s.pins.relay.pin;
        const first = s.bus.journal().find((op) => op.op === 'write' && op.pin === relay);
        if (first && first.op === 'write' && first.value !== 0)
          return [{ invariant: 'barrier-safety', detail: `${l.lotId}/${s.laneId}: relay raised at boot` }];
      }
    }
  return [];
}

/** (3) At quiescence: every committed event stored once, in order (contiguous), effects applied once. */
function eventsExactlyOnce(w: World): Violation[] {
  const out: Violation[] = [];
  for (const l of w.lots) {
    const mine = edgeEvents(w, l.lotId) ?? [];
    const last = mine.at(-1)?.eventId ?? 0;
    const mark = w.syncStore.watermarks.get(l.lotId) ?? 0;
    if (mark !== last)
      out.push({
        invariant: 'events-exactly-once',
        detail: `${l.lotId}: edge committed ${last}, cloud holds up to ${mark}`,
      });
    const applied = w.syncStore.effectsUpTo.get(l.lotId) ?? 0;
    if (applied !== mark)
      out.push({
        invariant: 'events-exactly-once',
        detail: `${l.lotId}: effects applied up to ${applied} of ${mark}`,
      });
    const depth = l.edge?.store.ledger.outboxDepth() ?? -1;
    if (depth !== 0) out.push({ invariant: 'liveness', detail: `${l.lotId}: outbox not drained (${depth})` });
  }
  return out;
}

/** (4) After healing each edge's mirror equals the cloud's view of its lot. */
function mirrorsConverged(w: World): Violation[] {
  const out: Violation[] = [];
  const now = Date.now();
  for (const l of w.lots) {
    const e = l.edge;
    if (!e) continue;
    const head = w.model.logs.get(l.lotId)?.length ?? 0;
    const cursor = e.store.mirror.getCursor();
    if (cursor !== head) {
      out.push({
        invariant: 'mirror-converged',
        detail: `${l.lotId}: edge cursor ${cursor}, cloud head ${head}`,
      });
      continue;
    }
    const rows = e.store.db.prepare('SELECT id, status, end_ms FROM reservations').all() as Array<{
      id: string;
      status: string;
      end_ms: number;
    }>;
    const edgeById = new Map(rows.map((r) => [r.id, r]));
    for (const r of w.model.reservations.values()) {
      if (r.lotId !== l.lotId || !ACTIVE.has(r.status) || Date.parse(r.end) <= now) continue;
      const mine = edgeById.get(r.id);
      if (mine?.status !== r.status)
        out.push({
          invariant: 'mirror-converged',
          detail: `${l.lotId}: ${r.id} ${r.status} in the cloud, ${mine?.status ?? 'absent'} at the edge`,
        });
    }
    for (const m of rows) {
      if (!ACTIVE.has(m.status) || m.end_ms <= now) continue;
      const c = w.model.reservations.get(m.id);
      if (c?.status !== m.status)
        out.push({
          invariant: 'mirror-converged',
          detail: `${l.lotId}: ${m.id} ${m.status} at the edge, ${c?.status ?? 'absent'} in the cloud`,
        });
    }
  }
  return out.slice(0, 3);
}

/** (6) Money: charged = fees due − refunds, each charge once. */
function money(w: World): Violation[] {
  const out: Violation[] = [];
  const keys = new Set<string>();
  for (const p of w.model.payments) {
    if (keys.has(p.key)) out.push({ invariant: 'money', detail: `charged twice: ${p.key}` });
    keys.add(p.key);
  }
  const exits = new Map<string, string>();
  for (const events of w.syncStore.events.values())
    for (const { event } of events.values())
      if (event.kind === 'exit' && typeof event.reservationId === 'string' && !exits.has(event.reservationId))
        exits.set(event.reservationId, event.at);
  for (const r of w.model.reservations.values()) {
    if (r.kind !== 'booking') continue;
    const mine = w.model.payments.filter((p) => p.reservationId === r.id);
    const charged = mine.reduce((s, p) => s + (p.kind === 'refund' ? -p.amount : p.amount), 0);
    const paid = mine.some((p) => p.kind === 'capture');
    const refunded = mine.some((p) => p.kind === 'refund');
    const lot = w.model.configs.get(r.lotId)!.lot;
    let due = paid ? r.price.amount : 0;
    if (r.status === 'COMPLETED') {
      const at = exits.get(r.id);
      if (at)
        due += priceOverstay(
          effectivePlan(lot),
          { endMs: Date.parse(r.end), exitMs: Date.parse(at), vehicleType: r.vehicleType },
          lot.policy.exitGraceMinutes,
          lot.timeZone,
        ).total.amount;
    }
    if (refunded) due -= r.price.amount;
    if (charged !== due) out.push({ invariant: 'money', detail: `${r.id}: charged ${charged}, due ${due}` });
  }
  return out.slice(0, 3);
}

/** Liveness: after healing every request is answered within ANSWER_BOUND_MS. */
function requestsAnswered(w: World): Violation[] {
  const healed = w.healedAt ?? 0;
  const now = Date.now();
  const lost = [...w.requests.values()].filter(
    (r) =>
      r.at >= healed + 15_000 &&
      r.at < now - ANSWER_BOUND_MS &&
      (r.answeredAt === null || r.answeredAt - r.at > ANSWER_BOUND_MS),
  );
  if (lost.length === 0) return [];
  const asked = [...w.requests.values()].filter(
    (r) => r.at >= healed + 15_000 && r.at < now - ANSWER_BOUND_MS,
  ).length;
  const first = lost[0]!;
  return [
    {
      invariant: 'liveness',
      detail: `${lost.length} of ${asked} requests after healing not answered within ${ANSWER_BOUND_MS} ms (first: ${first.kind} from ${first.lotId})`,
    },
  ];
}
