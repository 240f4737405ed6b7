import { MAX_PAYLOAD_BYTES } from '../../protocol/mqtt.js';

/** Room kept for the envelope and the rest of the body around the list. */
const ENVELOPE_ROOM = 2048;

/**
 * Splits a list into chunks of at most `maxCount` items whose JSON stays under the message cap
 * (docs/architecture.md#sync-protocol: large transfers are split into batches). An empty list gives one empty chunk.
 */
export function splitBySize<T>(
  items: readonly T[],
  maxCount: number,
  maxBytes = MAX_PAYLOAD_BYTES - ENVELOPE_ROOM,
): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0 || out.length === 0) out.push(current);
  return out;
}
