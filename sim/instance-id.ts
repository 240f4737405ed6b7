import { loadConfig } from '../cloud/config.js';

/**
 * THE SEAM for the ghost-session class (issue 14): how a cloud process that the simulation (re)starts
 * names its MQTT session.
 * - 'config' (default): whatever the real `loadConfig` derives for a fresh process on the same host with
 *   no MQTT_INSTANCE_ID set (the production default). Each restart is a new process, so `process.pid` is
 *   given a new value while the real config code runs. Revert a fix in cloud/config.ts and this fails.
 * - 'pid': the pre-fix derivation, `cloud-<host>-<pid>`, spelled out here so the test can prove the
 *   simulation catches it whatever the config code does today.
 * - 'stable': MQTT_INSTANCE_ID set by the operator, through the real `loadConfig`.
 */
export type InstanceIdPolicy = 'config' | 'pid' | 'stable';

export const INSTANCE_ID_POLICIES: readonly InstanceIdPolicy[] = ['config', 'pid', 'stable'];

export async function instanceIdFor(
  policy: InstanceIdPolicy,
  restart: number,
  dataDir: string,
): Promise<string> {
  const pid = 40_000 + restart; // every (re)start is a new process with a new pid
  if (policy === 'pid') return `cloud-simhost-${pid}`;
  const env: NodeJS.ProcessEnv = {
    DATA_DIR: dataDir,
    PGLITE_DIR: dataDir,
    SYNC: 'true',
    MQTT_URL: 'mqtt://broker.sim',
    MQTT_PASSWORD: 'sim-password',
    ...(policy === 'stable' ? { MQTT_INSTANCE_ID: 'cloud-sim' } : {}),
  };
  return withPid(pid, async () => {
    const sync = (await loadConfig(env)).sync;
    if (!sync) throw new Error('cloud config without sync');
    return sync.instanceId;
  });
}

/** Runs `fn` as if this process had `pid` (the real config code reads process.pid). */
async function withPid<T>(pid: number, fn: () => Promise<T>): Promise<T> {
  const own = Object.getOwnPropertyDescriptor(process, 'pid');
  Object.defineProperty(process, 'pid', { value: pid, configurable: true, writable: false });
  try {
    return await fn();
  } finally {
    if (own) Object.defineProperty(process, 'pid', own);
    else delete (process as { pid?: number }).pid;
  }
}
