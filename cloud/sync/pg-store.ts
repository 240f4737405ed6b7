import type { Reservation } from '../../protocol/domain.js';
import type { Database } from '../db/database.js';
import type {
  CommandRecord,
  EffectsClaim,
  OverflowRow,
  PresenceRecord,
  StoreEventsResult,
  SyncStore,
  WireEvent,
} from './ports.js';

/** How many stored ids the watermark walk reads per query. */
const WALK_CHUNK = 5000;

const iso = (v: unknown): string | null =>
  v === null || v === undefined
    ? null
    : v instanceof Date
      ? v.toISOString()
      : new Date(String(v)).toISOString();
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The sync-owned tables of migration 004 on PostgreSQL, through the cloud's one database handle
 * (its transactions, its pool). All values go in as parameters.
 */
export class PgSyncStore implements SyncStore {
  constructor(private readonly db: Pick<Database, 'tx' | 'pooled'>) {}

  /**
   * One transaction per batch, serialised per lot by the watermark row lock: insert what is new
   * (ON CONFLICT DO NOTHING), walk the contiguous run above the watermark, move the watermark.
   * Effects run later (EffectsApplier), in order, idempotently.
   */
  async storeEvents(lotId: string, events: readonly WireEvent[]): Promise<StoreEventsResult> {
    return this.db.tx(async (tx) => {
      await tx.query(
        'INSERT INTO lot_event_watermark (lot_id, upto) VALUES ($1, 0) ON CONFLICT (lot_id) DO NOTHING',
        [lotId],
      );
      const { rows: wm } = await tx.query<{ upto: number }>(
        'SELECT upto FROM lot_event_watermark WHERE lot_id = $1 FOR UPDATE',
        [lotId],
      );
      const before = Number(wm[0]!.upto);
      let inserted = 0;
      if (events.length > 0) {
        const res = await tx.query(
          `INSERT INTO gate_events (lot_id, event_id, kind, at, body)
           SELECT $1, (e->>'eventId')::bigint, e->>'kind', (e->>'at')::timestamptz, e
             FROM jsonb_array_elements($2::jsonb) AS e
           ON CONFLICT (lot_id, event_id) DO NOTHING`,
          [lotId, JSON.stringify(events)],
        );
        inserted = res.rowCount ?? 0;
      }
      // Walk the contiguous run above the watermark (usually just this batch).
      let upTo = before;
      for (;;) {
        const { rows } = await tx.query<{ event_id: number }>(
          `SELECT event_id FROM gate_events WHERE lot_id = $1 AND event_id > $2 AND event_id <= $3 ORDER BY event_id`,
          [lotId, upTo, upTo + WALK_CHUNK],
        );
        let walked = 0;
        for (const row of rows) {
          if (Number(row.event_id) !== upTo + 1) break;
          upTo++;
          walked++;
        }
        if (walked < WALK_CHUNK) break;
      }
      if (upTo > before) {
        await tx.query('UPDATE lot_event_watermark SET upto = $2, updated_at = now() WHERE lot_id = $1', [
          lotId,
          upTo,
        ]);
      }
      return { inserted, upTo };
    });
  }

  async effectsBacklog(): Promise<string[]> {
    const { rows } = await this.db.pooled.query<{ lot_id: string }>(
      'SELECT lot_id FROM lot_event_watermark WHERE effects_upto < upto ORDER BY lot_id LIMIT 1000',
    );
    return rows.map((r) => r.lot_id);
  }

  async claimEffects(lotId: string, owner: string, leaseMs: number): Promise<EffectsClaim | null> {
    const { rows } = await this.db.pooled.query<{ upto: number; effects_upto: number }>(
      `UPDATE lot_event_watermark SET lease_owner = $2, lease_until = now() + make_interval(secs => $3::double precision / 1000)
        WHERE lot_id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now())
        RETURNING upto, effects_upto`,
      [lotId, owner, leaseMs],
    );
    const r = rows[0];
    return r ? { storedUpTo: Number(r.upto), appliedUpTo: Number(r.effects_upto) } : null;
  }

  async storedEvents(lotId: string, after: number, upTo: number, limit: number): Promise<WireEvent[]> {
    const { rows } = await this.db.pooled.query<{ body: WireEvent }>(
      'SELECT body FROM gate_events WHERE lot_id = $1 AND event_id > $2 AND event_id <= $3 ORDER BY event_id LIMIT $4',
      [lotId, after, upTo, limit],
    );
    return rows.map((r) => r.body);
  }

