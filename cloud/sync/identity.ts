import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import type { Logger } from '../../protocol/logger.js';

/**
 * A cloud instance's MQTT identity. The broker keys a persistent session (and its place in the
 * `$share/cloud` group) by client id, so the id must be the same every time the same instance starts:
 * a new id per start leaves the old session in the shared group, offline, and the broker keeps handing
 * it a share of every lot's events and requests that nobody reads (a "ghost").
 *
 * The default is derived from the host name plus a short hash of the resolved DATA_DIR, never from the
 * pid: a restarted process (systemd, `docker restart`, a container restarted in the same pod) gets the
 * same id and takes its session back; two instances on one machine differ by their DATA_DIR; replicas in
 * containers differ by host name (container id / pod name), so two replicas can never share an id and
 * throw each other off the broker. A Kubernetes Deployment gives a replaced pod a new name, so its old
 * session becomes a ghost until its MQTT 5 session expiry (MQTT_SESSION_EXPIRY_SECONDS) ends it; with a
 * StatefulSet (stable pod names) or MQTT_INSTANCE_ID set per replica there is none at all.
 */

const ID_PATTERN = /^[A-Za-z0-9_-]{1,40}$/;

export interface InstanceIdInput {
  /** MQTT_INSTANCE_ID, when set: used as is. */
  configured?: string | undefined;
  hostname: string;
  /** The cloud's DATA_DIR (null when it keeps nothing on disk). */
  dataDir: string | null;
}

/** The instance id (pure): the configured one, else `<host>-<hash of DATA_DIR>`; never the pid. */
export function deriveInstanceId(input: InstanceIdInput): string {
  if (input.configured !== undefined) {
    if (!ID_PATTERN.test(input.configured)) throw new Error('MQTT_INSTANCE_ID: 1-40 letters, digits, - or _');
    return input.configured;
  }
  const host = input.hostname.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 24) || 'host';
  if (input.dataDir === null) return host;
  const hash = createHash('sha256').update(resolve(input.dataDir)).digest('hex').slice(0, 8);
  return `${host}-${hash}`;
}

/** The MQTT client id of an instance (the one place that spells it). */
export function mqttClientId(instanceId: string): string {
  return `cloud-${instanceId}`;
}

export interface BrokerLogin {
  url: string;
  username?: string;
  password?: string;
  /** 5 with session expiry (external brokers), 4 for the embedded aedes. */
  protocolVersion: 4 | 5;
}

/**
 * Ends the broker session of `instanceId`: connects once under its client id with a clean session
 * (MQTT 5: clean start, session expiry 0) and disconnects, so the broker drops its subscriptions and
 * queue. Used when an instance's id changed, so the old id does not linger as a ghost.
 */
export async function endSession(login: BrokerLogin, instanceId: string): Promise<void> {
  const client = await mqtt.connectAsync(login.url, {
    clientId: mqttClientId(instanceId),
    clean: true,
    protocolVersion: login.protocolVersion,
    ...(login.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 0 } } : {}),
    reconnectPeriod: 0,
    connectTimeout: 5000,
    username: login.username,
    password: login.password,
  });
  await client.endAsync();
}

const ID_FILE = 'mqtt-instance-id';

/**
 * Remembers the instance id in DATA_DIR; when the one remembered differs (MQTT_INSTANCE_ID changed, or
 * the host was renamed), ends that old id's session first. Failures are logged, never fatal: the MQTT 5
 * session expiry ends a ghost anyway.
 */
export async function retirePreviousInstance(
  dataDir: string | null,
  instanceId: string,
  login: BrokerLogin,
  log: Logger,
): Promise<string | null> {
  if (dataDir === null) return null;
  const file = join(dataDir, ID_FILE);
  let previous: string | null = null;
  try {
    previous = (await readFile(file, 'utf8')).trim() || null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (previous !== null && previous !== instanceId && ID_PATTERN.test(previous)) {
    try {
      await endSession(login, previous);
      log.info({ previous, instanceId }, 'ended the broker session of the previous instance id');
    } catch (error) {
      log.warn({ err: error, previous }, 'could not end the previous instance id’s broker session');
      return null;
    }
  }
  await writeFile(file, `${instanceId}\n`, { mode: 0o600 });
  return previous !== instanceId ? previous : null;
}
