import type { Clock } from '../../protocol/clock.js';
import type { Logger } from '../../protocol/logger.js';
import type { ChangeReason } from '../../protocol/mqtt.js';
import {
  type AccessBand,
  type CreatePermitBody,
  type PatchPermitBody,
  type Permit,
  PermitSchema,
  type PermitStatus,
} from '../../protocol/permits.js';
import type { Random } from '../../protocol/random.js';
import { ok, type Result } from '../../protocol/result.js';
import { toIso } from '../../protocol/slots.js';
import { type Database, pgCode, type Queryable } from '../db/database.js';
import { type Refusal, refuse } from '../errors.js';
import { newId } from '../ids.js';
import { definePlugin } from '../plugin.js';
import { appendPermitChange, type ChangeSequencer } from './changes.js';

/**
 * Permits (docs/permits.md): contract parkers of a lot. Every change appends the permit's full new
 * state to the lot's change log in the same transaction, so the lot's edges learn it like a booking
 * change — within seconds online, on reconnect offline. Sales are bounded by the permit pool:
 * the vehicles of all permits whose validity overlaps may not exceed the pool's spots times the lot's
 * `permitOversellPct`. One plate holds at most one permit per lot at a time (exclusion constraint).
 */

export const PERMIT_COLS =
  'id, lot_id, holder, plates, valid_from, valid_to, access_hours, max_inside, price_amount, currency, period, status, version';

export interface PermitRow {
  id: string;
  lot_id: string;
  holder: string;
  plates: string[];
  valid_from: Date;
  valid_to: Date;
  access_hours: unknown;
  max_inside: number;
  price_amount: number | string;
  currency: string;
  period: string;
  status: string;
  version: number;
}

export function toPermit(r: PermitRow): Permit {
  return PermitSchema.parse({
    id: r.id,
    lotId: r.lot_id,
    holder: r.holder,
    plates: r.plates,
    validFrom: new Date(r.valid_from).toISOString(),
    validTo: new Date(r.valid_to).toISOString(),
    accessHours: r.access_hours,
    maxInside: r.max_inside,
    price: { amount: Number(r.price_amount), currency: r.currency },
    period: r.period,
    status: r.status,
    version: r.version,
  });
}

export interface PermitRepository {
  create(actorId: string, lotId: string, body: CreatePermitBody): Promise<Result<Permit, Refusal>>;
  list(lotId: string, q: { status?: PermitStatus | undefined; limit: number }): Promise<Permit[]>;
  get(id: string): Promise<Permit | null>;
  patch(id: string, body: PatchPermitBody): Promise<Result<Permit, Refusal>>;
  cancel(id: string): Promise<Result<Permit, Refusal>>;
  /** Live permits of a lot (not cancelled, not ended) for an edge snapshot, inside its transaction. */
  live(q: Queryable, lotId: string, nowMs: number): Promise<Permit[]>;
}

interface Env {
  db: Database;
  clock: Clock;
  random: Random;
  sequencer: Pick<ChangeSequencer, 'kick'>;
  log: Logger;
}

const notFound = (id: string) =>
  refuse(404, 'permit_not_found', `permit ${id} not found`, { field: 'params.id' });

export function createPermitRepository(env: Env): PermitRepository {
  const withChange = async <T>(fn: () => Promise<T>): Promise<T> => {
    const out = await fn();
    await env.sequencer.kick();
    return out;
  };
  return {
    create: (actorId, lotId, body) => withChange(() => createPermit(env, actorId, lotId, body)),
    async list(lotId, q) {
      const rows = await env.db.rows<PermitRow>(
        `select ${PERMIT_COLS} from permits where lot_id = $1 and ($2::text is null or status = $2)
          order by valid_from, id limit $3`,
        [lotId, q.status ?? null, q.limit],
      );
      return rows.map(toPermit);
    },
    async get(id) {
      const rows = await env.db.rows<PermitRow>(`select ${PERMIT_COLS} from permits where id = $1`, [id]);
      return rows[0] ? toPermit(rows[0]) : null;
    },
    patch: (id, body) => withChange(() => patchPermit(env, id, body)),
    cancel: (id) => withChange(() => cancelPermit(env, id)),
    async live(q, lotId, nowMs) {
      const { rows } = await q.query<PermitRow>(
        `select ${PERMIT_COLS} from permits where lot_id = $1 and status <> 'cancelled' and valid_to > $2 order by id`,
        [lotId, toIso(nowMs)],
      );
      return rows.map(toPermit);
    },
  };
}

interface Terms {
  plates: string[];
  validFrom: string;
  validTo: string;
  maxInside: number;
}

/** Serialises permit sales per lot for the rest of the transaction. */
const LOCK_SQL = `select pg_advisory_xact_lock(hashtext('parkedge.permits:' || $1))`;