  async markEffectsApplied(
    lotId: string,
    owner: string,
    upTo: number,
    errors: ReadonlyArray<{ eventId: number; error: string }>,
  ): Promise<void> {
    await this.db.tx(async (tx) => {
      const { rows } = await tx.query<{ effects_upto: number }>(
        'SELECT effects_upto FROM lot_event_watermark WHERE lot_id = $1 AND lease_owner = $2 FOR UPDATE',
        [lotId, owner],
      );
      if (!rows[0]) throw new Error(`effects lease of ${lotId} lost`);
      const from = Number(rows[0].effects_upto);
      if (upTo <= from) return;
      await tx.query(
        'UPDATE gate_events SET applied_at = now() WHERE lot_id = $1 AND event_id > $2 AND event_id <= $3',
        [lotId, from, upTo],
      );
      for (const e of errors) {
        await tx.query('UPDATE gate_events SET effect_error = $3 WHERE lot_id = $1 AND event_id = $2', [
          lotId,
          e.eventId,
          e.error.slice(0, 500),
        ]);
      }
      await tx.query(
        'UPDATE lot_event_watermark SET effects_upto = $2, updated_at = now() WHERE lot_id = $1',
        [lotId, upTo],
      );
    });
  }

  async releaseEffects(lotId: string, owner: string): Promise<void> {
    await this.db.pooled.query(
      'UPDATE lot_event_watermark SET lease_owner = NULL, lease_until = NULL WHERE lot_id = $1 AND lease_owner = $2',
      [lotId, owner],
    );
  }

  async watermark(lotId: string): Promise<number> {
    const { rows } = await this.db.pooled.query<{ upto: number }>(
      'SELECT upto FROM lot_event_watermark WHERE lot_id = $1',
      [lotId],
    );
    return rows[0] ? Number(rows[0].upto) : 0;
  }

  async relayCursor(lotId: string): Promise<number | null> {
    const { rows } = await this.db.pooled.query<{ published_seq: number }>(
      'SELECT published_seq FROM lot_relay_cursor WHERE lot_id = $1',
      [lotId],
    );
    return rows[0] ? Number(rows[0].published_seq) : null;
  }

  async setRelayCursor(lotId: string, seq: number): Promise<void> {
    await this.db.pooled.query(
      `INSERT INTO lot_relay_cursor (lot_id, published_seq) VALUES ($1, $2)
       ON CONFLICT (lot_id) DO UPDATE SET published_seq = GREATEST(lot_relay_cursor.published_seq, EXCLUDED.published_seq),
         updated_at = now()`,
      [lotId, seq],
    );
  }

  async upsertPresence(p: PresenceRecord): Promise<void> {
    await this.db.pooled.query(
      `INSERT INTO lot_presence (lot_id, state, last_seen, edge_clock, skew_ms, skew_alarm, edge_version,
         protocol_version, protocol_supported, last_applied_seq, last_event_id, outbox_depth, config_version,
         occupancy, lanes, updated_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15, now())
       ON CONFLICT (lot_id) DO UPDATE SET
         state = EXCLUDED.state,
         last_seen = GREATEST(lot_presence.last_seen, EXCLUDED.last_seen),
         edge_clock = COALESCE(EXCLUDED.edge_clock, lot_presence.edge_clock),
         skew_ms = COALESCE(EXCLUDED.skew_ms, lot_presence.skew_ms),
         skew_alarm = CASE WHEN EXCLUDED.skew_ms IS NULL THEN lot_presence.skew_alarm ELSE EXCLUDED.skew_alarm END,
         edge_version = EXCLUDED.edge_version,
         protocol_version = EXCLUDED.protocol_version,
         protocol_supported = EXCLUDED.protocol_supported,
         last_applied_seq = EXCLUDED.last_applied_seq,
         last_event_id = EXCLUDED.last_event_id,
         outbox_depth = EXCLUDED.outbox_depth,
         config_version = EXCLUDED.config_version,
         occupancy = EXCLUDED.occupancy,
         lanes = EXCLUDED.lanes,
         updated_at = now()`,
      [
        p.lotId,
        p.state,
        p.lastSeen,
        p.edgeClock,
        p.skewMs,
        p.skewAlarm,
        p.edgeVersion,
        p.protocolVersion,
        p.protocolSupported,
        p.lastAppliedSeq,
        p.lastEventId,
        p.outboxDepth,
        p.configVersion,
        p.occupancy === null ? null : JSON.stringify(p.occupancy),
        p.lanes === null ? null : JSON.stringify(p.lanes),
      ],
    );
  }

  async markProtocolRefused(lotId: string, version: string, atIso: string): Promise<void> {
    await this.db.pooled.query(
      `INSERT INTO lot_presence (lot_id, state, last_seen, protocol_version, protocol_supported)
       VALUES ($1, 'online', $3, $2, false)
       ON CONFLICT (lot_id) DO UPDATE SET protocol_version = EXCLUDED.protocol_version, protocol_supported = false,
         last_seen = GREATEST(lot_presence.last_seen, EXCLUDED.last_seen), updated_at = now()`,
      [lotId, version.slice(0, 16), atIso],
    );
  }

