/**
 * Paying at the exit, end to end on the demo system (cloud on PGlite, the embedded broker, two lots
 * on simulated hardware): a drive-up's fee is shown with the pay link at the exit lane; paying it
 * through the public API (the sandbox) reaches the lot over MQTT and the barrier opens; paying the
 * same token again records nothing more. A car that does not pay is let out by the attendant, and its
 * unpaid fee becomes a debt when the exit event reaches the cloud; the debt then reaches the lots.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CloudApi } from '../../demo/cloud-api.js';
import { displayAsksPayment } from '../../demo/pay-exit.js';
import { startSystem } from '../../demo/system.js';
import { silentLogger } from '../../protocol/logger.js';

async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test(
  'a drive-up pays at the exit by the pay link and the barrier opens; unpaid becomes a debt',
  async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parkedge-exitpay-'));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const env = { ...process.env };
    delete env.DATABASE_URL;
    delete env.MQTT_URL;
    const system = await startSystem({ dataDir, portBase: 0, traffic: false, logger: silentLogger(), env });
    t.teardown(() => system.stop());
    await waitFor('every lot online', () =>
      [...system.lots.values()].every((lot) => lot.edge.connectivity.state === 'online'),
    );
    const lot = system.lots.get('lot-riverside')!;
    const api = new CloudApi(system.cloudUrl);
    const db = system.cloud.db;
    const enter = async (plate: string) => {
      await lot.entry.vehicleArrives(plate, { misread: false });
      t.ok(await lot.entry.waitForArm('up', 15_000), `${plate} admitted as a drive-up`);
      await lot.entry.driveThrough();
      await waitFor(`${plate}'s entry in the cloud`, async () => {
        const rows = await db.rows(
          `select 1 from gate_events where lot_id = $1 and kind = 'entry' and body->>'plate' = $2`,
          [lot.def.id, plate],
        );
        return rows.length > 0;
      });
    };

    // ---- paid by the link on the display ----
    await enter('PAYME1');
    await waitFor('the pay page URL at the lot', () => lot.edge.store.money.payUrl() !== null);
    await lot.exit.vehicleArrives('PAYME1', { misread: false });
    await waitFor(
      'the fee and pay link on the exit display',
      () => displayAsksPayment(lot.exit.display.current()),
      10_000,
    );
    const shown = lot.exit.display.current();
    const link = shown.find((l) => l.includes('/pay/'))!;
    t.equal(new URL(link).searchParams.get('plate'), 'PAYME1', 'the link names the plate');
    t.equal(lot.exit.armPosition(), 0, 'the arm waits for the payment');
    const page = await fetch(link);
    t.equal(page.status, 200, 'the pay page opens');

    const quote = await api.request<{ due: { amount: number } }>(
      'GET',
      `/v1/lots/${lot.def.id}/exit-fee?plate=PAYME1`,
    );
    t.ok(quote.due.amount > 0, 'the cloud quotes the fee from the lot’s session data');
    t.ok(shown[0]!.startsWith('€'), 'the display shows the fee');
    const tamper = await fetch(`${system.cloudUrl}/v1/lots/${lot.def.id}/exit-payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ plate: 'PAYME1', amount: { amount: 1, currency: 'EUR' } }),
    });
    t.equal(tamper.status, 400, 'a client amount is refused');
    const checkout = await api.request<{ reference: string; paymentUrl: string; amount: { amount: number } }>(
      'POST',
      `/v1/lots/${lot.def.id}/exit-payments`,
      { plate: 'PAYME1' },
    );
    t.equal(checkout.amount.amount, quote.due.amount);
    const { paymentToken } = await api.sandboxPay(checkout.paymentUrl);
    const done = await api.request<{ outcome: string }>('POST', '/v1/pay/complete', {
      reference: checkout.reference,
      paymentToken,
    });
    t.equal(done.outcome, 'duplicate', 'the provider webhook applied it when it was paid');
    t.ok(await lot.exit.waitForArm('up', 10_000), 'the barrier opens once the payment reaches the lot');
    t.match(lot.exit.display.current()[0], /paid/);
    await lot.exit.driveThrough();
    const again = await api.request<{ outcome: string }>('POST', '/v1/pay/complete', {
      reference: checkout.reference,
      paymentToken,
    });
    t.equal(again.outcome, 'duplicate', 'the same payment applied twice');
    const payments = await db.rows<{ kind: string; lot_id: string; reference: string }>(
      `select kind, lot_id, reference from payments where kind = 'exit'`,
    );
    t.same(
      payments,
      [{ kind: 'exit', lot_id: lot.def.id, reference: checkout.reference }],
      'one payment row',
    );
    await waitFor('the exit in the cloud, settled online', async () => {
      const rows = await db.rows<{ settlement: string }>(
        `select body->>'settlement' as settlement from gate_events where lot_id = $1 and kind = 'exit' and body->>'plate' = 'PAYME1'`,
        [lot.def.id],
      );
      return rows[0]?.settlement === 'cloud';
    });

    // ---- not paid: the attendant lets the car out; the fee becomes a debt ----
    await enter('NOPAY1');
    await lot.exit.vehicleArrives('NOPAY1', { misread: false });
    await waitFor('the fee on the display', () => displayAsksPayment(lot.exit.display.current()), 10_000);
    const lane = lot.edge.lanes.get(lot.exit.laneId)!;
    t.ok(lane.manualOpen({ attendant: 'riverside', reason: 'driver has no card', commandId: null }).ok);
    t.ok(await lot.exit.waitForArm('up', 5_000));
    await lot.exit.driveThrough();
    await waitFor(
      'the debt in the cloud',
      async () => (await db.rows(`select 1 from debts where plate = 'NOPAY1'`)).length === 1,
    );
    const [debt] = await db.rows<{ source: string; lot_id: string; status: string; entered_at: Date | null }>(
      `select source, lot_id, status, entered_at from debts where plate = 'NOPAY1'`,
    );
    t.match(debt, { source: 'unpaid_exit', lot_id: lot.def.id, status: 'open' });
    t.ok(debt!.entered_at, 'with the entry time as evidence');
    const other = system.lots.get('lot-central')!;
    await waitFor(
      'the debt at the other lot',
      () => other.edge.store.money.debtOf('NOPAY1') !== null,
      10_000,
    );
  },
);
