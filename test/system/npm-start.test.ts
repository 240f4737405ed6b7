import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePortBase } from './ports.js';

/**
 * `npm start` end to end, as a user runs it on a fresh clone: the launcher as a child process on an
 * empty data folder, the embedded defaults (PGlite, aedes), real HTTP. We book through the printed
 * cloud API like a driver app, drive that car up to the lot's entry lane through the demo control
 * endpoint, see the lot admit it (the lot's attendant API shows the visit), and stop with SIGINT.
 * Every wait is bounded and on a condition.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const READY_TIMEOUT_MS = 45_000;
const EXIT_TIMEOUT_MS = 20_000;

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function json<T>(
  url: string,
  init: RequestInit & { token?: string } = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...(init.headers as Record<string, string>),
  };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

function expectOk<T>(r: { status: number; body: T }, what: string): T {
  if (r.status < 200 || r.status >= 300)
    throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

t.test(
  'npm start: book through the printed API, the car is admitted at the lot, SIGINT exits 0',
  async (t) => {
    const data = await mkdtemp(join(tmpdir(), 'parkedge-npm-start-'));
    const base = await freePortBase(20_000, 12_000);
    // A fresh clone on a bare machine: the embedded database and broker, whatever this shell points at.
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
    delete env.DATABASE_URL;
    delete env.MQTT_URL;

    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'demo/start.ts',
        '--data',
        data,
        '--reset',
        '--port-base',
        String(base),
        '--seed',
        '7',
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const exited = new Promise<void>((r) =>
      child.once('exit', (code, signal) => {
        exit = { code, signal };
        r();
      }),
    );
    t.teardown(async () => {
      if (!exit) child.kill('SIGKILL');
      await exited;
      await rm(data, { recursive: true, force: true });
    });
    const tail = () => `\n--- stdout ---\n${out.slice(-4000)}\n--- stderr ---\n${err.slice(-4000)}`;

    // ---- started: the printed URLs ---------------------------------------------------------------
    await until('the "Ready." line', READY_TIMEOUT_MS, async () => {
      if (exit) throw new Error(`npm start exited early (${JSON.stringify(exit)})${tail()}`);
      return /^Ready\.$/m.test(out);
    }).catch((e: Error) => {
      throw new Error(`${e.message}${tail()}`);
    });
    const cloudUrl = /Cloud API\s+(http:\/\/\S+)/.exec(out)?.[1];
    const docsUrl = /API docs\s+(http:\/\/\S+)/.exec(out)?.[1];
    const controlUrl = /Demo control\s+(http:\/\/\S+)/.exec(out)?.[1];
    const lot = /(lot-riverside)\s.*?(http:\/\/\S+)\s+login: (\S+) \/ (\S+)/.exec(out);
    t.ok(cloudUrl, 'prints the cloud API URL');
    t.ok(docsUrl, 'prints the API docs URL');
    t.ok(controlUrl, 'prints the demo control URL');
    t.ok(lot, 'prints the lot-riverside attendant UI and login');
    t.ok(/(lot-central)\s.*?(http:\/\/\S+)/.test(out), 'prints the second lot');
    if (!cloudUrl || !controlUrl || !lot || !docsUrl) throw new Error(`missing URLs${tail()}`);
    const [, lotId, uiUrl, attendantUser, attendantPassword] = lot as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];

    t.equal((await fetch(docsUrl)).status, 200, 'API docs are served');
    const page = await fetch(uiUrl);
    t.equal(page.status, 200, 'the attendant UI is served');
    t.match(await page.text(), /<title>Attendant/, 'it is the attendant page');

    // ---- book like a driver app ------------------------------------------------------------------
    const email = `driver-${Date.now()}@test.parkedge`;
    const password = 'a-long-test-password';
    const reg = expectOk(
      await json<{ accessToken: string }>(`${cloudUrl}/v1/auth/register`, {
        method: 'POST',
        body: JSON.stringify({ email, password }),
      }),
      'register',
    );
    const token = reg.accessToken;
    const slot = 15 * 60_000;
    const start = new Date(Math.floor(Date.now() / slot) * slot).toISOString();
    const end = new Date(Math.floor(Date.now() / slot) * slot + 4 * slot).toISOString();
    const cap = expectOk(
      await json<{ available: number }>(
        `${cloudUrl}/v1/lots/${lotId}/capacity?${new URLSearchParams({ vehicleType: 'car', start, end })}`,
        { token },
      ),
      'capacity',
    );
    t.ok(cap.available > 0, `capacity: ${cap.available} spots free`);
    const plate = `T${String(Date.now()).slice(-5)}ST`;
    const created = expectOk(
      await json<{ id: string; paymentUrl: string }>(`${cloudUrl}/v1/reservations`, {
        method: 'POST',
        token,
        body: JSON.stringify({ lotId, vehicleType: 'car', plate, start, end }),
      }),
      'reserve',
    );
    const checkout = decodeURIComponent(new URL(created.paymentUrl).pathname.split('/').pop()!);
    const paid = expectOk(
      await json<{ paymentToken: string }>(`${cloudUrl}/v1/sandbox/pay`, {
        method: 'POST',
        body: JSON.stringify({ checkout }),
      }),
      'sandbox pay',
    );
    const confirmed = expectOk(
      await json<{ status: string; credential: string | null }>(
        `${cloudUrl}/v1/reservations/${created.id}/complete`,
        {
          method: 'POST',
          token,
          body: JSON.stringify({ paymentToken: paid.paymentToken }),
        },
      ),
      'complete',
    );
    t.equal(confirmed.status, 'CONFIRMED', 'the reservation is confirmed');
    t.ok(confirmed.credential, 'with a signed QR credential');

    // ---- the lot knows it (sync) -----------------------------------------------------------------
    const login = expectOk(
      await json<{ token: string }>(`${uiUrl}/api/login`, {
        method: 'POST',
        body: JSON.stringify({ username: attendantUser, password: attendantPassword }),
      }),
      'attendant login',
    );
    const attendant = login.token;
    type Lookup = {
      reservations: Array<{ id: string; status: string }>;
      sessions: Array<{
        reservationId: string | null;
        kind: string;
        exitedAt: string | null;
        entryLaneId: string | null;
      }>;
    };
    await until('the reservation to reach the lot', 15_000, async () => {
      const r = await json<Lookup>(`${uiUrl}/api/lookup?reservationId=${created.id}`, { token: attendant });
      return (
        r.status === 200 && r.body.reservations.some((x) => x.id === created.id && x.status === 'CONFIRMED')
      );
    });
    t.pass('the lot controller received the booking over sync');

    // ---- the car arrives and is admitted ---------------------------------------------------------
    const arrival = expectOk(
      await json<{ admitted: boolean; display: string[] }>(`${controlUrl}/demo/arrive`, {
        method: 'POST',
        body: JSON.stringify({ lotId, plate }),
      }),
      'demo arrive',
    );
    t.equal(arrival.admitted, true, `the barrier opened (display: ${arrival.display.join(' / ')})`);
    const visit = await until('the entry to be recorded', 10_000, async () => {
      const r = await json<Lookup>(`${uiUrl}/api/lookup?reservationId=${created.id}`, { token: attendant });
      return r.body.sessions.find((s) => s.reservationId === created.id && s.exitedAt === null);
    });
    t.equal(visit.kind, 'booking', 'admitted on its booking, not as a drive-up');

    // ---- Ctrl-C ----------------------------------------------------------------------------------
    const stopAt = Date.now();
    child.kill('SIGINT');
    await until('npm start to exit after SIGINT', EXIT_TIMEOUT_MS, async () => exit !== null).catch(
      (e: Error) => {
        throw new Error(`${e.message}${tail()}`);
      },
    );
    const finished = exit as unknown as { code: number | null; signal: NodeJS.Signals | null };
    t.equal(
      finished.code,
      0,
      `exit code 0 after SIGINT (${Date.now() - stopAt} ms)${finished.code === 0 ? '' : tail()}`,
    );
    t.match(out, /stopped cleanly/i, 'says it stopped cleanly');
  },
);
