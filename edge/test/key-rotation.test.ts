import t from 'tap';
import type { SimLaneControl } from '../../hardware-sim/index.js';
import { generateSigningKey, signCredential } from '../../protocol/credential.js';
import { HOUR, LOT_ID, type SimEdge, simEdge, T0, testLot } from './support.js';

/**
 * Signing keys with validity windows at the gate, offline (no sync running): a QR signed by the
 * previous key is admitted until that key's notAfter and refused after it; a key the cloud revoked
 * (dropped from the next config) is refused at once. Fake time; nothing sleeps.
 */

const oldKey = generateSigningKey('kold');
const newKey = generateSigningKey('knew');
const iso = (ms: number) => new Date(ms).toISOString();
const ROTATED_AT = T0 - HOUR;
const OLD_UNTIL = T0 + HOUR;

function installKeys(s: SimEdge, version: number, withOld: boolean) {
  s.edge.store.mirror.setConfig({
    version,
    lot: testLot(),
    publicKeys: [
      { ...newKey.publicEntry, notBefore: iso(ROTATED_AT), notAfter: null },
      ...(withOld
        ? [{ ...oldKey.publicEntry, notBefore: iso(T0 - 48 * HOUR), notAfter: iso(OLD_UNTIL) }]
        : []),
    ],
  });
}

function qr(key: typeof oldKey, rid: string): string {
  return signCredential({ rid, lot: LOT_ID, plate: null, start: T0, end: T0 + 6 * HOUR }, key.signing);
}

let lastSign: string[] = [];

/** A car the camera cannot read shows `text`; returns whether the barrier started to open. */
async function scanAtEntry(s: SimEdge, lane: SimLaneControl, text: string): Promise<boolean> {
  void lane.vehicleArrives(null, { unreadable: true });
  await s.run(400);
  void lane.presentQr(text);
  await s.run(2 * text.length + 50);
  const opened = s.edge.lanes.get('in-1')!.state === 'OPENING';
  lastSign = [...lane.display.current()];
  if (opened) {
    await s.run(1200);
    void lane.driveThrough();
    await s.run(2600);
  } else {
    void lane.backOut();
    await s.run(1500);
  }
  return opened;
}

t.test(
  'a QR signed by the previous key is admitted offline until its window ends, then refused',
  async (t) => {
    const s = await simEdge();
    t.teardown(s.close);
    installKeys(s, 1, true);
    t.ok(await scanAtEntry(s, s.entry, qr(oldKey, 'old-1')), 'old key, inside its window: admitted');
    t.ok(await scanAtEntry(s, s.entry, qr(newKey, 'new-1')), 'new key: admitted');
    await s.run(OLD_UNTIL - Date.now());
    t.notOk(await scanAtEntry(s, s.entry, qr(oldKey, 'old-2')), 'old key, window over: refused');
    t.same(lastSign, ['QR code not valid', 'Please see attendant'], 'the driver is sent to the attendant');
    t.ok(await scanAtEntry(s, s.entry, qr(newKey, 'new-2')), 'new key still admitted');
    t.match(
      s.events().map((e) => [e.kind, 'reservationId' in e ? e.reservationId : null]),
      [
        ['entry', 'old-1'],
        ['entry', 'new-1'],
        ['denied', null],
        ['entry', 'new-2'],
      ],
    );
  },
);

t.test('a revoked key (dropped from the config) is refused even inside its window', async (t) => {
  const s = await simEdge();
  t.teardown(s.close);
  installKeys(s, 1, true);
  installKeys(s, 2, false);
  t.notOk(await scanAtEntry(s, s.entry, qr(oldKey, 'old-1')), 'revoked: refused');
  t.ok(await scanAtEntry(s, s.entry, qr(newKey, 'new-1')), 'current key admitted');
});
