import fc from 'fast-check';
import t from 'tap';
import { MqttPacketSizeScanner } from '../packet-size-guard.js';

/** An MQTT packet: fixed header (type byte + variable-length remaining length) and body. */
function frame(typeByte: number, body: Buffer): Buffer {
  const length: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([typeByte, ...length]), body]);
}
const publish = (payloadBytes: number, topic = 'parkedge/v1/lot/A/up/events') => {
  const name = Buffer.from(topic);
  const head = Buffer.alloc(4 + name.length);
  head.writeUInt16BE(name.length, 0);
  name.copy(head, 2);
  head.writeUInt16BE(7, 2 + name.length); // packet id (QoS 1)
  return frame(0x32, Buffer.concat([head, Buffer.alloc(payloadBytes, 1)]));
};
const ping = () => frame(0xc0, Buffer.alloc(0));

t.test('accepts packets up to the limit, in any chunking', async (t) => {
  const stream = Buffer.concat([ping(), publish(1000), ping(), publish(0), publish(200_000), ping()]);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 60 }), (cuts) => {
      const scanner = new MqttPacketSizeScanner(201_000);
      let offset = 0;
      for (const size of [...cuts, stream.length]) {
        if (offset >= stream.length) break;
        if (!scanner.push(stream.subarray(offset, offset + size))) return false;
        offset += size;
      }
      return true;
    }),
    { numRuns: 300, seed: 1 },
  );
  t.pass();
});

t.test('refuses a packet that announces more than the limit, before its body arrives', async (t) => {
  const big = publish(300_000);
  const header = big.subarray(0, 5); // fixed header + start of the variable header
  const scanner = new MqttPacketSizeScanner(266_240);
  t.ok(scanner.push(ping()));
  t.notOk(scanner.push(header), 'refused on the header alone');
});

t.test('the limit counts the whole packet', async (t) => {
  const packet = publish(100);
  t.ok(new MqttPacketSizeScanner(packet.length).push(packet));
  t.notOk(new MqttPacketSizeScanner(packet.length - 1).push(packet));
});

t.test('a remaining length of more than four bytes is malformed', async (t) => {
  t.notOk(
    new MqttPacketSizeScanner(Number.MAX_SAFE_INTEGER).push(
      Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ),
  );
});
