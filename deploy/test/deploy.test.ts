import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import {
  findMosquittoPasswd,
  parsePasswordFile,
  verifyPasswordHash,
} from '../../cloud/broker/credentials.js';
import {
  type BrokerAccount,
  accountFromUsername,
  canPublish,
  canRead,
  canSubscribe,
  topicMatchesFilter,
} from '../../protocol/acl.js';
import { DOWN_CHANNELS, MAX_PAYLOAD_BYTES, UP_CHANNELS } from '../../protocol/mqtt.js';
import { DEFAULT_BUNDLE_NAME, DEFAULT_OUT_DIR } from '../../edge/build.js';
import { renderMosquittoConf } from '../../test/support/mosquitto.js';

/**
 * The fleet and broker deployment files: balena's manifest and compose file have what balena
 * needs, the container files point at what exists, and the Mosquitto ACL grants exactly what
 * protocol/acl.ts grants (the embedded broker's rule).
 */

const deployDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = resolve(deployDir, '..');
const read = (path: string) => readFileSync(join(deployDir, path), 'utf8');
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

t.test('balena.yml has what balena requires', async (t) => {
  const manifest = parseYaml(read('balena.yml')) as Obj;
  t.type(manifest.name, 'string');
  t.match(manifest.name, /^[a-z0-9-]+$/);
  t.equal(manifest.type, 'sw.application');
  t.match(String(manifest.version), /^\d+\.\d+\.\d+$/, 'a semver release version');
  t.equal(String(manifest.version), JSON.parse(readFileSync(join(repoDir, 'package.json'), 'utf8')).version);
  t.type(manifest.description, 'string');
  t.equal(manifest.joinable, false, 'a private fleet');
  const data = manifest.data as Obj;
  t.ok(isObj(data), 'data');
  const supported = data.supportedDeviceTypes as string[];
  t.ok(Array.isArray(supported));
  for (const slug of ['raspberrypi4-64', 'raspberrypi5', 'generic-amd64'])
    t.ok(supported.includes(slug), slug);
  t.ok(supported.includes(data.defaultDeviceType as string), 'the default device type is a supported one');
  const vars = data.applicationEnvironmentVariables as unknown[];
  t.ok(Array.isArray(vars));
  for (const v of vars) {
    t.ok(isObj(v) && Object.keys(v).length === 1, 'one NAME: value map per entry');
    const [name, value] = Object.entries(v as Obj)[0]!;
    t.match(name, /^[A-Z][A-Z0-9_]*$/);
    t.ok(['string', 'number'].includes(typeof value), `${name} is a scalar`);
    t.notMatch(name, /PASSWORD|SECRET|_B64$/, `${name}: secrets are device variables, never in the manifest`);
  }
});

t.test('docker-compose.yml is the one balena runs', async (t) => {
  const compose = parseYaml(read('docker-compose.yml')) as Obj;
  t.match(String(compose.version), /^2(\.\d)?$/, 'balena supports compose file format 2.x');
  for (const v3 of ['configs', 'secrets']) t.notOk(v3 in compose, `${v3} is not supported by balena`);
  const volumes = compose.volumes as Obj;
  const edge = (compose.services as Obj).edge as Obj;
  t.ok(isObj(edge), 'services.edge');
  t.ok(typeof edge.image === 'string' || isObj(edge.build), 'image or build');
  if (isObj(edge.build))
    t.notMatch(String(edge.build.context ?? '.'), /^\.\./, 'balena builds only inside the project');
  t.equal(edge.restart, 'always');
  t.notOk('deploy' in edge, 'compose v3 deploy: is not supported by balena');
  const devices = (edge.devices as string[] | undefined) ?? [];
  t.ok(edge.privileged === true || devices.length > 0, 'the hardware is reachable');
  const labels = edge.labels as Obj;
  t.equal(labels['io.balena.features.sysfs'], '1');
  t.equal(labels['io.balena.features.kernel-modules'], '1');
  t.not(labels['io.balena.update.strategy'], 'hand-over', 'never two controllers on one barrier');
  const mounts = edge.volumes as string[];
  const data = mounts.map((m) => m.split(':')).find(([, path]) => path === '/data');
  t.ok(data, 'a volume at /data');
  t.ok(data && volumes && data[0]! in volumes, 'the /data volume is a declared named volume');
  for (const m of mounts) t.notMatch(m, /^[./~]/, 'no bind mounts (balena has none)');
  t.ok(
    edge.network_mode === 'host' || Array.isArray(edge.ports),
    'the attendant UI is reachable on the lot network',
  );
  const env = edge.environment as Obj;
  t.equal(env.EDGE_DB_PATH, '/data/edge.sqlite', 'SQLite on the volume');
  t.notOk('MQTT_PASSWORD' in env, 'per-lot secrets come from device variables');
  t.ok(isObj(edge.healthcheck));
});

