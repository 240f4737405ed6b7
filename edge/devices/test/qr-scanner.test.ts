import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import sinon from 'sinon';
import t, { type Test } from 'tap';
import { SimQrScanner } from '../../../hardware-sim/qr.js';
import { encodeTextAsHidReports } from '../../../protocol/devices.js';
import { silentLogger } from '../../../protocol/logger.js';
import { HidQrScanner } from '../qr-scanner.js';
import type { HidDeviceLike } from '../types.js';
import { systemTimers } from '../../../protocol/timers.js';
import type { DeviceHealth } from '../types.js';

const logger = silentLogger();
const TO_FAKE = [
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  'setImmediate',
  'clearImmediate',
  'Date',
] as const;

function setup(t: Test, options: { interKeyTimeoutMs?: number } = {}) {
  const fake = sinon.useFakeTimers({ toFake: [...TO_FAKE] });
  t.teardown(() => fake.restore());
  const scanner = new SimQrScanner({ clock: { now: () => Date.now(), ...systemTimers() } });
  const driver = new HidQrScanner({
    open: scanner.open,
    timers: systemTimers(),
    logger,
    backoff: { initialMs: 500, factor: 2, maxMs: 8000 },
    ...options,
  });
  t.teardown(() => driver.close());
  const codes: string[] = [];
  const health: Array<[DeviceHealth, string]> = [];
  driver.onCode((c) => codes.push(c));
  driver.onHealth((h, d) => health.push([h, d]));
  return { fake, scanner, driver, codes, health };
}

t.test('decodes a presented code from real HID reports', async (t) => {
  const { fake, scanner, driver, codes } = setup(t);
  await driver.start();
  t.equal(driver.health(), 'ok');
  const done = scanner.present('PKE1.eyJyIjoiUjEifQ.sig_-~');
  await fake.tickAsync(200);
  t.equal(await done, true);
  t.same(codes, ['PKE1.eyJyIjoiUjEifQ.sig_-~']);
});

t.test('fuzz: random 8-byte and odd-size reports never break the driver', async (t) => {
  const { fake, scanner, driver, codes } = setup(t);
  await driver.start();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ maxLength: 33 })), {
        maxLength: 60,
      }),
      fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/),
      async (junk, text) => {
        for (const r of junk) scanner.report(Buffer.from(r));
        // keys up + an Enter flush whatever the junk left half-typed
        scanner.report(Buffer.alloc(8));
        scanner.report(encodeTextAsHidReports('')[0]!);
        scanner.report(Buffer.alloc(8));
        const done = scanner.present(text);
        await fake.tickAsync(2 * text.length + 10);
        await done;
        return driver.health() === 'ok' && codes.at(-1) === text;
      },
    ),
    { numRuns: 100 },
  );
  t.ok(driver.stats().rejected >= 0);
});

t.test('a fragment followed by silence is dropped, not glued to the next scan', async (t) => {
  const { fake, scanner, driver, codes } = setup(t, { interKeyTimeoutMs: 300 });
  await driver.start();
  for (const r of encodeTextAsHidReports('GARBLED').slice(0, 6)) scanner.report(r);
  await fake.tickAsync(300);
  const done = scanner.present('GOOD');
  await fake.tickAsync(50);
  await done;
  t.same(codes, ['GOOD']);
});

t.test('device loss: reported, retried with backoff, recovered', async (t) => {
  const { fake, scanner, driver, codes, health } = setup(t);
  await driver.start();
  scanner.unplug();
  t.equal(driver.health(), 'lost');
  t.match(health.at(-1)?.[1], /could not read from HID device.*retry in 500 ms/);
  await fake.tickAsync(500);
  t.same(
    health.slice(-2).map((h) => h[0]),
    ['retrying', 'lost'],
  );
  t.match(health.at(-1)?.[1], /open failed.*retry in 1000 ms/);
  await fake.tickAsync(1000);
  t.match(health.at(-1)?.[1], /retry in 2000 ms/);
  scanner.plug();
  await fake.tickAsync(2000);
  t.equal(driver.health(), 'ok');
  const done = scanner.present('AFTER');
  await fake.tickAsync(50);
  await done;
  t.same(codes, ['AFTER']);
  scanner.unplug();
  t.match(health.at(-1)?.[1], /retry in 500 ms/, 'backoff reset after success');
});

t.test('a missing scanner at start degrades; close() stops retries', async (t) => {
  const { fake, scanner, driver } = setup(t);
  scanner.unplug();
  await driver.start();
  t.equal(driver.health(), 'lost');
  await driver.close();
  scanner.plug();
  await fake.tickAsync(60_000);
  t.equal(driver.health(), 'absent');
  t.equal(scanner.connected(), false);
});

t.test('works with an HID object shaped like node-hid (EventEmitter, async close)', async (t) => {
  const device = new EventEmitter() as EventEmitter & HidDeviceLike;
  let closed = 0;
  device.close = async () => {
    closed++;
  };
  const driver = new HidQrScanner({ open: async () => device, timers: systemTimers(), logger });
  const codes: string[] = [];
  driver.onCode((c) => codes.push(c));
  await driver.start();
  for (const r of encodeTextAsHidReports('X1')) device.emit('data', r);
  t.same(codes, ['X1']);
  await driver.close();
  t.equal(closed, 1);
  t.doesNotThrow(() => device.emit('error', new Error('late error after close')));
});