/**
 * The allocation rule: vehicles of overlapping permits + this one ≤ floor(pool × oversell / 100).
 * Overlap is counted conservatively (every permit overlapping the new validity, even if they do not
 * overlap each other), so the bound holds at every instant.
 */
async function checkAllocation(
  q: Queryable,
  lotId: string,
  t: Terms,
  selfId: string | null,
): Promise<Refusal | null> {
  const { rows } = await q.query<{ spots: number; pct: number | null; sold: number | string }>(
    `select (select count(*) from spots where lot_id = $1 and pool = 'permit')::int as spots,
            (select (policy->>'permitOversellPct')::int from lots where id = $1) as pct,
            (select coalesce(sum(max_inside), 0) from permits
              where lot_id = $1 and status <> 'cancelled' and valid_from < $3 and valid_to > $2
                and ($4::text is null or id <> $4)) as sold`,
    [lotId, t.validFrom, t.validTo, selfId],
  );
  const r = rows[0]!;
  const pct = r.pct ?? 100;
  const limit = Math.floor((r.spots * pct) / 100);
  const sold = Number(r.sold);
  if (sold + t.maxInside <= limit) return null;
  return refuse(
    409,
    'permit_allocation_full',
    `the permit allocation of lot ${lotId} is ${r.spots} spots × ${pct}% = ${limit} vehicles; ` +
      `${sold} are already sold for overlapping dates and this permit needs ${t.maxInside}`,
    { field: 'body.maxInside', rule: 'permit_allocation' },
  ).error;
}

/** A plate already on another live permit of the lot with overlapping validity. */
async function plateConflict(
  q: Queryable,
  lotId: string,
  t: Terms,
  selfId: string | null,
): Promise<Refusal | null> {
  const { rows } = await q.query<{ plate: string; permit_id: string }>(
    `select plate, permit_id from permit_plates
      where lot_id = $1 and plate = any($2::text[]) and during && tstzrange($3, $4)
        and ($5::text is null or permit_id <> $5) limit 1`,
    [lotId, t.plates, t.validFrom, t.validTo, selfId],
  );
  const hit = rows[0];
  if (hit === undefined) return null;
  return plateRefusal(hit.plate, hit.permit_id);
}

const plateRefusal = (plate: string, permitId: string | null) =>
  refuse(
    409,
    'plate_has_permit',
    `plate ${plate} already holds a permit at this lot${permitId ? ` (${permitId})` : ''} for overlapping dates`,
    { field: 'body.plates', rule: 'one_permit_per_plate' },
  ).error;

async function writePlates(q: Queryable, p: { id: string; lotId: string } & Terms): Promise<void> {
  await q.query('delete from permit_plates where permit_id = $1', [p.id]);
  await q.query(
    `insert into permit_plates (permit_id, lot_id, plate, during)
       select $1, $2, plate, tstzrange($4, $5) from unnest($3::text[]) as plate`,
    [p.id, p.lotId, p.plates, p.validFrom, p.validTo],
  );
}

async function lotCurrency(q: Queryable, lotId: string): Promise<string | null> {
  const { rows } = await q.query<{ currency: string }>(
    `select rates->>'currency' as currency from lots where id = $1`,
    [lotId],
  );
  return rows[0]?.currency ?? null;
}

async function createPermit(
  env: Env,
  actorId: string,
  lotId: string,
  body: CreatePermitBody,
): Promise<Result<Permit, Refusal>> {
  const id = newId(env.random);
  const now = env.clock.now();
  const terms: Terms = body;
  try {
    return await env.db.tx(async (q) => {
      const currency = await lotCurrency(q, lotId);
      if (currency === null)
        return refuse(404, 'lot_not_found', `lot ${lotId} not found`, { field: 'params.lotId' });
      if (body.price.currency !== currency)
        return refuse(400, 'currency_mismatch', `the lot charges in ${currency}`, {
          field: 'body.price.currency',
        });
      await q.query(LOCK_SQL, [lotId]);
      const refusal =
        (await plateConflict(q, lotId, terms, null)) ?? (await checkAllocation(q, lotId, terms, null));
      if (refusal) return { ok: false as const, error: refusal };
      const { rows } = await q.query<PermitRow>(
        `insert into permits (id, lot_id, holder, plates, valid_from, valid_to, access_hours, max_inside, price_amount,
           currency, period, status, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12, $13, $13) returning ${PERMIT_COLS}`,
        [
          id,
          lotId,
          body.holder,
          body.plates,
          body.validFrom,
          body.validTo,
          JSON.stringify(body.accessHours),
          body.maxInside,
          body.price.amount,
          body.price.currency,
          body.period,
          actorId,
          toIso(now),
        ],
      );
      await writePlates(q, { id, lotId, ...terms });
      const permit = toPermit(rows[0]!);
      await appendPermitChange(q, lotId, 'permit_issued', permit, now);
      return ok(permit);
    });
  } catch (e) {
    // Two sales of one plate racing past the check: the exclusion constraint decides.
    if (pgCode(e) === '23P01') return { ok: false, error: plateRefusal(body.plates.join(', '), null) };
    throw e;
  }
}

