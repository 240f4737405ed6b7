import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import t from 'tap';
import { CloudApi } from '../../demo/cloud-api.js';
import { DEMO_CLOUD_ACCOUNTS, DEMO_LOTS } from '../../demo/lots.js';
import { type DemoSystem, startSystem } from '../../demo/system.js';

/**
 * The attendant UI in headless Chromium (Debian's chromium + playwright-core; never a downloaded
 * browser), against a real system in this process: cloud (PGlite), embedded broker, one lot with
 * simulated lanes, all on free ports. Log in with the keyboard, watch a car arrive live (server push),
 * open a lane with a reason and find it in the audit, cut the lot's link and see the offline banner;
 * then the other attendant actions: look-ups, cash payment, passback reset, alarm acknowledgement and
 * the unable-to-collect report with its CSV. Also what the console looks like at 1366 × 1062 (the
 * attendant's screen): lanes named Entry/Exit, quiet open buttons, short booking codes in the feed,
 * staff log-ins kept out of it, no empty column, and the session token in no URL the page requests
 * (it is an HttpOnly cookie). Waits are on conditions in the page, each bounded.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCREENSHOT = join(ROOT, 'test-output', 'attendant.png');
/** The attendant's screen (the size the console is designed for). */
const VIEWPORT = { width: 1366, height: 1062 };
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// What the machine notes prescribe: no background traffic to the closed network, no first-run UI.
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
const UI_TIMEOUT_MS = 15_000;

