import fc from 'fast-check';
import t from 'tap';
import {
  crc16ccitt,
  encodePlateFrame,
  ETX,
  MAX_PLATE_FRAME_BYTES,
  PlateFrameParser,
  type PlateFrameRecord,
  STX,
} from '../../../protocol/devices.js';

const READ: PlateFrameRecord = {
  laneId: 'lane-1',
  plate: 'AB123CD',
  confidence: 0.93,
  capturedAt: 1_767_225_600_000,
};

const recordArb = fc.record({
  laneId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  plate: fc.stringMatching(/^[A-Z0-9-]{1,16}$/),
  confidence: fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
  capturedAt: fc.integer({ min: 0, max: 999_999_999_999_999 }),
});

t.test('CRC-16/CCITT-FALSE check value', async (t) => {
  t.equal(crc16ccitt(Buffer.from('123456789', 'ascii')), 0x29b1);
});

t.test('frame layout and round trip', async (t) => {
  const frame = encodePlateFrame(READ);
  t.equal(frame[0], STX);
  t.equal(frame[frame.length - 1], ETX);
  t.equal(frame.subarray(1, -1).toString('ascii'), 'PLT|lane-1|AB123CD|93|1767225600000|78A4');
  const parser = new PlateFrameParser();
  t.same(parser.push(frame), { reads: [READ], rejected: [] });
  t.same(parser.stats(), { frames: 1, rejected: 0, noiseBytes: 0 });
});

t.test('any encodable record survives the round trip', async () => {
  fc.assert(
    fc.property(recordArb, (rec) => {
      const { reads, rejected } = new PlateFrameParser().push(encodePlateFrame(rec));
      return rejected.length === 0 && reads.length === 1 && JSON.stringify(reads[0]) === JSON.stringify(rec);
    }),
  );
});

t.test('encode refuses what the protocol cannot carry', async (t) => {
  t.throws(() => encodePlateFrame({ ...READ, plate: 'ab 12' }), RangeError);
  t.throws(() => encodePlateFrame({ ...READ, laneId: 'lane|1' }), RangeError);
  t.throws(() => encodePlateFrame({ ...READ, confidence: 1.5 }), RangeError);
  t.throws(() => encodePlateFrame({ ...READ, capturedAt: -1 }), RangeError);
});

t.test('bad checksum is rejected and counted; the next frame still reads', async (t) => {
  const bad = Buffer.from(encodePlateFrame(READ));
  bad[10] = bad[10] === 0x31 ? 0x32 : 0x31; // flip a plate character, keep the old crc
  const parser = new PlateFrameParser();
  const r1 = parser.push(bad);
  t.equal(r1.reads.length, 0);
  t.same(
    r1.rejected.map((r) => r.reason),
    ['checksum'],
  );
  const r2 = parser.push(encodePlateFrame(READ));
  t.same(r2.reads, [READ]);
  t.same(parser.stats(), { frames: 1, rejected: 1, noiseBytes: 0 });
});

t.test('malformed frames with a valid crc are rejected', async (t) => {
  const withCrc = (payload: string) => {
    const body = Buffer.from(payload, 'ascii');
    const crc = crc16ccitt(body).toString(16).toUpperCase().padStart(4, '0');
    return Buffer.concat([Buffer.of(STX), body, Buffer.from(`|${crc}`), Buffer.of(ETX)]);
  };
  const parser = new PlateFrameParser();
  for (const payload of [
    'XYZ|lane-1|AB123CD|93|1767225600000',
    'PLT|lane-1|ab123cd|93|1767225600000',
    'PLT|lane-1|AB123CD|101|1767225600000',
    'PLT|lane-1|AB123CD|93',
    'PLT|lane-1|AB123CD|93|17672256000001234',
    'PLT|lane 1|AB123CD|93|1767225600000',
  ]) {
    const { reads, rejected } = parser.push(withCrc(payload));
    t.equal(reads.length, 0, payload);
    t.equal(rejected[0]?.reason, 'malformed', payload);
  }
});

