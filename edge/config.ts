import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Id, LotConfigSchema, LotId } from '../protocol/domain.js';
import { PublicKeySchema } from '../protocol/mqtt.js';
import { LaneDeviceBindingSchema } from './devices/factory.js';
import { DEFAULT_LANE_TIMING } from './lane/state-machine.js';
import { DEFAULT_CONFIG_PATH } from './paths.js';

/**
 * Edge configuration: a JSON or YAML file (`--config` / EDGE_CONFIG, default edge/lot.example.json)
 * plus environment overrides, validated by zod once at start. A bad value stops the process with a
 * message naming the key (or the environment variable) and the rule.
 */

export { DEFAULT_CONFIG_PATH };

const ms = (min: number, max: number) => z.number().int().min(min).max(max);

export const LaneTimingSchema = z.object({
  credentialHoldMs: ms(0, 120_000).default(DEFAULT_LANE_TIMING.credentialHoldMs),
  identifyTimeoutMs: ms(1000, 600_000).default(DEFAULT_LANE_TIMING.identifyTimeoutMs),
  driveupAfterMs: ms(0, 60_000).default(DEFAULT_LANE_TIMING.driveupAfterMs),
  backoutMs: ms(500, 120_000).default(DEFAULT_LANE_TIMING.backoutMs),
  armTravelMs: ms(100, 60_000).default(DEFAULT_LANE_TIMING.armTravelMs),
  armFaultMs: ms(100, 60_000).default(DEFAULT_LANE_TIMING.armFaultMs),
  redecideMs: ms(0, 60_000).default(DEFAULT_LANE_TIMING.redecideMs),
});

/** Knobs of a simulated lane (only used when devices = 'sim'). */
export const SimLaneSettingsSchema = z.object({
  armTravelMs: ms(50, 30_000).default(1000),
  limitSwitches: z.boolean().default(true),
  misreadRate: z.number().min(0).max(1).default(0),
  qr: z.boolean().default(true),
  camera: z.boolean().default(true),
});

const LaneDevicesSchema = z.union([z.literal('sim'), LaneDeviceBindingSchema]);

export const LaneConfigSchema = z
  .object({
    id: Id,
    direction: z.enum(['entry', 'exit']),
    /** What attendants call the lane ("North gate"); the console shows it with Entry/Exit. Default: the id. */
    name: z.string().trim().min(1).max(40).optional(),
    /**
     * 'sim' = the whole lane simulated (real drivers on simulated hardware), or real bindings.
     * Required: a controller must never end up simulating a real lane by omission.
     */
    devices: LaneDevicesSchema.optional(),
    timing: LaneTimingSchema.default(LaneTimingSchema.parse({})),
    sim: SimLaneSettingsSchema.default(SimLaneSettingsSchema.parse({})),
  })
  .superRefine((lane, ctx) => {
    if (lane.devices === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['devices'],
        message: `lane ${lane.id} has no devices: give "sim" for a simulated lane, or its device bindings`,
      });
    }
  })
  .transform(({ devices, ...lane }) => ({ ...lane, devices: devices as z.output<typeof LaneDevicesSchema> }));
export type LaneConfigInput = z.input<typeof LaneConfigSchema>;
export type LaneSettings = z.output<typeof LaneConfigSchema>;

export const AttendantAccountSchema = z
  .object({
    username: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9._-]+$/, 'lower-case letters, digits, . _ - only'),
    displayName: z.string().min(1).max(120).optional(),
    /** Plain password, hashed with argon2id at start (seed accounts); or a ready hash. */
    password: z.string().min(8, 'at least 8 characters').max(256).optional(),
    passwordHash: z.string().startsWith('$argon2', 'an argon2 PHC string').optional(),
  })
  .refine((a) => (a.password === undefined) !== (a.passwordHash === undefined), {
    message: 'give exactly one of password or passwordHash',
  });

export const EdgeConfigSchema = z
  .object({
    lotId: LotId,
    /** SQLite file; default data/edge-<lotId>.sqlite (relative to the working directory). */
    dbPath: z.string().min(1).optional(),
    /** The lot's spots, pools, rates and policies until the cloud delivers a newer version. */
    lot: LotConfigSchema,
    /** Ed25519 keys that verify QR credentials (from the cloud later; rotated by key id). */
    publicKeys: z.array(PublicKeySchema).max(16).default([]),
    lanes: z.array(LaneConfigSchema).min(1).max(64),
    attendant: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8090),
        /** HMAC secret for session tokens; random per process when absent (logins end at restart). */
        jwtSecret: z.string().min(32, 'at least 32 characters').optional(),
        tokenTtlMinutes: z
          .number()
          .int()
          .min(5)
          .max(7 * 24 * 60)
          .default(12 * 60),
        accounts: z.array(AttendantAccountSchema).max(200).default([]),
      })
      .default({ host: '127.0.0.1', port: 8090, tokenTtlMinutes: 720, accounts: [] }),
    /** For the sync client. Absent url = this lot runs offline-only. */
    mqtt: z
      .object({
        url: z.url().optional(),
        username: z.string().min(1).max(128).optional(),
        password: z.string().min(1).max(256).optional(),
        clientId: z.string().min(1).max(128).optional(),
      })
      .default({}),
    /** An online charge at exit not answered in this time is recorded as owed. */
    chargeTimeoutMs: ms(100, 30_000).default(5000),
    /** Acknowledged gate events older than this are pruned locally. */
    outboxRetentionDays: z.number().int().min(1).max(3650).default(30),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** One log line per HTTP request (method, url, status, time) with its request id; default off. */
    logRequests: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (c.lot.id !== c.lotId) {
      ctx.addIssue({ code: 'custom', path: ['lot', 'id'], message: `must equal lotId (${c.lotId})` });
    }
    const seen = new Set<string>();
    c.lanes.forEach((lane, i) => {
      if (seen.has(lane.id))
        ctx.addIssue({ code: 'custom', path: ['lanes', i, 'id'], message: `duplicate lane id ${lane.id}` });
      seen.add(lane.id);
    });
    const spotIds = new Set<string>();
    c.lot.spots.forEach((spot, i) => {
      if (spotIds.has(spot.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['lot', 'spots', i, 'id'],
          message: `duplicate spot id ${spot.id}`,
        });
      }
      spotIds.add(spot.id);
    });
  })
  .transform((c) => ({ ...c, dbPath: c.dbPath ?? `data/edge-${c.lotId}.sqlite` }));

