/**
 * The sync engines' pure parts, without a broker: connectivity states, payload splitting, the outbox
 * publisher's window and resume rules, and "stored once, effects once, in order" on the cloud side,
 * with fast-check over arbitrary delivery orders.
 */
import fc from 'fast-check';
import t from 'tap';
import { EffectsApplier } from '../../cloud/sync/effects-applier.js';
import { MemorySyncStore } from '../../cloud/sync/memory-store.js';
import type { WireEvent } from '../../cloud/sync/ports.js';
import { splitBySize } from '../../cloud/sync/split.js';
import { ConnectivityMonitor } from '../../edge/sync/connectivity.js';
import { OutboxPublisher } from '../../edge/sync/outbox.js';
import type { OutboxEvent } from '../../edge/sync/ports.js';
import { systemClock, TestClock } from '../../protocol/clock.js';
import { silentLogger } from '../../protocol/logger.js';
import { MemoryEdgeStore } from './support/fakes.js';

const logger = silentLogger();

t.test(
  'connectivity: offline → online → degraded after the bound → online when the cloud answers',
  async (t) => {
    const clock = new TestClock(0);
    const m = new ConnectivityMonitor(clock, 1000);
    const seen: string[] = [];
    m.on('change', (c) => seen.push(c.state));
    t.equal(m.state, 'offline');
    m.brokerConnected();
    m.expect('resync');
    clock.advance(999);
    m.tick();
    t.equal(m.state, 'online', 'within the bound');
    clock.advance(2);
    m.tick();
    t.equal(m.state, 'degraded', 'no answer within the bound');
    m.cloudHeard();
    t.equal(m.state, 'online', 'a live cloud clears it');
    clock.advance(1001);
    m.tick();
    t.equal(m.state, 'degraded', 'the open expectation still counts, from when the cloud was last heard');
    m.fulfilled('resync');
    t.equal(m.state, 'online');
    m.brokerDisconnected();
    t.equal(m.state, 'offline');
    t.same(seen, ['online', 'degraded', 'online', 'degraded', 'online', 'offline']);
  },
);

t.test('splitBySize: order kept, every chunk within count and bytes', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 300 }), { maxLength: 200 }),
      fc.integer({ min: 1, max: 50 }),
      (items, max) => {
        const chunks = splitBySize(items, max, 2000);
        t.same(chunks.flat(), items);
        for (const c of chunks) {
          if (c.length > max) return false;
          if (c.length > 1 && c.reduce((n, s) => n + Buffer.byteLength(JSON.stringify(s)) + 1, 0) > 2000)
            return false;
        }
        return items.length > 0 || chunks.length === 1;
      },
    ),
  );
});

t.test(
  'outbox publisher: bounded window, ordered, resumes from the ack watermark, nothing lost',
  async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.constantFrom('ack', 'ack', 'ack', 'drop', 'stall', 'dup'), {
          minLength: 1,
          maxLength: 60,
        }),
        async (n, ops) => {
          const clock = new TestClock(0);
          const store = new MemoryEdgeStore();
          for (let i = 0; i < n; i++)
            store.writeEvent({
              kind: 'tailgate',
              at: '2030-01-01T00:00:00.000Z',
              laneId: null,
              correlationId: null,
              sessionId: null,
            });
          const published: OutboxEvent[][] = [];
          const outbox = new OutboxPublisher(
            store,
            async (batch) => void published.push(batch),
            clock,
            logger,
            {
              batchSize: 7,
              maxInFlightBatches: 3,
              retransmitAfterMs: 100,
            },
          );
          await outbox.init();
          outbox.connected();
          await outbox.idle();
          let cloudHas = 0; // highest contiguous id the "cloud" stored
          const deliver = () => {
            for (const b of published.splice(0)) {
              if (outbox.inFlightBatches > 3) return false;
              for (const e of b) if (e.eventId === cloudHas + 1) cloudHas++;
            }
            return true;
          };
          for (const op of ops) {
            if (op === 'drop') {
              published.splice(0); // lost in transit
              outbox.disconnected();
              outbox.connected();
            } else if (op === 'stall') {
              published.splice(0);
              clock.advance(101);
              outbox.tick();
            } else {
              if (!deliver()) return false;
              await outbox.onAck(cloudHas);
              if (op === 'dup') await outbox.onAck(Math.max(0, cloudHas - 3));
            }
            await outbox.idle();
            if (store.acked > cloudHas) return false; // never acked beyond what the cloud has
          }
          // The link stays up from here: everything ends up stored and acked.
          for (let i = 0; i < 200 && store.outboxDepth() > 0; i++) {
            deliver();
            await outbox.onAck(cloudHas);
            if (published.length === 0) {
              clock.advance(101);
              outbox.tick();
            }
            await outbox.idle();
          }
          return store.outboxDepth() === 0 && cloudHas === n;
        },
      ),
      { numRuns: 150 },
    );
    t.pass('property held');
  },
);

t.test(
  'cloud: any order of duplicated, reordered batches → each event stored once, effects once, in order',
  async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.array(fc.tuple(fc.integer({ min: 1, max: n }), fc.integer({ min: 1, max: 8 })), {
              minLength: 1,
              maxLength: 40,
            }),
          ),
        ),
        async ([n, slices]) => {
          const store = new MemorySyncStore(systemClock);
          const applied: number[] = [];
          const applier = new EffectsApplier(
            store,
            { affects: (e) => e.eventId % 2 === 1, apply: async (_lot, e) => void applied.push(e.eventId) },
            logger,
            'me',
            { leaseMs: 10_000, batch: 5, maxAttempts: 3, sweepMs: 60_000 },
          );
          const ev = (id: number): WireEvent => ({ eventId: id, kind: 'x', at: '2030-01-01T00:00:00.000Z' });
          // Random slices (duplicates, any order), then everything once more in order, as the edge resends.
          const batches = [
            ...slices.map(([from, len]) =>
              Array.from({ length: Math.min(len, n - from + 1) }, (_, i) => ev(from + i)),
            ),
            Array.from({ length: n }, (_, i) => ev(i + 1)),
          ];
          let lastAck = 0;
          for (const b of batches) {
            const r = await store.storeEvents('L', b);
            if (r.upTo < lastAck) return false; // the ack never goes back
            lastAck = r.upTo;
            applier.kick('L');
          }
          await applier.idle();
          await applier.sweep();
          await applier.idle();
          const odd = Array.from({ length: n }, (_, i) => i + 1).filter((i) => i % 2 === 1);
          return (
            lastAck === n &&
            store.events.get('L')?.size === n &&
            JSON.stringify(applied) === JSON.stringify(odd)
          );
        },
      ),
      { numRuns: 200 },
    );
    t.pass('property held');
  },
);
