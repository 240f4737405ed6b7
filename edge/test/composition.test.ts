import { join } from 'node:path';
import t from 'tap';
import { hostClock } from '../../hardware-sim/index.js';
import type { Logger } from '../../protocol/logger.js';
import { seededRandom } from '../../protocol/random.js';
import { createEdge } from '../app.js';
import { edgeConfig, simEdge, tempDir, testSimulator } from './support.js';

/**
 * How a lot is composed: simulated lanes come only from a simulator the composer passes in, and a
 * controller running them says so (log, lot data of the attendant console).
 */

function recordingLogger(lines: Array<{ level: string; obj: object | string; msg?: string }>): Logger {
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push({ level, obj, ...(msg === undefined ? {} : { msg }) });
    };
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

t.test('a simulated lot warns at start-up and reports its simulated lanes', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const lines: Array<{ level: string; obj: object | string; msg?: string }> = [];
  const clock = hostClock();
  const edge = await createEdge(edgeConfig({ dbPath: join(tmp.dir, 'edge.sqlite') }), {
    clock,
    timers: clock,
    random: seededRandom(1),
    logger: recordingLogger(lines),
    simulator: testSimulator(),
    ui: false,
    startSync: false,
  });
  t.teardown(() => edge.stop());
  t.same(edge.simulatedLanes, ['in-1', 'out-1']);
  t.same([...edge.sims.keys()], ['in-1', 'out-1'], 'the simulator handles, by lane');
  t.match(
    lines.filter((l) => l.level === 'warn'),
    [{ obj: { lanes: ['in-1', 'out-1'] }, msg: /^SIMULATED lanes in-1, out-1/ }],
  );
});

t.test('the attendant console learns which lanes are simulated', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  const login = await s.inject({
    method: 'POST',
    url: '/api/login',
    payload: { username: 'alice', password: 'correct horse' },
  });
  t.match(login.json(), { lotId: 'lot-test', simulatedLanes: ['in-1', 'out-1'] });
  const me = await s.inject({
    method: 'GET',
    url: '/api/me',
    headers: { authorization: `Bearer ${(login.json() as { token: string }).token}` },
  });
  t.match(me.json(), { simulatedLanes: ['in-1', 'out-1'] });
});

t.test('a lane configured sim without a simulator is a start-up error naming the lane', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const clock = hostClock();
  await t.rejects(
    createEdge(edgeConfig({ dbPath: join(tmp.dir, 'edge.sqlite') }), {
      clock,
      timers: clock,
      random: seededRandom(1),
      logger: recordingLogger([]),
      ui: false,
      startSync: false,
    }),
    { message: /lane in-1 is configured devices: 'sim', but this process was composed without a simulator/ },
  );
});
