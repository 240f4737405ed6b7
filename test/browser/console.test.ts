import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import t from 'tap';
import { TestClock } from '../../protocol/clock.js';
import { seededRandom } from '../../protocol/random.js';
import type { FleetSync } from '../../cloud/routes/fleet.js';
import type { CommandInput } from '../../cloud/sync/commands.js';
import type { CommandRecord, PresenceRecord } from '../../cloud/sync/ports.js';
import { buildTestCloud, HOUR, iso, lotBody, payCheckout } from '../../cloud/test/helpers.js';
import { seedLotHistory } from '../../cloud/test/report-seed.js';

/**
 * The operator console in headless Chromium (Debian's chromium + playwright-core) against a cloud
 * in this process (PGlite, or PostgreSQL when DATABASE_URL is set) listening on a free port, with a
 * seeded week of one lot's facts and a fleet whose presence the test sets: log in (cookie), see the
 * fleet with a long-offline lot standing out, open the lot's dashboard with charts drawn from the
 * reports, send an open-lane command, find a booking by plate and refund it.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const DAY = 24 * HOUR;

function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  const why = `Chromium not found at ${CHROMIUM} (install Debian's chromium or set CHROMIUM_PATH)`;
  if (process.env.CI) throw new Error(`CI needs a browser for the console test: ${why}`);
  return `skipping the browser test: ${why}`;
}

/** A fleet whose presence the test sets, recording the commands sent. */
function fakeFleet(presence: PresenceRecord[]): FleetSync & { sent: CommandRecord[] } {
  const sent: CommandRecord[] = [];
  return {
    sent,
    fleet: async (lotId) => presence.filter((p) => lotId === undefined || p.lotId === lotId),
    async sendCommand(lotId: string, input: CommandInput) {
      const record: CommandRecord = {
        commandId: `cmd${sent.length + 1}`,
        lotId,
        body: { ...input } as CommandRecord['body'],
        sentAt: new Date().toISOString(),
        createdBy: input.by,
        ackedAt: null,
        ok: null,
        detail: null,
      };
      sent.push(record);
      return record;
    },
    commands: async (lotId) => sent.filter((c) => c.lotId === lotId),
  };
}

function presenceOf(lotId: string, state: 'online' | 'offline', lastSeenMs: number): PresenceRecord {
  return {
    lotId,
    state,
    lastSeen: iso(lastSeenMs),
    edgeClock: iso(lastSeenMs),
    skewMs: 12,
    skewAlarm: false,
    edgeVersion: '0.1.0',
    protocolVersion: null,
    protocolSupported: true,
    lastAppliedSeq: 1,
    lastEventId: 1,
    outboxDepth: 3,
    configVersion: 1,
    occupancy: null,
    lanes: [{ id: 'entry-1', state: 'idle', devices: { barrier: 'ok' } }],
  };
}