  async presence(lotId?: string): Promise<PresenceRecord[]> {
    const { rows } = await this.db.pooled.query<Record<string, unknown>>(
      lotId === undefined
        ? 'SELECT * FROM lot_presence ORDER BY lot_id'
        : 'SELECT * FROM lot_presence WHERE lot_id = $1',
      lotId === undefined ? [] : [lotId],
    );
    return rows.map((r) => ({
      lotId: String(r.lot_id),
      state: r.state as 'online' | 'offline',
      lastSeen: iso(r.last_seen)!,
      edgeClock: iso(r.edge_clock),
      skewMs: num(r.skew_ms),
      skewAlarm: r.skew_alarm === true,
      edgeVersion: (r.edge_version as string | null) ?? null,
      protocolVersion: (r.protocol_version as string | null) ?? null,
      protocolSupported: r.protocol_supported !== false,
      lastAppliedSeq: num(r.last_applied_seq),
      lastEventId: num(r.last_event_id),
      outboxDepth: num(r.outbox_depth),
      configVersion: num(r.config_version),
      occupancy: (r.occupancy as PresenceRecord['occupancy']) ?? null,
      lanes: (r.lanes as PresenceRecord['lanes']) ?? null,
    }));
  }

  async claimOverflow(lotId: string, correlationId: string): Promise<OverflowRow | null> {
    const ins = await this.db.pooled.query(
      `INSERT INTO lot_overflow_requests (lot_id, correlation_id, state) VALUES ($1, $2, 'pending')
       ON CONFLICT (lot_id, correlation_id) DO NOTHING`,
      [lotId, correlationId],
    );
    if ((ins.rowCount ?? 0) > 0) return null;
    const { rows } = await this.db.pooled.query<{
      state: OverflowRow['state'];
      reservation: Reservation | null;
      reservation_id: string | null;
      reason: string | null;
    }>(
      'SELECT state, reservation, reservation_id, reason FROM lot_overflow_requests WHERE lot_id = $1 AND correlation_id = $2',
      [lotId, correlationId],
    );
    const r = rows[0];
    if (!r || r.state === 'pending') return { state: 'pending' };
    if (r.state === 'granted' && r.reservation) return { state: 'granted', reservation: r.reservation };
    if (r.state === 'cancelled') return { state: 'cancelled', reservationId: r.reservation_id };
    return { state: 'refused', reason: r.reason ?? 'refused' };
  }

  async settleOverflow(
    lotId: string,
    correlationId: string,
    row: Exclude<OverflowRow, { state: 'pending' }>,
  ): Promise<void> {
    const reservation = row.state === 'granted' ? row.reservation : null;
    const reservationId =
      row.state === 'granted' ? row.reservation.id : row.state === 'cancelled' ? row.reservationId : null;
    await this.db.pooled.query(
      `INSERT INTO lot_overflow_requests (lot_id, correlation_id, state, reservation_id, reservation, reason)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (lot_id, correlation_id) DO UPDATE SET state = EXCLUDED.state,
         reservation_id = COALESCE(EXCLUDED.reservation_id, lot_overflow_requests.reservation_id),
         reservation = COALESCE(EXCLUDED.reservation, lot_overflow_requests.reservation),
         reason = EXCLUDED.reason, updated_at = now()`,
      [
        lotId,
        correlationId,
        row.state,
        reservationId,
        reservation === null ? null : JSON.stringify(reservation),
        row.state === 'refused' ? row.reason : null,
      ],
    );
  }

  async insertCommand(c: Omit<CommandRecord, 'ackedAt' | 'ok' | 'detail'>): Promise<void> {
    await this.db.pooled.query(
      `INSERT INTO lot_commands (command_id, lot_id, kind, body, sent_at, created_by) VALUES ($1,$2,$3,$4,$5,$6)`,
      [c.commandId, c.lotId, c.body.kind, JSON.stringify(c.body), c.sentAt, c.createdBy],
    );
  }

  async commands(lotId: string, limit: number): Promise<CommandRecord[]> {
    const { rows } = await this.db.pooled.query<Record<string, unknown>>(
      'SELECT * FROM lot_commands WHERE lot_id = $1 ORDER BY sent_at DESC LIMIT $2',
      [lotId, limit],
    );
    return rows.map(commandRow);
  }

  async unackedCommands(lotId: string, sinceIso: string): Promise<CommandRecord[]> {
    const { rows } = await this.db.pooled.query<Record<string, unknown>>(
      'SELECT * FROM lot_commands WHERE lot_id = $1 AND acked_at IS NULL AND sent_at >= $2 ORDER BY sent_at',
      [lotId, sinceIso],
    );
    return rows.map(commandRow);
  }
}

function commandRow(r: Record<string, unknown>): CommandRecord {
  return {
    commandId: String(r.command_id),
    lotId: String(r.lot_id),
    body: r.body as CommandRecord['body'],
    sentAt: iso(r.sent_at)!,
    createdBy: String(r.created_by),
    ackedAt: iso(r.acked_at),
    ok: (r.ok as boolean | null) ?? null,
    detail: (r.detail as string | null) ?? null,
  };
}
