import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  loadEdgeConfig,
  parseEdgeConfig,
  simulatedLaneIds,
} from '../config.js';
import { tempDir } from './support.js';

const example = () => JSON.parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as Record<string, unknown>;

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

t.test('the shipped example: 2 lanes, 60 spots, bookable and driveup pools, sim devices', async (t) => {
  const { config, path } = loadEdgeConfig({ env: {} });
  t.equal(path, DEFAULT_CONFIG_PATH);
  t.equal(config.lot.spots.length, 60);
  t.same([...new Set(config.lot.spots.map((s) => s.pool))].sort(), ['bookable', 'driveup']);
  t.same(
    config.lanes.map((l) => [l.id, l.direction, l.devices]),
    [
      ['entry-1', 'entry', 'sim'],
      ['exit-1', 'exit', 'sim'],
    ],
  );
  t.equal(config.dbPath, 'data/edge-lot-demo.sqlite');
  t.equal(config.attendant.port, 8090);
  t.equal(config.mqtt.url, undefined, 'offline-only unless MQTT_URL is set');
});

t.test('environment overrides, with errors naming the variable', async (t) => {
  const { config } = loadEdgeConfig({
    env: {
      EDGE_DB_PATH: '/tmp/x.sqlite',
      EDGE_PORT: '9100',
      MQTT_URL: 'mqtt://broker:1883',
      MQTT_PASSWORD: 'secret',
    },
  });
  t.equal(config.dbPath, '/tmp/x.sqlite');
  t.equal(config.attendant.port, 9100);
  t.same(config.mqtt, { url: 'mqtt://broker:1883', password: 'secret' });
  t.same(
    issues(() => loadEdgeConfig({ env: { EDGE_PORT: 'eighty' } })),
    ['EDGE_PORT: expected an integer, got "eighty"'],
  );
  t.match(
    issues(() => loadEdgeConfig({ env: { EDGE_PORT: '70000' } })),
    [/^EDGE_PORT \(attendant\.port\): /],
  );
  t.match(
    issues(() => loadEdgeConfig({ env: { MQTT_URL: 'not a url' } })),
    [/^MQTT_URL \(mqtt\.url\): /],
  );
});

t.test('bad keys are named', async (t) => {
  const bad = example();
  (bad.lanes as Array<Record<string, unknown>>)[1]!.direction = 'sideways';
  (bad.lot as { spots: Array<Record<string, unknown>> }).spots[3]!.pool = 'vip';
  const found = issues(() => parseEdgeConfig(bad));
  t.equal(found.length, 2);
  t.ok(found.some((i) => /^lanes\.1\.direction: .*"entry"\|"exit"/.test(i)));
  t.ok(found.some((i) => /^lot\.spots\.3\.pool: .*"bookable"\|"driveup"/.test(i)));
  const other = { ...example(), lotId: 'other-lot' };
  t.match(
    issues(() => parseEdgeConfig(other)),
    [/^lot\.id: must equal lotId \(other-lot\)/],
  );
  const dupLanes = example();
  (dupLanes.lanes as Array<Record<string, unknown>>)[1]!.id = 'entry-1';
  t.match(
    issues(() => parseEdgeConfig(dupLanes)),
    [/^lanes\.1\.id: duplicate lane id entry-1/],
  );
  const acct = example();
  (acct.attendant as { accounts: unknown[] }).accounts = [
    { username: 'bob', password: 'longenough', passwordHash: '$argon2id$x' },
  ];
  t.match(
    issues(() => parseEdgeConfig(acct)),
    [/^attendant\.accounts\.0: give exactly one of password or passwordHash/],
  );
  t.match(
    issues(() => parseEdgeConfig([])),
    ['(root): expected an object'],
  );
});

t.test('a lane without devices is refused, naming the lane: nothing is simulated by omission', async (t) => {
  const bare = example();
  delete (bare.lanes as Array<Record<string, unknown>>)[1]!.devices;
  t.match(
    issues(() => parseEdgeConfig(bare)),
    [
      /^lanes\.1\.devices: lane exit-1 has no devices: give "sim" for a simulated lane, or its device bindings/,
    ],
  );
  const sim = parseEdgeConfig(example());
  t.same(simulatedLaneIds(sim), ['entry-1', 'exit-1']);
  const real = example();
  (real.lanes as Array<Record<string, unknown>>)[0]!.devices = {
    gpio: { relay: 17, armingLoop: 27, safetyLoop: 22 },
  };
  t.same(simulatedLaneIds(parseEdgeConfig(real)), ['exit-1']);
});

t.test('YAML files and unreadable files', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const yamlPath = join(tmp.dir, 'lot.yaml');
  writeFileSync(yamlPath, stringify({ ...example(), attendant: { port: 9200 } }));
  t.equal(loadEdgeConfig({ path: yamlPath }).config.attendant.port, 9200);
  t.equal(loadEdgeConfig({ env: { EDGE_CONFIG: yamlPath } }).path, yamlPath, 'EDGE_CONFIG picks the file');
  t.match(
    issues(() => loadEdgeConfig({ path: join(tmp.dir, 'missing.json') })),
    [/cannot read the file/],
  );
  const broken = join(tmp.dir, 'broken.json');
  writeFileSync(broken, '{ "lotId": ');
  t.match(
    issues(() => loadEdgeConfig({ path: broken })),
    [/not valid json/],
  );
});

t.test('LOG_REQUESTS turns per-request logging on; off by default; a non-boolean is named', async (t) => {
  t.equal(loadEdgeConfig({ env: {} }).config.logRequests, false);
  t.equal(loadEdgeConfig({ env: { LOG_REQUESTS: 'true' } }).config.logRequests, true);
  t.equal(loadEdgeConfig({ env: { LOG_REQUESTS: '0' } }).config.logRequests, false);
  t.same(
    issues(() => loadEdgeConfig({ env: { LOG_REQUESTS: 'loud' } })),
    ['LOG_REQUESTS: expected true or false, got "loud"'],
  );
});
