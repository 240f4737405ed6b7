import type { Clock } from '../../protocol/clock.js';
import {
  type LotConfig,
  LotConfigSchema,
  type LotPolicy,
  LotPolicySchema,
  RateCardSchema,
  type Role,
  type Spot,
  SpotSchema,
} from '../../protocol/domain.js';
import type { CreateLotBody, LotView } from '../../protocol/http.js';
import type { RateCard } from '../../protocol/money.js';
import { type RatePlan, RatePlanSchema } from '../../protocol/rate-plan.js';
import type { Random } from '../../protocol/random.js';
import { ok, type Result } from '../../protocol/result.js';
import { slotOf, toIso } from '../../protocol/slots.js';
import { type Database, pgCode } from '../db/database.js';
import { type Refusal, refuse } from '../errors.js';
import { newId } from '../ids.js';
import { createLotDirectory, type LotDirectory, type LotSummaryRecord } from './lot-directory.js';
import { definePlugin } from '../plugin.js';

export interface LotRecord {
  id: string;
  name: string;
  timeZone: string;
  location: { lat: number; lng: number };
  rates: RateCard;
  /** The lot's rate plan, or null when `rates` alone prices it (protocol/pricing.ts effectivePlan). */
  ratePlan: RatePlan | null;
  policy: LotPolicy;
  /** Slot of bit 0 in every spot bitmap of the lot; fixed at creation. */
  baseSlot: number;
  version: number;
}

export type { LotSummaryRecord } from './lot-directory.js';

interface LotRow {
  id: string;
  name: string;
  time_zone: string;
  lat: number;
  lng: number;
  rates: unknown;
  rate_plan: unknown;
  policy: unknown;
  base_slot: number;
  version: number;
}

function toRecord(row: LotRow): LotRecord {
  return {
    id: row.id,
    name: row.name,
    timeZone: row.time_zone,
    location: { lat: row.lat, lng: row.lng },
    rates: RateCardSchema.parse(row.rates),
    ratePlan: row.rate_plan === null ? null : RatePlanSchema.parse(row.rate_plan),
    policy: LotPolicySchema.parse(row.policy),
    baseSlot: row.base_slot,
    version: row.version,
  };
}

export interface LotPatch {
  name?: string;
  rates?: RateCard;
  policy?: Partial<LotPolicy>;
}

export interface LotRepository {
  create(actor: { id: string; role: Role }, body: CreateLotBody): Promise<Result<LotView, Refusal>>;
  get(lotId: string): Promise<LotRecord | null>;
  view(lotId: string): Promise<LotView | null>;
  /** The lot's configuration for its edge (spots by id), with its version; validated. */
  config(lotId: string): Promise<{ version: number; lot: LotConfig } | null>;
  list(q: { lat?: number; lng?: number; radiusKm?: number; limit: number }): Promise<LotSummaryRecord[]>;
  patch(lotId: string, patch: LotPatch): Promise<LotView | null>;
  /**
   * This instance changed the lot (its record, spots or pools) outside this repository: drop what
   * is kept of it, so its next read and every search see the change at once (else within 1 s).
   */
  forget(lotId: string): void;
  /** Replace the lot's rate plan (null: back to its `rates` card) and bump its config version. */
  setRatePlan(lotId: string, plan: RatePlan | null): Promise<boolean>;
  /** Operators and attendants of the lot. */
  isStaff(lotId: string, userId: string): Promise<boolean>;
  addStaff(lotId: string, userId: string): Promise<void>;
}

const LOT_COLS = 'id, name, time_zone, lat, lng, rates, rate_plan, policy, base_slot, version';
const LOT_SQL = `select ${LOT_COLS} from lots where id = $1`;
/** Spots as the HTTP view lists them, and as the edge's config carries them. */
const VIEW_SPOTS_SQL =
  "select id, label, level, type, pool from spots where lot_id = $1 and pool <> 'removed' order by level, label";
const CONFIG_SPOTS_SQL =
  "select id, label, level, type, pool from spots where lot_id = $1 and pool <> 'removed' order by id";
const LOT_CACHE_MS = 1000;
const LOT_CACHE_MAX = 10_000;

/** The lot's configuration as the protocol spells it: the one mapping for the HTTP view and the edge. */
export function lotConfigOf(lot: LotRecord, spots: Spot[]): LotConfig {
  return {
    id: lot.id,
    name: lot.name,
    timeZone: lot.timeZone,
    location: lot.location,
    rates: lot.rates,
    ratePlan: lot.ratePlan,
    policy: lot.policy,
    spots,
  };
}

interface LotsEnv {
  db: Database;
  clock: Clock;
  random: Random;
  /**
   * Lot records for the hot paths (capacity, reserve), kept for a second of the injected clock. A
   * change made here is seen at once; one made on another instance within a second.
   */
  cache: Map<string, { lot: LotRecord; at: number }>;
  /** The search, from memory (≤ LOT_CACHE_MS old; this instance's own changes at once). */
  directory: LotDirectory;
}

