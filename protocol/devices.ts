/**
 * Wire formats spoken by the gate devices, shared by the real drivers (edge/devices) and the
 * simulator (hardware-sim), so both sides encode and decode the exact same bytes.
 *
 * ## Plate camera frame (the project's own serial line protocol)
 *
 *     STX "PLT" "|" lane "|" plate "|" confidence "|" epochMs "|" crc ETX
 *
 *   STX = 0x02, ETX = 0x03; everything between them is printable ASCII (0x20..0x7E).
 *   lane        1..64 of [A-Za-z0-9_-]      (the lane id the camera is configured for)
 *   plate       1..16 of [A-Z0-9-]           (normalised upper case, no spaces)
 *   confidence  integer 0..100               (percent; PlateRead carries it as 0..1)
 *   epochMs     integer, 1..15 digits        (capture time by the camera's clock)
 *   crc         4 hex digits, CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over the bytes
 *               after STX up to and excluding the "|" before the crc
 *
 *   Example: "\x02PLT|lane-1|AB123CD|93|1767225600000|78A4\x03".
 *   Bytes outside STX..ETX are line noise and skipped. A frame longer than MAX_PLATE_FRAME_BYTES
 *   is dropped and the parser resynchronises on the next STX, so the buffer stays bounded.
 *
 * ## QR scanner: USB HID keyboard boot-protocol reports
 *
 *   8 bytes: [modifiers, reserved, key1..key6]. Modifiers bit 1 (0x02) = left shift, bit 5 (0x20) =
 *   right shift. A scanner "types" the code: one report per key press, an all-zero report after
 *   each key (release), US layout, Enter (0x28, or keypad Enter 0x58) ends the code.
 */

export const STX = 0x02;
export const ETX = 0x03;
export const PLATE_FRAME_TAG = 'PLT';
/** Bytes between STX and ETX; a real frame is at most ~110. */
export const MAX_PLATE_FRAME_BYTES = 128;

/** One plate read as it travels on the wire; structurally the edge's `PlateRead`. */
export interface PlateFrameRecord {
  laneId: string;
  plate: string;
  /** 0..1; carried on the wire as an integer percent. */
  confidence: number;
  /** Epoch ms as reported by the camera. */
  capturedAt: number;
}

const LANE_RE = /^[A-Za-z0-9_-]{1,64}$/;
const PLATE_RE = /^[A-Z0-9-]{1,16}$/;
const CONFIDENCE_RE = /^\d{1,3}$/;
const EPOCH_RE = /^\d{1,15}$/;
const CRC_RE = /^[0-9A-Fa-f]{4}$/;