function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  const why = `Chromium not found at ${CHROMIUM} (install Debian's chromium or set CHROMIUM_PATH)`;
  if (process.env.CI) throw new Error(`CI needs a browser for the attendant UI test: ${why}`);
  return `skipping the browser test: ${why}`;
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | null | undefined | false,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('attendant UI in Chromium', { skip: chromiumSkip() }, async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'parkedge-ui-'));
  const lotDef = DEMO_LOTS[0]!;
  let system: DemoSystem | null = null;
  let context: BrowserContext | null = null;
  t.teardown(async () => {
    await context?.close().catch(() => {});
    await system?.stop().catch(() => {});
    await rm(data, { recursive: true, force: true });
  });

  system = await startSystem({
    dataDir: data,
    portBase: 0,
    lots: [lotDef],
    traffic: false,
    // The embedded database and broker even where DATABASE_URL / MQTT_URL are set (CI): this test
    // is about the page, and a private broker is what lets it cut exactly this lot's link.
    env: {},
    logLevel: process.env.PARKEDGE_TEST_LOG ?? 'silent',
  });
  const lot = system.lots.get(lotDef.id)!;
  const { entry, exit } = lot;
  const entryLaneId = lotDef.lanes.find((l) => l.direction === 'entry')!.id;

  context = await chromium.launchPersistentContext(join(data, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: VIEWPORT,
    deviceScaleFactor: 1,
    acceptDownloads: true,
  });
  const page: Page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  const offsite: string[] = [];
  const requested: string[] = [];
  page.on('request', (r) => {
    requested.push(r.url());
    const u = new URL(r.url());
    if (!['127.0.0.1', 'localhost'].includes(u.hostname) && u.protocol !== 'data:') offsite.push(r.url());
  });
  const laneCard = page.locator(`article[data-lane-id="${entryLaneId}"]`);
  const exitLaneId = lotDef.lanes.find((l) => l.direction === 'exit')!.id;
  const exitCard = page.locator(`article[data-lane-id="${exitLaneId}"]`);
  const driveUpPlate = 'KX482TB';

  await t.test('log in, live arrival, manual open with audit, offline banner', async (t) => {
    // ---- log in with the keyboard ------------------------------------------------------------
    await page.goto(lot.uiUrl);
    const user = page.getByLabel('User name');
    await user.waitFor();
    t.ok(await user.evaluate((el) => el === document.activeElement), 'the user name field has focus');
    await page.keyboard.type(lotDef.attendant.username);
    await page.keyboard.press('Tab');
    t.ok(
      await page.getByLabel('Password').evaluate((el) => el === document.activeElement),
      'Tab moves to the password',
    );
    await page.keyboard.type(lotDef.attendant.password);
    await page.keyboard.press('Enter');
    await laneCard.waitFor();
    t.pass('logged in; the lanes are shown');
    await page.locator('#lot-name', { hasText: lot.edge.store.mirror.config().lot.name }).waitFor();
    t.pass('the header names the lot (lotName)');
    await page.locator('#link-banner[data-state="online"]').waitFor();
    t.match(
      await page.locator('#link-text').textContent(),
      /Online since \d{2}:\d{2}:\d{2}/,
      'banner: online, with the time',
    );

    // ---- lanes say what they are; opening one by hand is not the loudest thing on screen --------
    t.equal(await laneCard.getByTestId('lane-direction').textContent(), 'Entry', 'entry lane says Entry');
    t.equal(
      await laneCard.getByTestId('lane-name').textContent(),
      lotDef.lanes.find((l) => l.id === entryLaneId)!.name,
      'and its name from the config (not its id)',
    );
    t.equal(await exitCard.getByTestId('lane-direction').textContent(), 'Exit', 'exit lane says Exit');
    t.equal(
      await exitCard.getByTestId('lane-name').textContent(),
      lotDef.lanes.find((l) => l.id === exitLaneId)!.name,
      'and its name',
    );
    for (const card of [laneCard, exitCard]) {
      const open = card.getByRole('button', { name: /^Open / });
      const look = await open.evaluate((el) => {
        const css = getComputedStyle(el);
        return { cls: el.className, bg: css.backgroundColor, height: el.getBoundingClientRect().height };
      });
      t.notMatch(look.cls, /btn-(primary|danger)/, 'the open button is not styled primary/danger');
      t.match(look.bg, /^rgba\(0, 0, 0, 0\)$|^transparent$/, 'it is outlined (no fill)');
      const login = page.getByRole('button', { name: 'Log out' });
      t.ok(look.height <= (await login.evaluate((el) => el.getBoundingClientRect().height)), 'and small');
    }
    t.equal(
      await page.locator('#feed li[data-kind="audit"]').count(),
      0,
      'our own log-in is not in the traffic feed',
    );

    // ---- a car arrives: the plate shows up live ------------------------------------------------
    await entry.vehicleArrives(driveUpPlate, { misread: false });
    await page.locator('#feed li', { hasText: driveUpPlate }).first().waitFor();
    await laneCard.locator('[data-testid="lane-last-read"]', { hasText: driveUpPlate }).waitFor();
    t.pass('the plate read reached the feed and the lane card by server push');
    // A drive-up: the lane admits it after its wait for a QR; the arm goes up and the car drives in.
    t.ok(await entry.waitForArm('up', 15_000), 'the barrier opened for the drive-up');
    await laneCard.locator('[data-testid="lane-arm"]', { hasText: /up|raising/ }).waitFor();
    await entry.driveThrough();
    await page.locator('#feed li[data-kind="passage"]', { hasText: driveUpPlate }).waitFor();
    t.pass('the entry is in the live feed');
    t.ok(await entry.waitForArm('down', 15_000), 'the barrier closed behind it');

    // ---- manual open with a reason -------------------------------------------------------------
    await laneCard.getByRole('button', { name: /^Open / }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Open barrier' }).click();
    await dialog.getByText('A reason is required').waitFor();
    t.pass('no reason, no opening');
    const reason = 'Ambulance on call';
    await dialog.getByLabel('Reason for opening (required)').fill(reason);
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'hidden' });
    t.ok(await entry.waitForArm('up', 15_000), 'the barrier opened');
    await page.getByRole('tab', { name: 'Audit' }).click();
    const auditRow = page.locator('#audit tr[data-action="manual_open"]', { hasText: reason });
    await auditRow.waitFor();
    t.match(
      await auditRow.textContent(),
      new RegExp(lotDef.attendant.username),
      'audit: who opened it and why',
    );
    await page.getByRole('tab', { name: 'Live' }).click();
    // Nobody drives through: the lane closes again by itself.
    t.ok(await entry.waitForArm('down', 20_000), 'the unused opening closes again');

    // ---- pushed device health and audit entries -------------------------------------------------
    await entry.disconnectCamera();
    await laneCard.locator('.device[data-health="lost"]', { hasText: 'camera' }).waitFor();
    t.pass('a lost camera shows on the lane card by server push');
    entry.reconnectCamera();
    await laneCard.locator('.device[data-health="ok"]', { hasText: 'camera' }).waitFor();
    t.pass('and its return');
    // Acknowledged elsewhere (another console): this page's alarm badge follows by server push.
    await page.locator('#alarm-count', { hasText: '1' }).waitFor();
    for (const a of lot.edge.store.attendants.alarms({ openOnly: true, limit: 10 }))
      lot.edge.store.ledger.acknowledgeAlarm({
        atMs: Date.now(),
        alarmId: a.id,
        attendant: 'other',
        note: null,
      });
    await page.locator('#alarm-count').waitFor({ state: 'hidden' });
    t.pass('an acknowledgement from another console clears the badge');
    // Staff log-ins are audit, not traffic: another console's failed log-in shows in the audit view
    // (by server push), and the feed stays about vehicles.
    await page.getByRole('tab', { name: 'Audit' }).click();
    const failed = await fetch(`${lot.uiUrl.replace(/\/$/, '')}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'intruder', password: 'guessing-1' }),
    });
    t.equal(failed.status, 401);
    await page.locator('#audit tr[data-action="login_failed"]', { hasText: 'intruder' }).waitFor();
    t.pass("another console's failed login reaches the audit view by server push");
    t.equal(
      await page.locator('#feed li', { hasText: /intruder|login/ }).count(),
      0,
      'staff log-ins are not in the traffic feed',
    );
    await page.getByRole('tab', { name: 'Live' }).click();

    // ---- cut the link: offline banner ----------------------------------------------------------
    lot.link.set(false);
    await page.locator('#link-banner[data-state="offline"]').waitFor();
    t.match(
      await page.locator('#link-text').textContent(),
      /Offline since \d{2}:\d{2}:\d{2}/,
      'banner: offline, with the time',
    );

    // The "barrier opened" toast fades after a few seconds; let it, so the picture shows the page.
    await page.locator('#toast').waitFor({ state: 'hidden' });
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.pass(`screenshot saved to ${SCREENSHOT}`);
  });

  await t.test('layout at 1366 × 1062: the grids fill the width, no empty column', async (t) => {
    t.same(page.viewportSize(), VIEWPORT);
    const boxes = await page.evaluate(() => {
      const box = (el: Element) => {
        const r = el.getBoundingClientRect();
        return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width };
      };
      const all = (sel: string) => [...document.querySelectorAll(sel)].map(box);
      return {
        main: box(document.querySelector('.live-grid')!),
        lanes: box(document.getElementById('lanes')!),
        laneCards: all('#lanes > .lane'),
        summary: box(document.querySelector('.occ-summary')!),
        summaryCards: all('.occ-summary > .card'),
        tables: box(document.querySelector('.occ-tables')!),
        tableCards: all('.occ-tables > .card'),
        feed: box(document.getElementById('feed')!),
        feedColumn: box(document.querySelector('.live-feed')!),
      };
    });
    // Every row of cards reaches the right edge of its container: no empty track at the end.
    const rowFills = (container: { right: number }, cards: Array<{ right: number }>, what: string) => {
      t.ok(cards.length > 0, `${what}: shown`);
      const right = Math.max(...cards.map((c) => c.right));
      t.ok(
        Math.abs(container.right - right) <= 2,
        `${what}: fills the width (${right} of ${container.right})`,
      );
    };
    rowFills(boxes.lanes, boxes.laneCards, 'lane cards');
    rowFills(boxes.summary, boxes.summaryCards, 'occupancy summary');
    rowFills(boxes.tables, boxes.tableCards, 'occupancy tables');
    t.ok(
      boxes.laneCards.length === 2 && boxes.laneCards[0]!.top === boxes.laneCards[1]!.top,
      'both lanes on one row',
    );
    t.ok(Math.abs(boxes.feedColumn.right - boxes.main.right) <= 2, 'the feed is the right-hand column');
    t.ok(
      boxes.feed.bottom >= Math.min(VIEWPORT.height, boxes.tables.bottom) - 140,
      'the feed runs down its column (no blank column under it)',
    );
    t.equal(
      await page.locator('[data-testid="occ-by-level"]').count(),
      0,
      'a one-level lot has no level table',
    );
    await page.screenshot({ path: join(dirname(SCREENSHOT), 'attendant-1366.png') });
  });

  await t.test('look-ups, cash, passback reset, alarm acknowledgement, unable-to-collect CSV', async (t) => {
    // ---- back online; a booking made through the cloud reaches the lot -------------------------
    lot.link.set(true);
    await page.locator('#link-banner[data-state="online"]').waitFor();
    const driver = new CloudApi(system!.cloudUrl);
    await driver.login(DEMO_CLOUD_ACCOUNTS.driver.email, DEMO_CLOUD_ACCOUNTS.driver.password);
    const slot = 15 * 60_000;
    const start = Math.floor(Date.now() / slot) * slot;
    const bookedPlate = 'BK771UI';
    const booking = await driver.book({
      lotId: lotDef.id,
      vehicleType: 'car',
      plate: bookedPlate,
      start: new Date(start).toISOString(),
      end: new Date(start + 4 * slot).toISOString(),
    });
    await until('the booking to reach the lot', 15_000, () =>
      lot.edge.store.mirror.reservationById(booking.id),
    );
    await entry.vehicleArrives(bookedPlate, { misread: false });
    t.ok(await entry.waitForArm('up', 15_000), 'the booked car is let in by its plate');
    await entry.driveThrough();
    t.ok(await entry.waitForArm('down', 15_000), 'barrier down');

    // ---- the feed names the booking by a short code, the full id in its tooltip ----------------
    const entered = page.locator('#feed li[data-kind="passage"]', { hasText: bookedPlate });
    await entered.waitFor();
    const code = entered.locator(`code[title="${booking.id}"]`);
    t.equal(await code.textContent(), `${booking.id.slice(0, 8)}…`, 'a short code, not the full id');
    t.notMatch(await entered.textContent(), new RegExp(booking.id), 'the full id is not in the text');
    const lines = await entered
      .locator('span')
      .first()
      .evaluate((el) => {
        const lineHeight = Number.parseFloat(getComputedStyle(el).lineHeight) || 24;
        return Math.round(el.getBoundingClientRect().height / lineHeight);
      });
    t.ok(lines <= 2, `the entry fits on at most two lines (${lines})`);

    // ---- look-up by reservation code; reset its passback -----------------------------------------
    await page.getByRole('tab', { name: 'Look-up' }).click();
    await page.getByRole('radio', { name: 'Reservation code' }).check();
    await page.getByLabel('Plate or reservation code').fill(booking.id);
    await page.keyboard.press('Enter');
    const resRow = page.locator('#lookup-result tr', { hasText: booking.id });
    await resRow.waitFor();
    t.match(await resRow.textContent(), /CHECKED_IN|CONFIRMED/, 'the reservation is found by its code');
    t.match(await resRow.locator('td').nth(6).textContent(), /^in$/, 'its passback state is "in"');
    await resRow.getByRole('button', { name: 'Reset passback…' }).click();
    const confirm = page.getByRole('dialog');
    await confirm.getByLabel('Reason (required)').fill('Driver left through the pedestrian gate');
    await page.keyboard.press('Enter');
    await confirm.waitFor({ state: 'hidden' });
    await page.locator('#lookup-result tr', { hasText: booking.id }).filter({ hasText: 'neutral' }).waitFor();
    t.equal(lot.edge.store.ledger.passbackState(booking.id), 'neutral', 'passback reset to neutral');

    // ---- look-up by plate; take the drive-up fee in cash ---------------------------------------
    await page.getByRole('radio', { name: 'Plate', exact: true }).check();
    await page.getByLabel('Plate or reservation code').fill(driveUpPlate);
    await page.keyboard.press('Enter');
    const visitRow = page
      .locator('#lookup-result tr', { hasText: driveUpPlate })
      .filter({ hasText: 'inside' });
    await visitRow.waitFor();
    await visitRow.getByRole('button', { name: 'Cash payment…' }).click();
    const cash = page.getByRole('dialog');
    await cash.getByLabel('Amount received').waitFor();
    const amount = await cash.getByLabel('Amount received').inputValue();
    t.match(amount, /^\d+\.\d{2}$/, `the amount due is filled in (${amount})`);
    await page.keyboard.press('Enter');
    await cash.waitFor({ state: 'hidden' });
    const paidRow = page
      .locator('#lookup-result tr', { hasText: driveUpPlate })
      .filter({ hasText: 'inside' });
    await paidRow.filter({ hasNotText: 'Cash payment…' }).waitFor();
    const session = lot.edge.store.attendants
      .lookupPlate(driveUpPlate)
      .sessions.find((s) => s.exitedAt === null);
    t.equal(session?.cashPaid, Math.round(Number(amount) * 100), 'the cash payment is recorded on the visit');

    // ---- a tailgate raises an alarm; acknowledge it --------------------------------------------
    const leader = 'TG100AA';
    await entry.vehicleArrives(leader, { misread: false });
    t.ok(await entry.waitForArm('up', 15_000), 'a drive-up is let in');
    await entry.tailgate();
    await page.locator('#alarm-count', { hasText: '1' }).waitFor();
    t.pass('the alarm count shows on the Alarms tab');
    await page.getByRole('tab', { name: /Alarms/ }).click();
    const alarm = page.locator('#alarms .alarm', { hasText: 'Tailgate' });
    await alarm.waitFor();
    await alarm.getByRole('button', { name: 'Acknowledge…' }).click();
    const ack = page.getByRole('dialog');
    await ack.getByLabel('Note (optional)').fill('Spoke to the second driver');
    await page.keyboard.press('Enter');
    await ack.waitFor({ state: 'hidden' });
    await page.locator('#alarm-count').waitFor({ state: 'hidden' });
    t.equal(lot.edge.store.attendants.openAlarmCount(), 0, 'the alarm is acknowledged');
    t.ok(await entry.waitForArm('down', 15_000), 'barrier down');

    // ---- offline exit of a drive-up: unable to collect; the report and its CSV -----------------
    lot.link.set(false);
    await page.locator('#link-banner[data-state="offline"]').waitFor();
    await exit.vehicleArrives(leader, { misread: false });
    t.ok(await exit.waitForArm('up', 15_000), 'offline, the drive-up is let out (nobody is trapped)');
    await exit.driveThrough();
    await page.getByRole('tab', { name: 'Unable to collect' }).click();
    await page.getByRole('button', { name: 'Show' }).click();
    const owed = page.locator('#report tr', { hasText: leader });
    await owed.waitFor();
    t.match(await owed.textContent(), /€|EUR/, 'the owed fee is in the report');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download CSV' }).click(),
    ]);
    const csvPath = join(data, 'report.csv');
    await download.saveAs(csvPath);
    const csv = await readFile(csvPath, 'utf8');
    t.match(csv.split(/\r?\n/)[0], /plate/, 'the CSV has a header row');
    t.match(csv, new RegExp(leader), 'the CSV lists the owed exit');
  });

  t.same(offsite, [], 'nothing loaded from outside the lot controller');
  t.same(
    requested.filter((u) => /token/i.test(u)),
    [],
    'the session token is in no URL the page requested (the CSV download and the stream included)',
  );
  t.ok(
    requested.some((u) => new URL(u).pathname === '/api/events' && new URL(u).search === ''),
    'the event stream was opened as /api/events, with no query',
  );
  t.same(problems, [], 'no errors in the page');
});