t.test('operator console in Chromium', { skip: chromiumSkip() }, async (t) => {
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  const fleet = fakeFleet([
    presenceOf('central', 'online', now - 5_000),
    presenceOf('harbour', 'offline', now - 10 * 60_000),
  ]);
  const cloud = await buildTestCloud({ clock: new TestClock(now), fleet: () => fleet });
  const data = await mkdtemp(join(tmpdir(), 'parkedge-console-'));
  let context: BrowserContext | null = null;
  t.teardown(async () => {
    await context?.close().catch(() => {});
    await cloud.close();
    await rm(data, { recursive: true, force: true });
  });

  const admin = await cloud.userWithToken('admin');
  const lot = lotBody(
    {
      id: 'central',
      name: 'Central Garage',
      timeZone: 'UTC',
      policy: { ...lotBody().policy, refund: 'none' },
    },
    3,
  );
  lot.spots.push({ id: 'd1', label: 'D-1', level: '0', type: 'car', pool: 'driveup' });
  t.equal((await cloud.call('POST', '/v1/lots', { token: admin.token, body: lot })).status, 201);
  t.equal(
    (
      await cloud.call('POST', '/v1/lots', {
        token: admin.token,
        body: lotBody({ id: 'harbour', name: 'Harbour' }),
      })
    ).status,
    201,
  );
  const operator = await cloud.userWithToken('operator', ['central', 'harbour']);
  const dayStart = Math.floor(now / DAY) * DAY;
  const seed = await seedLotHistory(cloud.db.pooled, {
    lotId: 'central',
    currency: 'EUR',
    bookableSpot: 's1',
    startMs: dayStart - 6 * DAY,
    days: 7,
    sessionsPerDay: 40,
    random: seededRandom(1212),
  });
  t.ok(seed.entries > 0, 'history seeded');

  // A paid booking to refund.
  const driver = await cloud.userWithToken('driver');
  const start = Math.ceil(now / HOUR) * HOUR + DAY;
  const reserve = await cloud.call('POST', '/v1/reservations', {
    token: driver.token,
    body: {
      lotId: 'central',
      vehicleType: 'car',
      plate: 'RF 1212',
      start: iso(start),
      end: iso(start + 2 * HOUR),
    },
  });
  t.equal(reserve.status, 201, 'booked');
  const paymentToken = await payCheckout(cloud, reserve.body.paymentUrl);
  const paid = await cloud.call('POST', `/v1/reservations/${reserve.body.id}/complete`, {
    token: driver.token,
    body: { paymentToken },
  });
  t.equal(paid.body.status, 'CONFIRMED', 'paid');
  const bookingId: string = reserve.body.id;

  const base = await cloud.app.listen({ host: '127.0.0.1', port: 0 });
  context = await chromium.launchPersistentContext(join(data, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1366, height: 1000 },
  });
  const page: Page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));

  await page.goto(`${base}/console/`);
  await page.getByLabel('Email').fill(operator.user.email);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();

  // ---- fleet ---------------------------------------------------------------------------------
  const central = page.locator('#fleet tr[data-lot-id="central"]');
  await central.waitFor();
  // The page's first session probe answers 401 before log-in (by design); anything after is a fault.
  t.match(problems, [/401/], 'only the pre-log-in session probe was refused');
  problems.length = 0;
  t.notOk(await page.locator('#login').isVisible(), 'the log-in form is gone');
  t.equal(await central.getByTestId('health').textContent(), 'online', 'central is online');
  const harbour = page.locator('#fleet tr[data-lot-id="harbour"]');
  t.equal(await harbour.getByTestId('health').textContent(), 'offline', 'harbour is offline');
  t.equal(await harbour.getAttribute('class'), 'stale', 'offline for 10 minutes: it stands out');
  t.equal(await central.getAttribute('class'), '', 'the online lot does not');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'pe_console');
  t.ok(session?.httpOnly, 'the session is an HttpOnly cookie');
  t.equal(session?.sameSite, 'Strict', 'SameSite=Strict');
  t.notOk(await page.evaluate(() => document.cookie.includes('pe_console')), 'scripts cannot read it');

  // ---- dashboard with charts -----------------------------------------------------------------
  await central.getByRole('link', { name: 'Central Garage' }).click();
  await page.locator('#lot-title', { hasText: 'Central Garage' }).waitFor();
  for (const id of ['occ-day', 'occ-week', 'usage', 'revenue']) {
    await page.locator(`#chart-${id} canvas`).waitFor();
    const points = Number(await page.locator(`#chart-${id}`).getAttribute('data-points'));
    t.ok(points > 0, `${id} chart drawn with ${points} points`);
  }
  const revenue = await cloud.call(
    'GET',
    `/v1/lots/central/reports/revenue?from=${iso(now - 30 * DAY)}&to=${iso(now)}&bucket=day`,
    { token: operator.token },
  );
  const net = revenue.body.totals[0].net as number;
  t.ok(net > 0, 'the seeded history earned money');
  t.match(
    await page.getByTestId('net').textContent(),
    `${(net / 100).toFixed(2)} EUR`,
    'net revenue as the report says',
  );
  const reconciliation = page.getByTestId('reconciliation');
  await reconciliation.waitFor();
  const totalRow = reconciliation.locator('tr', { hasText: 'total' });
  const today = new Date().toISOString().slice(0, 10);
  const weekAgo = new Date(Date.now() - 6 * DAY).toISOString().slice(0, 10);
  const rec = await cloud.call('GET', `/v1/lots/central/reconciliation?from=${weekAgo}&to=${today}`, {
    token: operator.token,
  });
  t.match(
    await totalRow.locator('td').nth(2).textContent(),
    `${(rec.body.totals.captured / 100).toFixed(2)} EUR`,
    'the reconciliation card shows what was captured over the week',
  );

  await mkdir(join(ROOT, 'test-output'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'test-output', 'console-dashboard.png'), fullPage: true });

  // ---- a command -----------------------------------------------------------------------------
  await page.locator('#open-lane input[name="reason"]').fill('driver lost ticket');
  await page.getByRole('button', { name: 'Open lane' }).click();
  await page.locator('#commands-list td', { hasText: 'driver lost ticket' }).waitFor();
  t.match(
    fleet.sent[0]?.body,
    { kind: 'open_lane', laneId: 'entry-1', reason: 'driver lost ticket' },
    'sent to the lot',
  );

  // ---- bookings: find by plate, refund -------------------------------------------------------
  await page.getByRole('link', { name: 'Bookings' }).click();
  await page.getByLabel('Plate').fill('rf-12');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator(`#booking-results tr[data-id="${bookingId}"]`);
  await row.waitFor();
  await row.getByRole('button', { name: bookingId }).click();
  await page.locator('#payments tr[data-kind="capture"][data-status="succeeded"]').waitFor();
  await page.getByLabel('Refund reason').fill('gate broken on arrival');
  await page.getByRole('button', { name: 'Refund' }).click();
  await page.locator('#payments tr[data-kind="refund"][data-status="succeeded"]').waitFor();
  t.pass('the payment shows refunded');
  await page.locator('.story li[data-what="refunded"]').waitFor();
  const refunds = await cloud.db.rows<{ amount: string; status: string; detail: string }>(
    `select amount, status, detail from payments where reservation_id = $1 and kind = 'refund'`,
    [bookingId],
  );
  t.equal(Number(refunds[0]?.amount), paid.body.price.amount, 'refunded in full');
  t.match(refunds[0]?.detail, /gate broken on arrival/, 'the reason is recorded');
  // The credit note opens from the payments table, with the operator's session.
  const creditNote = page.locator('#payments tr[data-kind="refund"] a', { hasText: 'credit note' });
  const href = await creditNote.getAttribute('href');
  const opened = await page.evaluate(async (url) => {
    const res = await fetch(String(url));
    return { status: res.status, text: await res.text() };
  }, href);
  t.equal(opened.status, 200, 'the credit note opens');
  t.match(opened.text, /Credit note[\s\S]*-\d+\.\d\d EUR/, 'with negative amounts');

  // ---- debts: an unpaid exit, written off with a reason ----------------------------------------
  await cloud.db.rows(
    `insert into debts (id, plate, lot_id, source, source_key, lane_id, amount, currency, created_at)
     values ('debt-ui-1', 'OWE4242', 'central', 'unpaid_exit', 'sess-ui-1', 'exit-1', 750, 'EUR', $1)`,
    [iso(now)],
  );
  await page.getByRole('link', { name: 'Debts' }).click();
  const debtRow = page.locator('tr[data-id="debt-ui-1"]');
  await debtRow.waitFor();
  t.match(await debtRow.textContent(), /OWE4242.*central.*unpaid exit/, 'the debt with its evidence');
  page.once('dialog', (d) => void d.accept('driver unknown, goodwill'));
  await debtRow.getByRole('button', { name: 'Write off' }).click();
  await page.locator('#debts-total').filter({ hasText: /^$/ }).waitFor({ state: 'attached' });
  await page.getByRole('button', { name: 'Search' }).click();
  const settled = await cloud.db.rows<{ status: string; settled_reason: string; settled_by: string }>(
    `select status, settled_reason, settled_by from debts where id = 'debt-ui-1'`,
  );
  t.match(
    settled[0],
    { status: 'written_off', settled_reason: 'driver unknown, goodwill' },
    'written off, audited',
  );

  // ---- log out -------------------------------------------------------------------------------
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('Email').waitFor();
  t.notOk(
    (await context.cookies()).some((c) => c.name === 'pe_console' && c.value),
    'cookie cleared',
  );
  t.notOk(
    requested.some((u) => /token|pe_console/i.test(new URL(u).search)),
    'no token in any URL',
  );
  t.ok(
    requested.every((u) => u.startsWith(base) || u.startsWith('data:')),
    'nothing fetched from elsewhere',
  );
  t.same(problems, [], 'no page errors');
});