export type EdgeConfig = z.output<typeof EdgeConfigSchema>;

/** Ids of the lanes configured `devices: 'sim'` (the start-up warning and the console's banner). */
export function simulatedLaneIds(config: Pick<EdgeConfig, 'lanes'>): string[] {
  return config.lanes.filter((lane) => lane.devices === 'sim').map((lane) => lane.id);
}
export type EdgeConfigInput = z.input<typeof EdgeConfigSchema>;

export class ConfigError extends Error {
  readonly issues: string[];
  constructor(source: string, issues: string[]) {
    super(`invalid edge configuration (${source}):\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

interface EnvOverride {
  env: string;
  path: string[];
  kind: 'string' | 'int' | 'bool';
}

/** Environment variables that override file keys. */
export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { env: 'EDGE_DB_PATH', path: ['dbPath'], kind: 'string' },
  { env: 'EDGE_HOST', path: ['attendant', 'host'], kind: 'string' },
  { env: 'EDGE_PORT', path: ['attendant', 'port'], kind: 'int' },
  { env: 'EDGE_JWT_SECRET', path: ['attendant', 'jwtSecret'], kind: 'string' },
  { env: 'EDGE_LOG_LEVEL', path: ['logLevel'], kind: 'string' },
  { env: 'LOG_REQUESTS', path: ['logRequests'], kind: 'bool' },
  { env: 'MQTT_URL', path: ['mqtt', 'url'], kind: 'string' },
  { env: 'MQTT_USERNAME', path: ['mqtt', 'username'], kind: 'string' },
  { env: 'MQTT_PASSWORD', path: ['mqtt', 'password'], kind: 'string' },
  { env: 'MQTT_CLIENT_ID', path: ['mqtt', 'clientId'], kind: 'string' },
];

const BOOL_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  '1': true,
  yes: true,
  false: false,
  '0': false,
  no: false,
};

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

/** Validate a raw config object (file contents) with environment overrides applied. */
export function parseEdgeConfig(
  raw: unknown,
  options: { env?: Record<string, string | undefined>; source?: string } = {},
): EdgeConfig {
  const source = options.source ?? 'inline';
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(source, ['(root): expected an object']);
  }
  const merged = structuredClone(raw) as Record<string, unknown>;
  const fromEnv = new Map<string, string>();
  const envIssues: string[] = [];
  for (const o of ENV_OVERRIDES) {
    const value = options.env?.[o.env];
    if (value === undefined || value === '') continue;
    if (o.kind === 'int') {
      if (!/^-?\d+$/.test(value.trim())) {
        envIssues.push(`${o.env}: expected an integer, got "${value}"`);
        continue;
      }
      setPath(merged, o.path, Number(value.trim()));
    } else if (o.kind === 'bool') {
      const flag = BOOL_WORDS[value.trim().toLowerCase()];
      if (flag === undefined) {
        envIssues.push(`${o.env}: expected true or false, got "${value}"`);
        continue;
      }
      setPath(merged, o.path, flag);
    } else {
      setPath(merged, o.path, value);
    }
    fromEnv.set(o.path.join('.'), o.env);
  }
  if (envIssues.length > 0) throw new ConfigError(source, envIssues);
  const parsed = EdgeConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const key = issue.path.map(String).join('.') || '(root)';
      const env = fromEnv.get(key);
      return `${env ? `${env} (${key})` : key}: ${issue.message}`;
    });
    throw new ConfigError(source, issues);
  }
  return parsed.data;
}

/** Read and validate the config file (JSON, or YAML by extension) with environment overrides. */
export function loadEdgeConfig(options: { path?: string; env?: Record<string, string | undefined> } = {}): {
  config: EdgeConfig;
  path: string;
} {
  const env = options.env ?? {};
  const path = options.path ?? env.EDGE_CONFIG ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [`cannot read the file: ${(e as Error).message}`]);
  }
  let raw: unknown;
  try {
    const ext = extname(path).toLowerCase();
    raw = ext === '.yaml' || ext === '.yml' ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(path, [`not valid ${extname(path).slice(1) || 'JSON'}: ${(e as Error).message}`]);
  }
  return { config: parseEdgeConfig(raw, { env, source: path }), path };
}