/** CRC-16/CCITT-FALSE; check value for "123456789" is 0x29B1. */
export function crc16ccitt(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

/** Encodes one read; throws RangeError on values the protocol cannot carry (a caller bug). */
export function encodePlateFrame(read: PlateFrameRecord): Buffer {
  if (!LANE_RE.test(read.laneId)) throw new RangeError(`lane id not encodable: ${read.laneId}`);
  if (!PLATE_RE.test(read.plate)) throw new RangeError(`plate not encodable: ${read.plate}`);
  if (!(read.confidence >= 0 && read.confidence <= 1)) throw new RangeError('confidence must be 0..1');
  if (
    !Number.isSafeInteger(read.capturedAt) ||
    read.capturedAt < 0 ||
    read.capturedAt > 999_999_999_999_999
  ) {
    throw new RangeError('capturedAt must be a non-negative integer of at most 15 digits');
  }
  const payload = [
    PLATE_FRAME_TAG,
    read.laneId,
    read.plate,
    Math.round(read.confidence * 100),
    read.capturedAt,
  ].join('|');
  const body = Buffer.from(payload, 'ascii');
  return Buffer.concat([
    Buffer.of(STX),
    body,
    Buffer.from(`|${hex4(crc16ccitt(body))}`, 'ascii'),
    Buffer.of(ETX),
  ]);
}

export type FrameRejectReason = 'checksum' | 'malformed' | 'oversize' | 'truncated';
export interface FrameRejection {
  reason: FrameRejectReason;
  detail: string;
}
export interface PlateParseResult {
  reads: PlateFrameRecord[];
  rejected: FrameRejection[];
}
export interface PlateParserStats {
  frames: number;
  rejected: number;
  /** Bytes seen outside any frame. */
  noiseBytes: number;
}

/**
 * Incremental, bounded frame parser: feed it whatever the serial port delivers, in any chunking.
 * It never throws and never holds more than MAX_PLATE_FRAME_BYTES.
 */
export class PlateFrameParser {
  readonly #buf = Buffer.alloc(MAX_PLATE_FRAME_BYTES);
  #len = 0;
  #inFrame = false;
  /** Inside an oversize frame: skip until the next STX (or ETX) without buffering. */
  #discarding = false;
  #frames = 0;
  #rejected = 0;
  #noise = 0;

  push(chunk: Uint8Array): PlateParseResult {
    const result: PlateParseResult = { reads: [], rejected: [] };
    if (!(chunk instanceof Uint8Array)) return result;
    for (const byte of chunk) {
      if (byte === STX) {
        if (this.#inFrame && !this.#discarding) this.#reject(result, 'truncated', 'STX inside a frame');
        this.#inFrame = true;
        this.#discarding = false;
        this.#len = 0;
      } else if (!this.#inFrame) {
        this.#noise++;
      } else if (byte === ETX) {
        if (!this.#discarding) this.#complete(result);
        this.#inFrame = false;
        this.#discarding = false;
        this.#len = 0;
      } else if (this.#discarding) {
        // the oversize frame was already counted
      } else if (this.#len >= MAX_PLATE_FRAME_BYTES) {
        this.#reject(result, 'oversize', `frame longer than ${MAX_PLATE_FRAME_BYTES} bytes`);
        this.#discarding = true;
        this.#len = 0;
      } else {
        this.#buf[this.#len++] = byte;
      }
    }
    return result;
  }

  /** Drops a partial frame, e.g. after the port reconnects. */
  reset(): void {
    this.#inFrame = false;
    this.#discarding = false;
    this.#len = 0;
  }

  stats(): PlateParserStats {
    return { frames: this.#frames, rejected: this.#rejected, noiseBytes: this.#noise };
  }

  #reject(result: PlateParseResult, reason: FrameRejectReason, detail: string): void {
    this.#rejected++;
    result.rejected.push({ reason, detail });
  }

  #complete(result: PlateParseResult): void {
    try {
      const decoded = decodeFrameBody(this.#buf.subarray(0, this.#len));
      if ('reason' in decoded) {
        this.#reject(result, decoded.reason, decoded.detail);
      } else {
        this.#frames++;
        result.reads.push(decoded);
      }
    } catch (err) {
      // decodeFrameBody is not expected to throw; the parser's contract is "never throws"
      this.#reject(result, 'malformed', String(err));
    }
  }
}

function decodeFrameBody(body: Buffer): PlateFrameRecord | FrameRejection {
  for (const byte of body) {
    if (byte < 0x20 || byte > 0x7e) return { reason: 'malformed', detail: 'non-printable byte in frame' };
  }
  const text = body.toString('ascii');
  const cut = text.lastIndexOf('|');
  if (cut < 0) return { reason: 'malformed', detail: 'no fields' };
  const crcText = text.slice(cut + 1);
  if (!CRC_RE.test(crcText)) return { reason: 'malformed', detail: 'checksum field is not 4 hex digits' };
  const expected = crc16ccitt(body.subarray(0, cut));
  if (Number.parseInt(crcText, 16) !== expected) {
    return { reason: 'checksum', detail: `crc ${crcText.toUpperCase()} != ${hex4(expected)}` };
  }
  const fields = text.slice(0, cut).split('|');
  if (fields.length !== 5)
    return { reason: 'malformed', detail: `expected 6 fields, got ${fields.length + 1}` };
  const [tag, laneId, plate, confidence, epochMs] = fields as [string, string, string, string, string];
  if (tag !== PLATE_FRAME_TAG) return { reason: 'malformed', detail: `unknown record ${tag}` };
  if (!LANE_RE.test(laneId)) return { reason: 'malformed', detail: 'bad lane id' };
  if (!PLATE_RE.test(plate)) return { reason: 'malformed', detail: 'bad plate' };
  if (!CONFIDENCE_RE.test(confidence) || Number(confidence) > 100) {
    return { reason: 'malformed', detail: 'bad confidence' };
  }
  if (!EPOCH_RE.test(epochMs)) return { reason: 'malformed', detail: 'bad timestamp' };
  return { laneId, plate, confidence: Number(confidence) / 100, capturedAt: Number(epochMs) };
}

// ---------------------------------------------------------------------------------------------
// HID keyboard boot reports
// ---------------------------------------------------------------------------------------------

export const HID_REPORT_BYTES = 8;
export const HID_MOD_LEFT_SHIFT = 0x02;
export const HID_MOD_RIGHT_SHIFT = 0x20;
export const HID_KEY_ENTER = 0x28;
export const HID_KEY_KEYPAD_ENTER = 0x58;
const HID_KEY_ERROR_ROLLOVER = 0x01;
/** Longest code the decoder buffers; a signed reservation QR is well under this. */
export const MAX_HID_CODE_CHARS = 1024;

/** US layout: usage id -> [unshifted, shifted]. */
const US_KEYS = new Map<number, readonly [string, string]>();
const CHAR_TO_KEY = new Map<string, { code: number; shift: boolean }>();
(() => {
  const add = (code: number, plain: string, shifted: string) => {
    US_KEYS.set(code, [plain, shifted]);
    CHAR_TO_KEY.set(plain, { code, shift: false });
    CHAR_TO_KEY.set(shifted, { code, shift: true });
  };
  for (let i = 0; i < 26; i++) {
    const c = String.fromCharCode(97 + i);
    add(0x04 + i, c, c.toUpperCase());
  }
  const digits = '1234567890';
  const shiftedDigits = '!@#$%^&*()';
  for (let i = 0; i < 10; i++) add(0x1e + i, digits[i]!, shiftedDigits[i]!);
  add(0x2c, ' ', ' ');
  const punctuation: Array<[number, string, string]> = [
    [0x2d, '-', '_'],
    [0x2e, '=', '+'],
    [0x2f, '[', '{'],
    [0x30, ']', '}'],
    [0x31, '\\', '|'],
    [0x33, ';', ':'],
    [0x34, "'", '"'],
    [0x35, '`', '~'],
    [0x36, ',', '<'],
    [0x37, '.', '>'],
    [0x38, '/', '?'],
  ];
  for (const [code, plain, shifted] of punctuation) add(code, plain, shifted);
  // space has no shifted meaning; keep the unshifted mapping for encoding
  CHAR_TO_KEY.set(' ', { code: 0x2c, shift: false });
})();

function hidReport(modifiers: number, key: number): Buffer {
  const report = Buffer.alloc(HID_REPORT_BYTES);
  report[0] = modifiers;
  report[2] = key;
  return report;
}

/**
 * What a keyboard-wedge scanner sends for `text`: press + release per character, then Enter.
 * Throws RangeError for characters a US keyboard cannot type (a caller bug, not wire input).
 */
export function encodeTextAsHidReports(text: string): Buffer[] {
  const reports: Buffer[] = [];
  for (const ch of text) {
    const key = CHAR_TO_KEY.get(ch);
    if (!key) throw new RangeError(`character not typeable on a US keyboard: ${JSON.stringify(ch)}`);
    reports.push(hidReport(key.shift ? HID_MOD_LEFT_SHIFT : 0, key.code), hidReport(0, 0));
  }
  reports.push(hidReport(0, HID_KEY_ENTER), hidReport(0, 0));
  return reports;
}

export interface HidDecoderStats {
  codes: number;
  /** Reports of the wrong size, and codes dropped for being too long. */
  rejected: number;
}

/**
 * Turns boot-protocol reports back into text. A key counts when it appears in a report and was not
 * held in the previous one, so held keys and rollover do not repeat characters. Never throws; keeps
 * at most MAX_HID_CODE_CHARS.
 */
export class HidKeyboardDecoder {
  #text: string[] = [];
  /** Code grew past the limit: drop everything up to the next Enter rather than emit a fragment. */
  #overflow = false;
  #held = new Set<number>();
  #codes = 0;
  #rejected = 0;

  push(report: Uint8Array): string[] {
    const codes: string[] = [];
    if (!(report instanceof Uint8Array) || report.length !== HID_REPORT_BYTES) {
      this.#rejected++;
      return codes;
    }
    const keys = report.subarray(2, 8);
    // phantom state: the keyboard reports too many keys; ignore the report, keep the previous state
    if (keys.every((k) => k === HID_KEY_ERROR_ROLLOVER)) return codes;
    const shift = ((report[0] ?? 0) & (HID_MOD_LEFT_SHIFT | HID_MOD_RIGHT_SHIFT)) !== 0;
    const now = new Set<number>();
    for (const key of keys) {
      if (key === 0 || key === HID_KEY_ERROR_ROLLOVER) continue;
      now.add(key);
      if (this.#held.has(key)) continue;
      if (key === HID_KEY_ENTER || key === HID_KEY_KEYPAD_ENTER) {
        if (this.#overflow) this.#rejected++;
        else if (this.#text.length > 0) {
          codes.push(this.#text.join(''));
          this.#codes++;
        }
        this.#text = [];
        this.#overflow = false;
        continue;
      }
      const chars = US_KEYS.get(key);
      if (!chars || this.#overflow) continue;
      if (this.#text.length >= MAX_HID_CODE_CHARS) {
        this.#overflow = true;
        this.#text = [];
        continue;
      }
      this.#text.push(shift ? chars[1] : chars[0]);
    }
    this.#held = now;
    return codes;
  }

  /** Drops a partial code (e.g. the scanner went quiet mid-code or was unplugged). */
  reset(): void {
    this.#text = [];
    this.#overflow = false;
    this.#held.clear();
  }

  /** Characters buffered for the code in progress. */
  pending(): number {
    return this.#text.length;
  }

  stats(): HidDecoderStats {
    return { codes: this.#codes, rejected: this.#rejected };
  }
}