t.test('container files point at what exists', async (t) => {
  const pkg = JSON.parse(readFileSync(join(repoDir, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    engines: { node: string };
  };
  // The one supported Node: what package.json promises is what the containers and CI run.
  const major = /^>=(\d+)$/.exec(pkg.engines.node)?.[1];
  t.ok(major, `engines.node is a lower bound (${pkg.engines.node})`);
  t.match(
    readFileSync(join(repoDir, '.ci/run'), 'utf8'),
    new RegExp(`^NODE_MAJOR=${major}$`, 'm'),
    `CI runs Node ${major}`,
  );
  for (const file of ['edge.Dockerfile', 'cloud.Dockerfile']) {
    const text = read(file);
    t.match(
      text,
      new RegExp(`^FROM node:${major}-bookworm-slim|^ARG NODE_IMAGE=node:${major}-bookworm-slim`, 'm'),
      `${file}: Node ${major} bookworm-slim`,
    );
    t.match(text, /^HEALTHCHECK /m, `${file}: HEALTHCHECK`);
    t.match(text, /npm ci --omit=dev/, `${file}: production dependencies only at run time`);
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const src of m[1]!.split(/\s+/)) t.ok(existsSync(join(repoDir, src)), `${file}: ${src} exists`);
    t.ok(existsSync(join(deployDir, `${file}.dockerignore`)), `${file}.dockerignore`);
  }
  const cloudEntry = /CMD \["node", "--import", "tsx", "([^"]+)"\]/.exec(read('cloud.Dockerfile'))?.[1];
  t.equal(`tsx ${cloudEntry}`, pkg.scripts.cloud, 'cloud.Dockerfile starts what npm run cloud starts');

  // The edge runs compiled: built by edge/build.ts in a build stage, started with plain node.
  const edge = read('edge.Dockerfile');
  const stages = edge.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1)!;
  const build = stages.find((s) => /\bAS build\b/.test(s.split('\n')[0]!));
  t.ok(build, 'a build stage');
  const buildRun = /^RUN node --import tsx (edge\/build\.ts)(?: --out (\S+))?$/m.exec(build ?? '');
  t.ok(buildRun && existsSync(join(repoDir, buildRun[1]!)), 'the build stage runs edge/build.ts');
  const outDir = buildRun?.[2] ?? 'dist';
  t.match(
    runtime,
    new RegExp(`^COPY --from=build /app/${outDir} \\./${outDir}$`, 'm'),
    'the bundle is copied',
  );
  t.match(runtime, /^COPY --from=deps \/app\/node_modules \.\/node_modules$/m, 'beside production packages');
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)?.[1] ?? 'null') as string[] | null;
  t.same(cmd, ['node', '--enable-source-maps', `${outDir}/${DEFAULT_BUNDLE_NAME}`], 'starts the bundle');
  t.notMatch(runtime, /tsx/, 'tsx is not on the runtime path');
  t.notMatch(runtime, /^COPY (edge|protocol|hardware-sim) /m, 'no TypeScript sources in the image');
  t.equal(
    relative(repoDir, DEFAULT_OUT_DIR),
    'dist',
    'npm run build:edge writes where .gitignore and the image expect',
  );
  if (pkg.scripts['build:edge'] !== undefined)
    t.equal(pkg.scripts['build:edge'], 'tsx edge/build.ts', 'npm run build:edge');
  t.match(readFileSync(join(repoDir, '.gitignore'), 'utf8'), /^\/?dist\/$/m, 'dist/ is not committed');
  t.match(read('cloud.Dockerfile'), /^USER node$/m, 'the cloud never runs as root');
  t.match(read('edge.Dockerfile'), /libudev-dev/, 'node-hid builds against libudev');
  for (const script of ['edge-entrypoint.sh', 'mosquitto/create-lot-credentials.sh']) {
    accessSync(join(deployDir, script), constants.X_OK);
    t.equal(spawnSync('sh', ['-n', join(deployDir, script)]).status, 0, `${script} parses`);
  }
});

