import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrokerCredentials, writeMosquittoPasswordFile } from '../../cloud/broker/credentials.js';

/**
 * A real Mosquitto for tests, configured with the project's own deploy/mosquitto/mosquitto.conf
 * and acl (only the port and file locations are templated), so the tests prove the files we ship.
 */

export const MOSQUITTO_CONFIG_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../deploy/mosquitto',
);

/** The broker binary: MOSQUITTO_BIN, else PATH, else /usr/sbin or /usr/local/sbin; null when absent. */
export function findMosquittoBinary(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.MOSQUITTO_BIN) return existsSync(env.MOSQUITTO_BIN) ? env.MOSQUITTO_BIN : null;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'mosquitto');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

export function mosquittoAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return findMosquittoBinary(env) !== null;
}

/**
 * For `t.test(name, { skip: mosquittoSkip() }, …)`: false when Mosquitto is there; locally a
 * reason to skip; in CI (CI set) it throws, because CI must run the real broker.
 */
export function mosquittoSkip(env: NodeJS.ProcessEnv = process.env): string | false {
  if (mosquittoAvailable(env)) return false;
  const why = env.MOSQUITTO_BIN
    ? `MOSQUITTO_BIN=${env.MOSQUITTO_BIN} does not exist`
    : 'mosquitto is not installed (not on PATH, /usr/sbin or /usr/local/sbin; set MOSQUITTO_BIN)';
  if (env.CI) throw new Error(`CI needs a real Mosquitto: ${why}`);
  return `skipping the real-Mosquitto tests: ${why}`;
}

export interface MosquittoConfSettings {
  port: number;
  host: string;
  passwordFile: string;
  aclFile: string;
  persistenceDir: string;
  /** Set `user` (Mosquitto run as root drops to this user; the temp files must stay readable). */
  user?: string;
}

/** Replaces the values of the directives the shipped file marks as templated; each must be there once. */
export function renderMosquittoConf(template: string, s: MosquittoConfSettings): string {
  const replacements: Array<[RegExp, string]> = [
    [/^listener\s+1883\s*$/m, `listener ${s.port} ${s.host}`],
    [/^password_file\s+.*$/m, `password_file ${s.passwordFile}`],
    [/^acl_file\s+.*$/m, `acl_file ${s.aclFile}`],
    [
      /^persistence_location\s+.*$/m,
      `persistence_location ${s.persistenceDir.endsWith('/') ? s.persistenceDir : `${s.persistenceDir}/`}`,
    ],
  ];
  let conf = template;
  for (const [re, line] of replacements) {
    const count = conf.match(new RegExp(re.source, 'gm'))?.length ?? 0;
    if (count !== 1)
      throw new Error(`mosquitto.conf must have exactly one line matching ${re} (found ${count})`);
    conf = conf.replace(re, line);
  }
  if (s.user) conf += `\nuser ${s.user}\n`;
  return conf;
}

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, host, () => res());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

export interface StartMosquittoOptions {
  /** Accounts written to the password file (with mosquitto_passwd when installed). */
  accounts: readonly BrokerCredentials[];
  port?: number;
  /** Bounds the wait for the broker to accept connections. Default 10 s. */
  startTimeoutMs?: number;
  /** Where mosquitto.conf and acl come from. Default deploy/mosquitto. */
  configDir?: string;
}

export interface MosquittoInstance {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The temp directory with the rendered config, password file and persistence. */
  readonly dir: string;
  readonly running: boolean;
  /** The broker's log so far (last 256 KiB), for failure messages. */
  output(): string;
  /** Stops the broker (SIGTERM saves persistence; SIGKILL simulates a crash). Keeps the directory. */
  stop(options?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
  /** Stops and starts again on the same port with the same persistence (broker-restart tests). */
  restart(options?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
  /** Stops and removes the directory. */
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export async function startMosquitto(options: StartMosquittoOptions): Promise<MosquittoInstance> {
  const bin = findMosquittoBinary();
  if (!bin) throw new Error(mosquittoSkip() || 'mosquitto not found');
  installExitHook();
  const configDir = options.configDir ?? MOSQUITTO_CONFIG_DIR;
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const dir = await mkdtemp(join(tmpdir(), 'parkedge-mosquitto-'));
  const passwordFile = join(dir, 'passwd');
  const aclFile = join(dir, 'acl');
  const persistenceDir = join(dir, 'data');
  const confFile = join(dir, 'mosquitto.conf');
  await mkdir(persistenceDir);
  await copyFile(join(configDir, 'acl'), aclFile);
  await writeMosquittoPasswordFile(passwordFile, options.accounts);
  const template = await readFile(join(configDir, 'mosquitto.conf'), 'utf8');
  // Run as root, Mosquitto would switch to the `mosquitto` user, who cannot read our temp dir.
  const user = process.getuid?.() === 0 ? userInfo().username : undefined;
  await writeFile(
    confFile,
    renderMosquittoConf(template, { port, host, passwordFile, aclFile, persistenceDir, user }),
  );

  let child: ChildProcess | null = null;
  let log = '';
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-256 * 1024);
  };

  const start = async () => {
    const proc = spawn(bin, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    running.add(proc);
    proc.stdout?.on('data', append);
    proc.stderr?.on('data', append);
    let exit: string | null = null;
    proc.once('exit', (code, signal) => {
      exit = `exited (${signal ?? code})`;
      running.delete(proc);
      if (child === proc) child = null;
    });
    const ready = await waitForPort(host, port, startTimeoutMs, () => exit !== null);
    if (!ready) throw new Error(`mosquitto ${exit} before accepting connections:\n${log}`);
  };

  const stop = async ({ signal = 'SIGTERM' }: { signal?: 'SIGTERM' | 'SIGKILL' } = {}) => {
    const proc: ChildProcess | null = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((res) => proc.once('exit', () => res()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (error) {
    await stop({ signal: 'SIGKILL' });
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    url: `mqtt://${host}:${port}`,
    host,
    port,
    dir,
    get running() {
      return child !== null;
    },
    output: () => log,
    stop,
    async restart(options) {
      await stop(options);
      await start();
    },
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * True once a TCP connection to host:port succeeds, false as soon as `gaveUp()` says the process
 * is gone; retries every 20 ms and throws at the deadline.
 */
async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  gaveUp: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gaveUp()) return false;
    const ok = await new Promise<boolean>((res) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        res(true);
      });
      socket.once('error', () => res(false));
    });
    if (ok) return true;
    if (Date.now() > deadline)
      throw new Error(`nothing accepted connections on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
}
