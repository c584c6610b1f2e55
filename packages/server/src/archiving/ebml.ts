// EBML, the binary format under Matroska/WebM (RFC 8794): element IDs, variable-size integers,
// and the few element kinds the recorder writes and reads back.

/** Matroska element IDs we use (RFC 9559), with their marker bits, as written on disk. */
export const ID = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekID: 0x53ab,
  SeekPosition: 0x53ac,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Duration: 0x4489,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  CodecDelay: 0x56aa,
  SeekPreRoll: 0x56bb,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
  Void: 0xec,
} as const;

/** An 8-byte size field meaning "unknown size" (live writing; the segment until finalized). */
export const UNKNOWN_SIZE_8 = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** Bytes an element ID takes (IDs carry their own length marker). */
export function idLength(id: number): number {
  if (id >= 0x10000000) return 4;
  if (id >= 0x200000) return 3;
  if (id >= 0x4000) return 2;
  return 1;
}

export function encodeId(id: number): Buffer {
  const len = idLength(id);
  const out = Buffer.alloc(len);
  out.writeUIntBE(id, 0, len);
  return out;
}

/** Smallest EBML variable-size integer for `value` (all-ones patterns are reserved, so one byte more). */
export function encodeSize(value: number, minLength = 1): Buffer {
  let len = Math.max(1, minLength);
  while (len < 8 && value >= 2 ** (7 * len) - 1) len++;
  if (value >= 2 ** 56 - 1) throw new RangeError(`EBML size too large: ${value}`);
  return encodeSizeFixed(value, len);
}

/** A size field of exactly `length` bytes (used where the writer patches it in place later). */
export function encodeSizeFixed(value: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  out[0]! |= 0x80 >> (length - 1);
  return out;
}

function minimalUInt(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not an unsigned integer: ${value}`);
  let len = 1;
  while (len < 8 && value >= 2 ** (8 * len)) len++;
  const out = Buffer.alloc(len);
  let v = value;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

export function element(id: number, payload: Buffer | Buffer[]): Buffer {
  const body = Array.isArray(payload) ? Buffer.concat(payload) : payload;
  return Buffer.concat([encodeId(id), encodeSize(body.length), body]);
}

export const uint = (id: number, value: number): Buffer => element(id, minimalUInt(value));

/** An unsigned integer stored in exactly 8 bytes, so it can be rewritten in place. */
export function uint64Fixed(id: number, value: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeBigUInt64BE(BigInt(value));
  return element(id, body);
}

export function float64(id: number, value: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeDoubleBE(value);
  return element(id, body);
}

export const string = (id: number, value: string): Buffer => element(id, Buffer.from(value, 'utf8'));

/** A Void element of exactly `total` bytes (at least 2), reserving room to fill in later. */
export function voidElement(total: number): Buffer {
  if (total < 2) throw new RangeError('a Void element needs at least 2 bytes');
  // 1 byte ID, then a size field of 1 byte (payload < 127) or 8 bytes.
  if (total - 2 < 127) return Buffer.concat([encodeId(ID.Void), encodeSizeFixed(total - 2, 1), Buffer.alloc(total - 2)]);
  if (total < 9) throw new RangeError('cannot build a Void element of this size');
  return Buffer.concat([encodeId(ID.Void), encodeSizeFixed(total - 9, 8), Buffer.alloc(total - 9)]);
}

/** Reads an element ID at `offset`; null if the bytes there are not a valid ID or run past the end. */
export function readId(buf: Buffer, offset: number): { id: number; length: number } | null {
  if (offset >= buf.length) return null;
  const first = buf[offset]!;
  let length = 0;
  for (let mask = 0x80, n = 1; n <= 4; mask >>= 1, n++) {
    if (first & mask) {
      length = n;
      break;
    }
  }
  if (length === 0 || offset + length > buf.length) return null;
  return { id: buf.readUIntBE(offset, length), length };
}

/** Reads a size field; `value` is -1 for "unknown size". Null if invalid or truncated. */
export function readSize(buf: Buffer, offset: number): { value: number; length: number } | null {
  if (offset >= buf.length) return null;
  const first = buf[offset]!;
  let length = 0;
  for (let mask = 0x80, n = 1; n <= 8; mask >>= 1, n++) {
    if (first & mask) {
      length = n;
      break;
    }
  }
  if (length === 0 || offset + length > buf.length) return null;
  let value = first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const b = buf[offset + i]!;
    if (b !== 0xff) allOnes = false;
    value = value * 256 + b;
  }
  return { value: allOnes ? -1 : value, length };
}

export function readUInt(buf: Buffer, offset: number, length: number): number {
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + buf[offset + i]!;
  return value;
}