function reasonOf(before: Permit, body: PatchPermitBody): ChangeReason {
  if (body.status === 'suspended' && before.status !== 'suspended') return 'permit_suspended';
  if (body.status === 'active' && before.status === 'suspended') return 'permit_resumed';
  return 'permit_updated';
}

async function lockedPermit(q: Queryable, id: string): Promise<Permit | null> {
  const { rows } = await q.query<PermitRow>(`select ${PERMIT_COLS} from permits where id = $1 for update`, [
    id,
  ]);
  return rows[0] ? toPermit(rows[0]) : null;
}

async function patchPermit(env: Env, id: string, body: PatchPermitBody): Promise<Result<Permit, Refusal>> {
  const now = env.clock.now();
  try {
    return await env.db.tx(async (q) => {
      const before = await lockedPermit(q, id);
      if (before === null) return notFound(id);
      if (before.status === 'cancelled')
        return refuse(409, 'permit_cancelled', `permit ${id} is cancelled; issue a new one`);
      const terms: Terms = {
        plates: body.plates ?? before.plates,
        validFrom: body.validFrom ?? before.validFrom,
        validTo: body.validTo ?? before.validTo,
        maxInside: body.maxInside ?? before.maxInside,
      };
      if (Date.parse(terms.validTo) <= Date.parse(terms.validFrom))
        return refuse(400, 'validation_failed', 'validTo must be after validFrom', { field: 'body.validTo' });
      if (body.price !== undefined && body.price.currency !== before.price.currency)
        return refuse(400, 'currency_mismatch', `the lot charges in ${before.price.currency}`, {
          field: 'body.price.currency',
        });
      await q.query(LOCK_SQL, [before.lotId]);
      const refusal =
        (await plateConflict(q, before.lotId, terms, id)) ??
        (await checkAllocation(q, before.lotId, terms, id));
      if (refusal) return { ok: false as const, error: refusal };
      const accessHours: AccessBand[] = body.accessHours ?? before.accessHours;
      const price = body.price ?? before.price;
      const { rows } = await q.query<PermitRow>(
        `update permits set holder = $2, plates = $3, valid_from = $4, valid_to = $5, access_hours = $6,
           max_inside = $7, price_amount = $8, period = $9, status = $10, version = version + 1, updated_at = $11
         where id = $1 returning ${PERMIT_COLS}`,
        [
          id,
          body.holder ?? before.holder,
          terms.plates,
          terms.validFrom,
          terms.validTo,
          JSON.stringify(accessHours),
          terms.maxInside,
          price.amount,
          body.period ?? before.period,
          body.status ?? before.status,
          toIso(now),
        ],
      );
      await writePlates(q, { id, lotId: before.lotId, ...terms });
      const permit = toPermit(rows[0]!);
      await appendPermitChange(q, before.lotId, reasonOf(before, body), permit, now);
      return ok(permit);
    });
  } catch (e) {
    if (pgCode(e) === '23P01')
      return { ok: false, error: plateRefusal((body.plates ?? []).join(', '), null) };
    throw e;
  }
}

async function cancelPermit(env: Env, id: string): Promise<Result<Permit, Refusal>> {
  const now = env.clock.now();
  return env.db.tx(async (q) => {
    const before = await lockedPermit(q, id);
    if (before === null) return notFound(id);
    if (before.status === 'cancelled') return ok(before);
    const { rows } = await q.query<PermitRow>(
      `update permits set status = 'cancelled', version = version + 1, updated_at = $2 where id = $1
       returning ${PERMIT_COLS}`,
      [id, toIso(now)],
    );
    // Its plates are free for a new permit at once.
    await q.query('delete from permit_plates where permit_id = $1', [id]);
    const permit = toPermit(rows[0]!);
    await appendPermitChange(q, before.lotId, 'permit_cancelled', permit, now);
    return ok(permit);
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    permits: PermitRepository;
  }
}

export const permitsRepository = definePlugin(
  async (app) => {
    app.decorate(
      'permits',
      createPermitRepository({
        db: app.db,
        clock: app.clock,
        random: app.random,
        sequencer: app.changeSequencer,
        log: app.log.child({ component: 'permits' }),
      }),
    );
  },
  { name: 'repo-permits', dependencies: ['core', 'db', 'repo-changes'] },
);
