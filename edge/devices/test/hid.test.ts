import fc from 'fast-check';
import t from 'tap';
import {
  encodeTextAsHidReports,
  HID_KEY_ENTER,
  HID_MOD_LEFT_SHIFT,
  HID_MOD_RIGHT_SHIFT,
  HidKeyboardDecoder,
  MAX_HID_CODE_CHARS,
} from '../../../protocol/devices.js';

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
const textArb = fc.string({ unit: fc.constantFrom(...PRINTABLE), minLength: 1, maxLength: 200 });

function decodeAll(decoder: HidKeyboardDecoder, reports: Buffer[]): string[] {
  return reports.flatMap((r) => decoder.push(r));
}

function report(mod: number, ...keys: number[]): Buffer {
  const buf = Buffer.alloc(8);
  buf[0] = mod;
  keys.forEach((k, i) => {
    buf[2 + i] = k;
  });
  return buf;
}

t.test('reports: 8 bytes, key-up after each key, shift for upper case and _, Enter last', async (t) => {
  const reports = encodeTextAsHidReports('aB_1');
  t.equal(reports.length, 10);
  t.ok(reports.every((r) => r.length === 8));
  t.same([...reports[0]!], [0, 0, 0x04, 0, 0, 0, 0, 0]); // a
  t.same([...reports[1]!], [0, 0, 0, 0, 0, 0, 0, 0]); // release
  t.same([...reports[2]!], [HID_MOD_LEFT_SHIFT, 0, 0x05, 0, 0, 0, 0, 0]); // B
  t.same([...reports[4]!], [HID_MOD_LEFT_SHIFT, 0, 0x2d, 0, 0, 0, 0, 0]); // _
  t.same([...reports[6]!], [0, 0, 0x1e, 0, 0, 0, 0, 0]); // 1
  t.same([...reports[8]!], [0, 0, HID_KEY_ENTER, 0, 0, 0, 0, 0]);
  t.throws(() => encodeTextAsHidReports('é'), RangeError);
});

t.test('every printable ASCII string round trips', async () => {
  fc.assert(
    fc.property(textArb, (text) => {
      const codes = decodeAll(new HidKeyboardDecoder(), encodeTextAsHidReports(text));
      return codes.length === 1 && codes[0] === text;
    }),
  );
});

t.test('consecutive scans are separate codes', async (t) => {
  const decoder = new HidKeyboardDecoder();
  const codes = decodeAll(decoder, [...encodeTextAsHidReports('AA11'), ...encodeTextAsHidReports('RES-9')]);
  t.same(codes, ['AA11', 'RES-9']);
  t.same(decoder.stats(), { codes: 2, rejected: 0 });
});

t.test('held keys do not repeat; rollover yields keys in order; right shift counts', async (t) => {
  const decoder = new HidKeyboardDecoder();
  const codes = decodeAll(decoder, [
    report(0, 0x04),
    report(0, 0x04), // still held
    report(0, 0x04, 0x05), // b pressed while a held
    report(HID_MOD_RIGHT_SHIFT, 0x06),
    report(0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01), // error rollover: ignored
    report(0),
    report(0, HID_KEY_ENTER),
    report(0),
  ]);
  t.same(codes, ['abC']);
});

t.test('empty Enter yields nothing', async (t) => {
  const decoder = new HidKeyboardDecoder();
  t.same(decodeAll(decoder, [report(0, HID_KEY_ENTER), report(0)]), []);
});

t.test('odd-sized buffers are rejected and do not disturb a code in progress', async (t) => {
  const decoder = new HidKeyboardDecoder();
  const reports = encodeTextAsHidReports('QR1');
  const mixed = [reports[0]!, Buffer.alloc(3), reports[1]!, Buffer.alloc(9), ...reports.slice(2)];
  t.same(decodeAll(decoder, mixed), ['QR1']);
  t.equal(decoder.stats().rejected, 2);
});

t.test('random reports never throw; the next code after garbage is exact', async () => {
  const garbage = fc.array(
    fc.oneof(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ maxLength: 20 })),
    { maxLength: 100 },
  );
  fc.assert(
    fc.property(garbage, textArb, (junk, text) => {
      const decoder = new HidKeyboardDecoder();
      for (const r of junk) decoder.push(r);
      // what a scanner's first code looks like after line noise: keys released, then the code
      const codes = decodeAll(decoder, [
        report(0),
        report(0, HID_KEY_ENTER),
        report(0),
        ...encodeTextAsHidReports(text),
      ]);
      return codes[codes.length - 1] === text;
    }),
    { numRuns: 500 },
  );
});

t.test('a code longer than the limit is dropped whole; the next one reads', async (t) => {
  const decoder = new HidKeyboardDecoder();
  const long = 'x'.repeat(MAX_HID_CODE_CHARS + 10);
  t.same(decodeAll(decoder, encodeTextAsHidReports(long)), []);
  t.ok(decoder.pending() <= MAX_HID_CODE_CHARS);
  t.equal(decoder.stats().rejected, 1);
  t.same(decodeAll(decoder, encodeTextAsHidReports('ok')), ['ok']);
});

t.test('reset drops a partial code', async (t) => {
  const decoder = new HidKeyboardDecoder();
  const reports = encodeTextAsHidReports('abc');
  decodeAll(decoder, reports.slice(0, 4));
  t.equal(decoder.pending(), 2);
  decoder.reset();
  t.same(decodeAll(decoder, encodeTextAsHidReports('xy')), ['xy']);
});
