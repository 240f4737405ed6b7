import type { Clock } from '../../protocol/clock.js';
import type {
  CommandRecord,
  EffectsClaim,
  OverflowRow,
  PresenceRecord,
  StoreEventsResult,
  SyncStore,
  WireEvent,
} from './ports.js';

/**
 * SyncStore in memory, with the same semantics as PgSyncStore (store once per (lot, eventId),
 * contiguous watermark, leased in-order effects). For engine tests and the in-process simulation.
 */
export class MemorySyncStore implements SyncStore {
  readonly events = new Map<
    string,
    Map<number, { event: WireEvent; applied: boolean; effectError: string | null }>
  >();
  readonly watermarks = new Map<string, number>();
  readonly relayCursors = new Map<string, number>();
  readonly presenceRows = new Map<string, PresenceRecord>();
  readonly overflowRows = new Map<string, OverflowRow>();
  readonly commandRows = new Map<string, CommandRecord>();
  readonly effectsUpTo = new Map<string, number>();
  readonly leases = new Map<string, { owner: string; until: number }>();

  /** The clock leases are measured on (the same one the cloud sync runs on). */
  constructor(private readonly clock: Clock) {}

  async storeEvents(lotId: string, events: readonly WireEvent[]): Promise<StoreEventsResult> {
    let lot = this.events.get(lotId);
    if (!lot) {
      lot = new Map();
      this.events.set(lotId, lot);
    }
    let inserted = 0;
    for (const e of events) {
      if (lot.has(e.eventId)) continue;
      lot.set(e.eventId, { event: structuredClone(e), applied: false, effectError: null });
      inserted++;
    }
    let upTo = this.watermarks.get(lotId) ?? 0;
    while (lot.has(upTo + 1)) upTo++;
    this.watermarks.set(lotId, upTo);
    return { inserted, upTo };
  }

  async effectsBacklog(): Promise<string[]> {
    return [...this.watermarks.keys()].filter(
      (l) => (this.effectsUpTo.get(l) ?? 0) < (this.watermarks.get(l) ?? 0),
    );
  }

  async claimEffects(lotId: string, owner: string, leaseMs: number): Promise<EffectsClaim | null> {
    const lease = this.leases.get(lotId);
    const now = this.clock.now();
    if (lease && lease.owner !== owner && lease.until > now) return null;
    this.leases.set(lotId, { owner, until: now + leaseMs });
    return { appliedUpTo: this.effectsUpTo.get(lotId) ?? 0, storedUpTo: this.watermarks.get(lotId) ?? 0 };
  }

  async storedEvents(lotId: string, after: number, upTo: number, limit: number): Promise<WireEvent[]> {
    const lot = this.events.get(lotId);
    const out: WireEvent[] = [];
    for (let id = after + 1; id <= upTo && out.length < limit; id++) {
      const row = lot?.get(id);
      if (row) out.push(structuredClone(row.event));
    }
    return out;
  }

  async markEffectsApplied(
    lotId: string,
    owner: string,
    upTo: number,
    errors: ReadonlyArray<{ eventId: number; error: string }>,
  ): Promise<void> {
    if (this.leases.get(lotId)?.owner !== owner) throw new Error(`effects lease of ${lotId} lost`);
    const from = this.effectsUpTo.get(lotId) ?? 0;
    if (upTo <= from) return;
    const lot = this.events.get(lotId);
    for (let id = from + 1; id <= upTo; id++) {
      const row = lot?.get(id);
      if (row) row.applied = true;
    }
    for (const e of errors) {
      const row = lot?.get(e.eventId);
      if (row) row.effectError = e.error;
    }
    this.effectsUpTo.set(lotId, upTo);
  }

  async releaseEffects(lotId: string, owner: string): Promise<void> {
    if (this.leases.get(lotId)?.owner === owner) this.leases.delete(lotId);
  }

  async watermark(lotId: string): Promise<number> {
    return this.watermarks.get(lotId) ?? 0;
  }

  async relayCursor(lotId: string): Promise<number | null> {
    return this.relayCursors.get(lotId) ?? null;
  }

  async setRelayCursor(lotId: string, seq: number): Promise<void> {
    this.relayCursors.set(lotId, Math.max(seq, this.relayCursors.get(lotId) ?? 0));
  }

  async upsertPresence(record: PresenceRecord): Promise<void> {
    const prev = this.presenceRows.get(record.lotId);
    this.presenceRows.set(record.lotId, {
      ...record,
      skewMs: record.skewMs ?? prev?.skewMs ?? null,
      skewAlarm: record.skewMs === null ? (prev?.skewAlarm ?? false) : record.skewAlarm,
      lastSeen: prev && prev.lastSeen > record.lastSeen ? prev.lastSeen : record.lastSeen,
    });
  }

  async markProtocolRefused(lotId: string, version: string, atIso: string): Promise<void> {
    const prev = this.presenceRows.get(lotId);
    this.presenceRows.set(lotId, {
      ...(prev ?? emptyPresence(lotId, atIso)),
      protocolVersion: version,
      protocolSupported: false,
    });
  }

  async presence(lotId?: string): Promise<PresenceRecord[]> {
    const all = [...this.presenceRows.values()].sort((a, b) => (a.lotId < b.lotId ? -1 : 1));
    return lotId === undefined ? all : all.filter((p) => p.lotId === lotId);
  }

  async claimOverflow(lotId: string, correlationId: string): Promise<OverflowRow | null> {
    const key = `${lotId}/${correlationId}`;
    const row = this.overflowRows.get(key);
    if (row) return row;
    this.overflowRows.set(key, { state: 'pending' });
    return null;
  }

  async settleOverflow(
    lotId: string,
    correlationId: string,
    row: Exclude<OverflowRow, { state: 'pending' }>,
  ) {
    this.overflowRows.set(`${lotId}/${correlationId}`, row);
  }

  async insertCommand(record: Omit<CommandRecord, 'ackedAt' | 'ok' | 'detail'>): Promise<void> {
    this.commandRows.set(record.commandId, { ...record, ackedAt: null, ok: null, detail: null });
  }

  async commands(lotId: string, limit: number): Promise<CommandRecord[]> {
    return [...this.commandRows.values()]
      .filter((c) => c.lotId === lotId)
      .sort((a, b) => (a.sentAt < b.sentAt ? 1 : -1))
      .slice(0, limit);
  }

  async unackedCommands(lotId: string, sinceIso: string): Promise<CommandRecord[]> {
    return [...this.commandRows.values()].filter(
      (c) => c.lotId === lotId && c.ackedAt === null && c.sentAt >= sinceIso,
    );
  }

  /** For memory effects: record a command_ack (what effects.ts does in SQL). */
  ackCommand(commandId: string, ok: boolean, detail: string, atIso: string): void {
    const c = this.commandRows.get(commandId);
    if (c && c.ackedAt === null) this.commandRows.set(commandId, { ...c, ackedAt: atIso, ok, detail });
  }
}

function emptyPresence(lotId: string, atIso: string): PresenceRecord {
  return {
    lotId,
    state: 'online',
    lastSeen: atIso,
    edgeClock: null,
    skewMs: null,
    skewAlarm: false,
    edgeVersion: null,
    protocolVersion: null,
    protocolSupported: true,
    lastAppliedSeq: null,
    lastEventId: null,
    outboxDepth: null,
    configVersion: null,
    occupancy: null,
    lanes: null,
  };
}
