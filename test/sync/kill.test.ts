/**
 * SIGKILL the edge process mid-stream (events going up, bookings coming down), restart it on the same
 * SQLite file: nothing lost, nothing doubled; the cloud sees the lot go offline through the last will.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EdgeStore } from '../../edge/store/store.js';
import { systemClock } from '../../protocol/clock.js';
import { accounts, embeddedBroker, logger, waitFor } from './support/harness.js';
import { realCloud, realCloudSync, realEdgeStore } from './support/real.js';

const LOT = `pk${process.pid}`;
const CHILD = fileURLToPath(new URL('./support/edge-child.ts', import.meta.url));
const TOTAL = 4000;

interface Child {
  proc: ChildProcess;
  written: number;
  exited: Promise<void>;
}

function startChild(env: Record<string, unknown>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, PARKEDGE_CHILD: JSON.stringify(env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child: Child = {
    proc,
    written: 0,
    exited: new Promise((resolve) => proc.once('exit', () => resolve())),
  };
  let buf = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const line of lines) {
      const m = /^written (\d+)/.exec(line);
      if (m) child.written = Number(m[1]);
    }
  });
  let err = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString('utf8')).slice(-4000);
  });
  proc.once('exit', (code, signal) => {
    if (code && code !== 0) process.stderr.write(`edge child exited ${code} ${signal}: ${err}\n`);
  });
  return child;
}

t.test('SIGKILL the edge mid-stream: nothing lost, nothing doubled, the will says offline', async (t) => {
  const acc = accounts([LOT]);
  const broker = await embeddedBroker(acc);
  t.teardown(() => broker.close());
  const rc = await realCloud([LOT]);
  t.teardown(() => rc.close());
  const cs = await realCloudSync(rc, broker.url, acc);
  t.teardown(() => cs.stop());
  const re = realEdgeStore(rc.lotConfigs.get(LOT)!);
  re.close(); // the child owns the file
  t.teardown(() => re.remove());
  const cred = acc.lots.get(LOT)!;
  const env = {
    url: broker.url,
    username: cred.username,
    password: cred.password,
    lot: rc.lotConfigs.get(LOT)!,
    dbPath: re.path,
    total: TOTAL,
  };

  let child = startChild(env);
  t.teardown(() => {
    child.proc.kill('SIGKILL');
  });
  await waitFor(async () => (await cs.fleet(LOT))[0]?.state === 'online', 'lot online', 20_000);
  const booked: string[] = [];
  const booking = (async () => {
    for (let i = 0; i < 20; i++) booked.push((await rc.book(LOT, `KILL${i}`)).id);
  })();
  await waitFor(() => child.written >= 1500, 'child wrote 1500 events', 30_000);
  await waitFor(
    async () =>
      (await rc.cloud.db.rows('select 1 from gate_events where lot_id = $1 limit 1', [LOT])).length > 0,
    'some stored',
  );
  child.proc.kill('SIGKILL');
  await child.exited;
  const writtenBeforeKill = child.written;
  t.ok(writtenBeforeKill < TOTAL, `killed mid-stream at ${writtenBeforeKill}`);
  await waitFor(
    async () => (await cs.fleet(LOT))[0]?.state === 'offline',
    'the last will marks the lot offline',
    20_000,
  );
  await booking;

  child = startChild(env);
  await waitFor(
    async () => {
      const [r] = await rc.cloud.db.rows<{ n: number }>(
        'select count(*)::int as n from gate_events where lot_id = $1',
        [LOT],
      );
      return r!.n === TOTAL;
    },
    'every event stored',
    60_000,
    50,
  );
  // Stored in the cloud is not yet acked at the edge: wait for the heartbeat to say both the cursor
  // is at the head and the outbox is empty (the last acks processed) before stopping the edge.
  await waitFor(
    async () => {
      const status = (await cs.fleet(LOT))[0];
      return status?.lastAppliedSeq === (await rc.headSeq(LOT)) && status?.outboxDepth === 0;
    },
    'edge caught up and its outbox acked (heartbeat)',
    20_000,
    50,
  );
  child.proc.kill('SIGTERM');
  await child.exited;

  const [s] = await rc.cloud.db.rows<{ n: number; d: number; max: number }>(
    'select count(*)::int as n, count(distinct event_id)::int as d, max(event_id)::int as max from gate_events where lot_id = $1',
    [LOT],
  );
  t.same(s, { n: TOTAL, d: TOTAL, max: TOTAL }, 'stored exactly once each');
  const store = EdgeStore.open({
    path: re.path,
    lotId: LOT,
    clock: systemClock,
    logger,
    fileConfig: { lot: rc.lotConfigs.get(LOT)!, publicKeys: [] },
  });
  t.teardown(() => store.close());
  t.equal(store.ledger.lastEventId(), TOTAL);
  t.equal(store.ledger.outboxDepth(), 0, 'outbox drained');
  t.equal(store.mirror.getCursor(), await rc.headSeq(LOT), 'cursor at the cloud head');
  for (const [id, status] of await rc.statuses(LOT))
    t.equal(store.mirror.reservationById(id)?.status, status, `reservation ${id}`);
  t.equal(booked.length, 20);
});
