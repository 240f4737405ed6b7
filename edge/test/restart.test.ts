import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { GateEventSchema, type GateEvent } from '../../protocol/mqtt.js';
import { tempDir } from './support.js';

/**
 * A real edge process (tsx child, file database, simulated lanes, real time) is killed with SIGKILL
 * at several points of a passage and restarted on the same file. After each kill: no lost and no
 * duplicated event, ids contiguous, sessions consistent with entries and exits. On restart: the
 * barrier relay is driven arm-down before anything else runs.
 */

const CHILD = fileURLToPath(new URL('./fixtures/edge-child.ts', import.meta.url));
const SIM_RELAY_PIN = 17;
/** The simulated relay is active-low: raw 1 = relay off = arm down. */
const ARM_DOWN_RAW = 1;

type Fact =
  | {
      type: 'boot';
      laneId: string;
      relay: Array<{ op: string; direction?: string; raw?: number }>;
      arm: string;
    }
  | { type: 'committed'; ids: number[] }
  | { type: 'lane'; laneId: string; state: string }
  | { type: 'passage'; laneId: string; direction: string; eventId: number }
  | { type: 'started'; lanes: Array<{ id: string; state: string; arm: string }> }
  | { type: 'stopped' };

interface Run {
  child: ChildProcess;
  facts: Fact[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first fact (counting from now) matching `pred`. */
  waitFor(pred: (f: Fact, all: Fact[]) => boolean, timeoutMs?: number): Promise<Fact>;
  stderr(): string;
}

function startChild(dbPath: string, seed: number, mode: 'traffic' | 'idle'): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dbPath, String(seed), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const facts: Fact[] = [];
  const waiters = new Set<{ pred: (f: Fact, all: Fact[]) => boolean; resolve: (f: Fact) => void }>();
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let fact: Fact;
    try {
      fact = JSON.parse(line) as Fact;
    } catch {
      return;
    }
    facts.push(fact);
    for (const w of [...waiters]) {
      if (w.pred(fact, facts)) {
        waiters.delete(w);
        w.resolve(fact);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    facts,
    exited,
    stderr: () => err,
    waitFor: (pred, timeoutMs = 30_000) =>
      new Promise<Fact>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting; stderr: ${err.slice(-2000)}`)),
          timeoutMs,
        );
        waiters.add({
          pred,
          resolve: (f) => {
            clearTimeout(timer);
            resolve(f);
          },
        });
      }),
  };
}

const passages = (all: Fact[]) => all.filter((f) => f.type === 'passage').length;

/** The store after a crash: gapless, nothing lost, nothing twice, sessions match entries and exits. */
function checkStore(t: Test, dbPath: string, committed: number[]): { events: number } {
  const db = new Database(dbPath); // read-write: SQLite recovers the WAL of the killed process
  try {
    const rows = db.prepare('SELECT event_id, payload FROM outbox ORDER BY event_id').all() as Array<{
      event_id: number;
      payload: string;
    }>;
    const last = db
      .prepare("SELECT value FROM counters WHERE name = 'last_event_id'")
      .pluck()
      .get() as number;
    t.equal(last, rows.length, 'counter equals the number of events');
    t.ok(
      rows.every((r, i) => r.event_id === i + 1),
      `event ids 1..${rows.length} contiguous`,
    );
    const maxCommitted = Math.max(0, ...committed);
    t.ok(
      maxCommitted <= rows.length,
      `every event reported committed (up to ${maxCommitted}) is in the file`,
    );
    const events = rows.map((r) => JSON.parse(r.payload) as GateEvent);
    t.ok(
      events.every((e, i) => e.eventId === i + 1 && GateEventSchema.safeParse(e).success),
      'payloads are valid and carry their own id',
    );
    const entries = events.filter((e): e is Extract<GateEvent, { kind: 'entry' }> => e.kind === 'entry');
    const exits = events.filter((e): e is Extract<GateEvent, { kind: 'exit' }> => e.kind === 'exit');
    const owed = events.filter((e) => e.kind === 'unable_to_collect');
    const sessions = db
      .prepare('SELECT id, entry_event_id, exit_event_id, exited_at FROM sessions')
      .all() as Array<{
      id: string;
      entry_event_id: number;
      exit_event_id: number | null;
      exited_at: number | null;
    }>;
    t.equal(new Set(entries.map((e) => e.sessionId)).size, entries.length, 'one entry event per session');
    t.equal(sessions.length, entries.length, 'one session per entry event');
    const entryBySession = new Map(entries.map((e) => [e.sessionId, e.eventId]));
    t.ok(
      sessions.every((s) => entryBySession.get(s.id) === s.entry_event_id),
      'each session points at its entry event',
    );
    t.equal(new Set(exits.map((e) => e.sessionId)).size, exits.length, 'at most one exit per session');
    const exitBySession = new Map(exits.map((e) => [e.sessionId, e.eventId]));
    t.ok(
      sessions.every((s) =>
        s.exit_event_id === null ? !exitBySession.has(s.id) : exitBySession.get(s.id) === s.exit_event_id,
      ),
      'exit events and closed sessions match one to one',
    );
    const utc = db.prepare('SELECT count(*) FROM unable_to_collect').pluck().get() as number;
    t.equal(utc, owed.length, 'owed records match unable_to_collect events');
    return { events: rows.length };
  } finally {
    db.close();
  }
}

t.test(
  'SIGKILL mid-passage and restart: arm down first, store consistent, no lost or duplicated events',
  async (t) => {
    const tmp = tempDir();
    t.teardown(tmp.cleanup);
    const dbPath = join(tmp.dir, 'edge.sqlite');
    // Kill points: a car on the entry safety loop; just after a commit; the exit arm opening; on an exit passage.
    const killPoints: Array<{ name: string; pred: (f: Fact, all: Fact[]) => boolean }> = [
      {
        name: 'entry PASSING',
        pred: (f, all) =>
          f.type === 'lane' && f.laneId === 'in' && f.state === 'PASSING' && passages(all) >= 2,
      },
      { name: 'right after a commit', pred: (f, all) => f.type === 'committed' && passages(all) >= 3 },
      {
        name: 'exit OPENING',
        pred: (f, all) =>
          f.type === 'lane' && f.laneId === 'out' && f.state === 'OPENING' && passages(all) >= 2,
      },
      {
        name: 'exit passage',
        pred: (f, all) => f.type === 'passage' && f.direction === 'exit' && passages(all) >= 4,
      },
    ];
    let before = 0;
    for (const [i, point] of killPoints.entries()) {
      const run = startChild(dbPath, 100 + i, 'traffic');
      const boot =
        (await run.waitFor((f) => f.type === 'started')) && run.facts.filter((f) => f.type === 'boot');
      for (const b of boot as Array<Extract<Fact, { type: 'boot' }>>) {
        t.match(
          b.relay[0],
          { op: 'export', pin: SIM_RELAY_PIN, direction: ARM_DOWN_RAW === 1 ? 'high' : 'low' },
          `${b.laneId}: relay exported at arm-down`,
        );
        t.match(b.relay[1], { op: 'write', raw: ARM_DOWN_RAW }, `${b.laneId}: first write is arm-down`);
        t.equal(
          b.relay.filter((op) => op.op === 'write' && op.raw !== ARM_DOWN_RAW).length,
          0,
          'never up at boot',
        );
        t.equal(b.arm, 'down');
      }
      await run.waitFor(point.pred);
      run.child.kill('SIGKILL');
      const { signal } = await run.exited;
      t.equal(signal, 'SIGKILL', `killed at: ${point.name}`);
      const committed = run.facts.flatMap((f) => (f.type === 'committed' ? f.ids : []));
      const { events } = checkStore(t, dbPath, committed);
      t.ok(events > before, `progress after restart ${i} (${events} events)`);
      before = events;
    }

    // A last restart: lanes come up idle with arms down, then a graceful stop.
    const run = startChild(dbPath, 999, 'idle');
    const started = (await run.waitFor((f) => f.type === 'started')) as Extract<Fact, { type: 'started' }>;
    t.match(started.lanes, [
      { id: 'in', state: 'IDLE', arm: 'down' },
      { id: 'out', state: 'IDLE', arm: 'down' },
    ]);
    run.child.kill('SIGTERM');
    await run.waitFor((f) => f.type === 'stopped');
    t.same(await run.exited, { code: 0, signal: null }, 'graceful stop');
    checkStore(t, dbPath, []);
  },
);