t.test('a frame split at every byte boundary reads once', async (t) => {
  const frame = encodePlateFrame(READ);
  for (let cut = 1; cut < frame.length; cut++) {
    const parser = new PlateFrameParser();
    const a = parser.push(frame.subarray(0, cut));
    const b = parser.push(frame.subarray(cut));
    t.same([...a.reads, ...b.reads], [READ], `cut at ${cut}`);
  }
  // and one byte at a time
  const parser = new PlateFrameParser();
  const reads = [...frame].flatMap((byte) => parser.push(Buffer.of(byte)).reads);
  t.same(reads, [READ]);
});

t.test('several frames in arbitrary chunks read in order', async () => {
  fc.assert(
    fc.property(
      fc.array(recordArb, { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (recs, cuts) => {
        const stream = Buffer.concat(recs.map(encodePlateFrame));
        const points = [...new Set(cuts.map((c) => c % stream.length))].sort((x, y) => x - y);
        const parser = new PlateFrameParser();
        const reads: PlateFrameRecord[] = [];
        let last = 0;
        for (const p of [...points, stream.length]) {
          reads.push(...parser.push(stream.subarray(last, p)).reads);
          last = p;
        }
        return JSON.stringify(reads) === JSON.stringify(recs);
      },
    ),
  );
});

t.test('random bytes never throw, and the next good frame after garbage is read', async () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), recordArb, (garbage, rec) => {
      const parser = new PlateFrameParser();
      parser.push(garbage);
      const { reads } = parser.push(encodePlateFrame(rec));
      return reads.length === 1 && JSON.stringify(reads[0]) === JSON.stringify(rec);
    }),
    { numRuns: 500 },
  );
});

t.test('garbage biased towards frame bytes never throws', async () => {
  const byte = fc.oneof(
    fc.constantFrom(STX, ETX, 0x7c, 0x50, 0x4c, 0x54),
    fc.integer({ min: 0x20, max: 0x7e }),
    fc.integer({ min: 0, max: 255 }),
  );
  fc.assert(
    fc.property(fc.array(fc.array(byte, { maxLength: 200 }), { maxLength: 10 }), (chunks) => {
      const parser = new PlateFrameParser();
      for (const chunk of chunks) parser.push(Uint8Array.from(chunk));
      return parser.push(encodePlateFrame(READ)).reads.length === 1;
    }),
    { numRuns: 500 },
  );
});

t.test('oversize garbage is dropped with a bounded buffer', async (t) => {
  const parser = new PlateFrameParser();
  const huge = Buffer.concat([Buffer.of(STX), Buffer.alloc(100_000, 0x41), Buffer.of(ETX)]);
  const r = parser.push(huge);
  t.same(
    r.rejected.map((x) => x.reason),
    ['oversize'],
  );
  t.same(parser.push(encodePlateFrame(READ)).reads, [READ]);
  // an unterminated frame is reported when the next STX arrives
  const r2 = parser.push(Buffer.concat([Buffer.from('\x02PLT|lane-1|AB'), encodePlateFrame(READ)]));
  t.same(
    r2.rejected.map((x) => x.reason),
    ['truncated'],
  );
  t.same(r2.reads, [READ]);
  t.ok(
    MAX_PLATE_FRAME_BYTES >=
      encodePlateFrame({ ...READ, laneId: 'L'.repeat(64), plate: 'P'.repeat(16) }).length - 2,
  );
});

t.test('noise between frames is counted, not fatal', async (t) => {
  const parser = new PlateFrameParser();
  const r = parser.push(
    Buffer.concat([Buffer.from('hello\r\n'), encodePlateFrame(READ), Buffer.from([0xff, 0x03])]),
  );
  t.same(r.reads, [READ]);
  t.equal(r.rejected.length, 0);
  t.equal(parser.stats().noiseBytes, 9);
});

t.test('non-buffer input is ignored', async (t) => {
  const parser = new PlateFrameParser();
  t.same(parser.push(null as unknown as Buffer), { reads: [], rejected: [] });
  t.same(parser.push('text' as unknown as Buffer), { reads: [], rejected: [] });
});