export function createLotRepository(deps: { db: Database; clock: Clock; random: Random }): LotRepository {
  const directory = createLotDirectory({ db: deps.db, clock: deps.clock, maxAgeMs: LOT_CACHE_MS });
  const env: LotsEnv = { ...deps, cache: new Map(), directory };
  return {
    create: (actor, body) => createLot(env, actor, body),
    get: (lotId) => getLot(env, lotId),
    view: (lotId) => viewLot(env.db, lotId),
    config: (lotId) => lotConfig(env, lotId),
    list: (query) => directory.list(query),
    patch: (lotId, patch) => patchLot(env, lotId, patch),
    forget(lotId) {
      env.cache.delete(lotId);
      directory.invalidate();
    },
    async setRatePlan(lotId, plan) {
      const rows = await env.db.rows(
        'update lots set rate_plan = $2, version = version + 1, updated_at = $3 where id = $1 returning id',
        [lotId, plan === null ? null : JSON.stringify(plan), toIso(env.clock.now())],
      );
      env.cache.delete(lotId);
      env.directory.invalidate();
      return rows.length > 0;
    },
    async isStaff(lotId, userId) {
      const rows = await env.db.rows('select 1 from lot_staff where lot_id = $1 and user_id = $2', [
        lotId,
        userId,
      ]);
      return rows.length > 0;
    },
    async addStaff(lotId, userId) {
      await env.db.rows('insert into lot_staff (lot_id, user_id) values ($1, $2) on conflict do nothing', [
        lotId,
        userId,
      ]);
    },
  };
}

async function viewLot(db: Database, lotId: string): Promise<LotView | null> {
  const rows = await db.rows<LotRow>(LOT_SQL, [lotId]);
  if (rows[0] === undefined) return null;
  const lot = toRecord(rows[0]);
  const spots = await db.rows<Spot>(VIEW_SPOTS_SQL, [lotId]);
  return {
    ...lotConfigOf(
      lot,
      spots.map((s) => SpotSchema.parse(s)),
    ),
    version: lot.version,
  };
}

async function getLot(env: LotsEnv, lotId: string): Promise<LotRecord | null> {
  const { cache } = env;
  const now = env.clock.now();
  const hit = cache.get(lotId);
  // A clock set back (tests, simulations) does not stretch an entry's life.
  if (hit !== undefined && now >= hit.at && now < hit.at + LOT_CACHE_MS) return hit.lot;
  const rows = await env.db.rows<LotRow>(LOT_SQL, [lotId]);
  const lot = rows[0] ? toRecord(rows[0]) : null;
  if (lot !== null) {
    if (cache.size > LOT_CACHE_MAX) cache.clear();
    cache.set(lotId, { lot, at: now });
  }
  return lot;
}

async function lotConfig(env: LotsEnv, lotId: string): Promise<{ version: number; lot: LotConfig } | null> {
  const lot = await getLot(env, lotId);
  if (lot === null) return null;
  const spots = await env.db.rows<Spot>(CONFIG_SPOTS_SQL, [lotId]);
  return { version: lot.version, lot: LotConfigSchema.parse(lotConfigOf(lot, spots)) };
}

async function createLot(
  env: LotsEnv,
  actor: { id: string; role: Role },
  body: CreateLotBody,
): Promise<Result<LotView, Refusal>> {
  const id = body.id ?? newId(env.random);
  const now = env.clock.now();
  try {
    await env.db.tx(async (q) => {
      await q.query(
        `insert into lots (id, name, time_zone, lat, lng, rates, policy, base_slot, created_by, created_at, updated_at, rate_plan)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)`,
        [
          id,
          body.name,
          body.timeZone,
          body.location.lat,
          body.location.lng,
          JSON.stringify(body.rates),
          JSON.stringify(body.policy),
          slotOf(now),
          actor.id,
          toIso(now),
          body.ratePlan == null ? null : JSON.stringify(body.ratePlan),
        ],
      );
      await q.query(
        `insert into spots (lot_id, id, label, level, type, pool)
             select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
        [
          id,
          body.spots.map((s) => s.id),
          body.spots.map((s) => s.label),
          body.spots.map((s) => s.level),
          body.spots.map((s) => s.type),
          body.spots.map((s) => s.pool),
        ],
      );
      await q.query('insert into lot_seq (lot_id) values ($1)', [id]);
      if (actor.role === 'operator' || actor.role === 'attendant') {
        await q.query('insert into lot_staff (lot_id, user_id) values ($1, $2)', [id, actor.id]);
      }
    });
  } catch (e) {
    if (pgCode(e) === '23505')
      return refuse(409, 'lot_exists', `a lot with id ${id} exists`, { field: 'id' });
    throw e;
  }
  env.directory.invalidate();
  const created = await viewLot(env.db, id);
  if (created === null) throw new Error('lot vanished after creation');
  return ok(created);
}

async function patchLot(env: LotsEnv, lotId: string, patch: LotPatch): Promise<LotView | null> {
  const found = await env.db.tx(async (q) => {
    const rows = (await q.query<LotRow>(`select ${LOT_COLS} from lots where id = $1 for update`, [lotId]))
      .rows;
    if (rows[0] === undefined) return false;
    const lot = toRecord(rows[0]);
    const policy = LotPolicySchema.parse({ ...lot.policy, ...patch.policy });
    await q.query(
      `update lots set name = $2, rates = $3, policy = $4, version = version + 1, updated_at = $5 where id = $1`,
      [
        lotId,
        patch.name ?? lot.name,
        JSON.stringify(patch.rates ?? lot.rates),
        JSON.stringify(policy),
        toIso(env.clock.now()),
      ],
    );
    return true;
  });
  env.cache.delete(lotId);
  env.directory.invalidate();
  return found ? viewLot(env.db, lotId) : null;
}

declare module 'fastify' {
  interface FastifyInstance {
    lots: LotRepository;
  }
}

export const lotsRepository = definePlugin(
  async (app) => {
    app.decorate('lots', createLotRepository({ db: app.db, clock: app.clock, random: app.random }));
  },
  { name: 'repo-lots', dependencies: ['core', 'db'] },
);