t.test('mosquitto.conf: locked down, templatable, same limits as the embedded broker', async (t) => {
  const conf = read('mosquitto/mosquitto.conf');
  const directive = (name: string) =>
    [...conf.matchAll(new RegExp(`^${name}\\s+(.+)$`, 'gm'))].map((m) => m[1]!.trim());
  t.same(directive('allow_anonymous'), ['false']);
  t.same(directive('per_listener_settings'), ['false']);
  t.equal(directive('password_file').length, 1);
  t.equal(directive('acl_file').length, 1);
  t.same(directive('persistence'), ['true']);
  t.same(directive('message_size_limit'), [String(MAX_PAYLOAD_BYTES)], 'protocol MAX_PAYLOAD_BYTES');
  t.same(directive('max_packet_size'), [String(MAX_PAYLOAD_BYTES + 4096)], 'as the embedded broker default');
  t.match(conf, /^# listener 8883$/m, 'a TLS listener, commented, for production');
  t.match(conf, /^# certfile /m);
  const rendered = renderMosquittoConf(conf, {
    port: 1234,
    host: '127.0.0.1',
    passwordFile: '/tmp/p',
    aclFile: '/tmp/a',
    persistenceDir: '/tmp/d',
  });
  t.match(rendered, /^listener 1234 127\.0\.0\.1$/m);
  t.match(rendered, /^password_file \/tmp\/p$/m);
  t.match(rendered, /^persistence_location \/tmp\/d\/$/m);
  t.throws(() =>
    renderMosquittoConf('allow_anonymous false\n', {
      port: 1,
      host: 'h',
      passwordFile: '',
      aclFile: '',
      persistenceDir: '',
    }),
  );
});

// --------------------------------------------------------------------------------------------
// The ACL file against protocol/acl.ts

interface AclRule {
  access: 'read' | 'write' | 'readwrite' | 'deny';
  topic: string;
}
interface AclFile {
  users: Map<string, AclRule[]>;
  patterns: AclRule[];
  anonymous: AclRule[];
}

/** Parses a Mosquitto acl_file (topic / pattern / user lines, # comments). */
function parseAclFile(text: string): AclFile {
  const acl: AclFile = { users: new Map(), patterns: [], anonymous: [] };
  let user: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [keyword, ...rest] = line.split(/\s+/);
    if (keyword === 'user') {
      user = rest.join(' ');
      if (!acl.users.has(user)) acl.users.set(user, []);
      continue;
    }
    if (keyword !== 'topic' && keyword !== 'pattern') throw new Error(`unknown acl line: ${line}`);
    const access = ['read', 'write', 'readwrite', 'deny'].includes(rest[0]!) ? rest.shift()! : 'readwrite';
    const rule = { access: access as AclRule['access'], topic: rest.join(' ') };
    if (keyword === 'pattern') acl.patterns.push(rule);
    else if (user === null) acl.anonymous.push(rule);
    else acl.users.get(user)!.push(rule);
  }
  return acl;
}

/**
 * Mosquitto 2's acl_file decision for an authenticated user (observed on 2.0.11 by
 * test/broker.test.ts): the user's deny rules first, then its grants, then the patterns with
 * %u/%c substituted (never for a username containing + # or /); a filter starting with a
 * wildcard does not match $ topics.
 */
function mosquittoAllows(acl: AclFile, username: string, topic: string, want: 'read' | 'write'): boolean {
  const grants = (r: AclRule) => r.access === want || r.access === 'readwrite';
  const own = acl.users.get(username) ?? [];
  if (own.some((r) => r.access === 'deny' && topicMatchesFilter(r.topic, topic))) return false;
  if (own.some((r) => grants(r) && topicMatchesFilter(r.topic, topic))) return true;
  if (/[+#/]/.test(username)) return false;
  const substituted = acl.patterns.map((r) => ({ ...r, topic: r.topic.replaceAll('%u', username) }));
  if (substituted.some((r) => r.access === 'deny' && topicMatchesFilter(r.topic, topic))) return false;
  return substituted.some((r) => grants(r) && topicMatchesFilter(r.topic, topic));
}

const acl = parseAclFile(read('mosquitto/acl'));
const usernames = ['cloud', 'lot-A', 'lot-B', 'L_9'];
const lots = ['lot-A', 'lot-B', 'L_9', 'cloud', 'lot-C', '', '..'];
const sampleTopics = [
  ...lots.flatMap((lot) => [
    ...UP_CHANNELS.map((c) => `parkedge/v1/lot/${lot}/up/${c}`),
    ...DOWN_CHANNELS.map((c) => `parkedge/v1/lot/${lot}/down/${c}`),
    `parkedge/v1/lot/${lot}/up`,
    `parkedge/v1/lot/${lot}/down`,
    `parkedge/v1/lot/${lot}/up/future/channel`,
    `parkedge/v1/lot/${lot}/down/x/y`,
    `parkedge/v1/lot/${lot}/sideways/events`,
    `parkedge/v1/lot/${lot}`,
  ]),
  'parkedge/v1/lot',
  'parkedge/v2/lot/lot-A/up/events',
  'other/topic',
  '$SYS/broker/clients/connected',
  '$share/cloud/parkedge/v1/lot/lot-A/up/events',
];

t.test('the ACL file grants exactly what protocol/acl.ts grants', async (t) => {
  t.same([...acl.users.keys()], ['cloud'], 'one named account; lots are covered by patterns');
  t.same(acl.anonymous, [], 'nothing for anonymous clients');
  let compared = 0;
  for (const username of usernames) {
    const account = accountFromUsername(username) as BrokerAccount;
    for (const topic of sampleTopics) {
      t.equal(
        canPublish(account, topic),
        mosquittoAllows(acl, username, topic, 'write'),
        `${username} publish ${topic}`,
      );
      t.equal(
        canRead(account, topic),
        mosquittoAllows(acl, username, topic, 'read'),
        `${username} read ${topic}`,
      );
      compared += 2;
    }
  }
  t.ok(compared > 500, `${compared} decisions compared`);
});

t.test('every filter the embedded broker allows stays within what Mosquitto delivers', async (t) => {
  const filters = [
    '#',
    'parkedge/v1/lot/+/up/#',
    'parkedge/v1/lot/+/down/#',
    'parkedge/v1/lot/lot-A/down/#',
    'parkedge/v1/lot/lot-A/down/+',
    'parkedge/v1/lot/lot-A/#',
    'parkedge/v1/lot/+/up/events',
    '$share/cloud/parkedge/v1/lot/+/up/#',
  ];
  for (const username of usernames) {
    const account = accountFromUsername(username) as BrokerAccount;
    for (const filter of filters) {
      if (!canSubscribe(account, filter)) continue;
      const plain = filter.replace(/^\$share\/[^/]+\//, '');
      for (const topic of sampleTopics)
        if (topicMatchesFilter(plain, topic) && !topic.startsWith('parkedge/v1/lot/cloud/'))
          t.ok(mosquittoAllows(acl, username, topic, 'read'), `${username} ${filter} → ${topic}`);
    }
  }
});

t.test('anyone without an account gets nothing from the ACL either', async (t) => {
  for (const username of ['lot/A', 'lot+', 'lot.A', 'Zoë']) {
    t.equal(accountFromUsername(username), null);
    const allowed = sampleTopics.filter(
      (topic) =>
        mosquittoAllows(acl, username, topic, 'write') || mosquittoAllows(acl, username, topic, 'read'),
    );
    // A username that is not a lot id has no password file entry (the script refuses it), so this
    // only shows what the patterns would grant it: nothing outside a lot named like it.
    for (const topic of allowed) t.ok(topic.startsWith(`parkedge/v1/lot/${username}/`), topic);
  }
});

const tool = findMosquittoPasswd();
t.test('create-lot-credentials.sh', { skip: tool ? false : 'mosquitto_passwd not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parkedge-deploy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const passwordFile = join(dir, 'passwd');
  const run = (arg: string) =>
    spawnSync('sh', [join(deployDir, 'mosquitto/create-lot-credentials.sh'), arg], {
      env: { ...process.env, MOSQUITTO_PASSWORD_FILE: passwordFile, MOSQUITTO_PASSWD: tool! },
      encoding: 'utf8',
    });
  const lot = run('lot-42');
  t.equal(lot.status, 0, lot.stderr);
  const password = /^password: (\S+)$/m.exec(lot.stdout)?.[1];
  t.match(password, /^[A-Za-z0-9_-]{32}$/);
  t.match(lot.stdout, /^username: lot-42$/m);
  t.equal(run('--cloud').status, 0);
  const entries = parsePasswordFile(readFileSync(passwordFile, 'utf8'));
  t.same([...entries.keys()], ['lot-42', 'cloud']);
  t.ok(await verifyPasswordHash(entries.get('lot-42')!, password!));
  t.equal(run('cloud').status, 65, '"cloud" is not a lot id');
  t.equal(run('a/b').status, 65);
  t.equal(run('x'.repeat(65)).status, 65);
  t.equal(run('-x').status, 64);
  t.equal(execFileSync('stat', ['-c', '%a', passwordFile], { encoding: 'utf8' }).trim(), '600');
});
