import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

/**
 * aedes has no packet size limit: it buffers a whole PUBLISH of any announced length (up to the
 * 256 MB MQTT maximum) before anything can look at it. This guard reads only the MQTT fixed
 * headers as bytes pass by and cuts the connection as soon as a packet announces more than the
 * limit — what Mosquitto's `max_packet_size` does.
 */

/** Incremental scanner of MQTT fixed headers; feed it the inbound byte stream in any chunking. */
export class MqttPacketSizeScanner {
  #state: 'type' | 'length' | 'body' = 'type';
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;

  /** @param maxPacketBytes limit on the whole packet: fixed header + remaining length. */
  constructor(readonly maxPacketBytes: number) {}

  /** Returns false once the stream is over the limit or malformed; the connection must go. */
  push(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'body') {
        const skip = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= skip;
        i += skip;
        if (this.#remaining === 0) this.#state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.#state === 'type') {
        this.#state = 'length';
        this.#length = 0;
        this.#multiplier = 1;
        this.#lengthBytes = 0;
        continue;
      }
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#lengthBytes++;
      if (byte & 0x80) {
        if (this.#lengthBytes >= 4) return false; // a fifth length byte is a protocol violation
        continue;
      }
      if (1 + this.#lengthBytes + this.#length > this.maxPacketBytes) return false;
      this.#remaining = this.#length;
      this.#state = this.#remaining === 0 ? 'type' : 'body';
    }
    return true;
  }
}

/**
 * Wraps a socket for aedes: inbound bytes pass through the scanner, outbound bytes go straight
 * to the socket. When a packet is too large, `onOversize` runs and the connection is destroyed.
 */
export function guardPacketSize(socket: Socket, maxPacketBytes: number, onOversize: () => void): Duplex {
  const scanner = new MqttPacketSizeScanner(maxPacketBytes);
  const guarded: Duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!scanner.push(chunk)) {
      onOversize();
      socket.destroy();
      guarded.destroy();
      return;
    }
    if (!guarded.push(chunk)) socket.pause();
  });
  socket.on('end', () => guarded.push(null));
  socket.on('error', (error) => guarded.destroy(error));
  socket.on('close', () => guarded.destroy());
  return guarded;
}
