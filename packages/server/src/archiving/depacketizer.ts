// From RTP packets (in order, with losses reported) to whole coded frames: VP8 (RFC 7741),
// H.264 packetization-mode 1 (RFC 6184: single NAL, STAP-A, FU-A) and Opus (RFC 7587). A frame
// missing a packet is dropped, and after a loss video frames are held back until the next
// keyframe, so the file never holds a frame a decoder would choke on.

import type { RtpInput } from './jitter-buffer.js';

export interface CodedFrame {
  rtpTimestamp: number;
  /** VP8/Opus: the frame; H.264: the NAL units (no start codes, no length prefixes). */
  data: Buffer;
  nalUnits?: Buffer[];
  keyframe: boolean;
}

export interface Depacketizer {
  push(packet: RtpInput): CodedFrame | null;
  /** Packets were lost before the next one. */
  loss(): void;
  /** True while video frames are being dropped until a keyframe. */
  readonly waitingForKeyframe: boolean;
  /** Drops frames again until the next keyframe (the last one was unusable). */
  waitForKeyframe(): void;
}

export class OpusDepacketizer implements Depacketizer {
  readonly waitingForKeyframe = false;

  push(packet: RtpInput): CodedFrame | null {
    if (packet.payload.length === 0) return null;
    return { rtpTimestamp: packet.timestamp, data: packet.payload, keyframe: true };
  }

  loss(): void {}

  waitForKeyframe(): void {}
}

/** Offset of the VP8 payload after the payload descriptor, or -1 if malformed. */
export function vp8DescriptorLength(p: Buffer): number {
  if (p.length < 1) return -1;
  let i = 1;
  if (p[0]! & 0x80) {
    if (p.length < 2) return -1;
    const x = p[1]!;
    i = 2;
    if (x & 0x80) {
      if (i >= p.length) return -1;
      i += p[i]! & 0x80 ? 2 : 1;
    }
    if (x & 0x40) i += 1;
    if (x & 0x30) i += 1;
  }
  return i <= p.length ? i : -1;
}

/** Picture size from a VP8 keyframe's header (RFC 6386 §9.1), or null. */
export function vp8KeyframeSize(frame: Buffer): { width: number; height: number } | null {
  if (frame.length < 10 || (frame[0]! & 0x01) !== 0) return null;
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return null;
  return { width: frame.readUInt16LE(6) & 0x3fff, height: frame.readUInt16LE(8) & 0x3fff };
}

abstract class VideoDepacketizer implements Depacketizer {
  #waitingForKey = true;
  protected timestamp = -1;
  protected broken = false;

  get waitingForKeyframe(): boolean {
    return this.#waitingForKey;
  }

  loss(): void {
    this.broken = true;
    this.#waitingForKey = true;
  }

  waitForKeyframe(): void {
    this.#waitingForKey = true;
  }

  abstract push(packet: RtpInput): CodedFrame | null;

  /** Gates a completed frame: nothing but a keyframe passes after a loss (or at the start). */
  protected emit(frame: CodedFrame): CodedFrame | null {
    if (this.#waitingForKey && !frame.keyframe) return null;
    this.#waitingForKey = false;
    return frame;
  }
}

export class Vp8Depacketizer extends VideoDepacketizer {
  #parts: Buffer[] = [];

  push(packet: RtpInput): CodedFrame | null {
    const p = packet.payload;
    const offset = vp8DescriptorLength(p);
    if (offset < 0) {
      this.broken = true;
      return null;
    }
    const start = (p[0]! & 0x10) !== 0 && (p[0]! & 0x07) === 0;
    if (start) {
      this.#parts = [];
      this.broken = false;
      this.timestamp = packet.timestamp;
    } else if (packet.timestamp !== this.timestamp) {
      // A frame whose first packet never came.
      this.broken = true;
      this.timestamp = packet.timestamp;
      this.#parts = [];
    }
    if (offset < p.length) this.#parts.push(p.subarray(offset));
    if (!packet.marker) return null;
    const parts = this.#parts;
    this.#parts = [];
    if (this.broken || parts.length === 0) {
      this.broken = false;
      return null;
    }
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    return this.emit({ rtpTimestamp: packet.timestamp, data, keyframe: (data[0]! & 0x01) === 0 });
  }
}

export const NAL = { IDR: 5, SEI: 6, SPS: 7, PPS: 8, AUD: 9, STAP_A: 24, FU_A: 28 } as const;

export class H264Depacketizer extends VideoDepacketizer {
  #nalUnits: Buffer[] = [];
  #fragments: Buffer[] | null = null;

  push(packet: RtpInput): CodedFrame | null {
    const p = packet.payload;
    if (packet.timestamp !== this.timestamp) {
      // A new access unit. Whatever is left of the previous one lost its last packet: drop it. A
      // loss just before this packet is not held against it (the decoder only needs a keyframe
      // after a loss, which `emit` enforces); a torn fragment inside it is caught below.
      this.#nalUnits = [];
      this.#fragments = null;
      this.broken = false;
      this.timestamp = packet.timestamp;
    }
    if (p.length < 1) return null;
    const type = p[0]! & 0x1f;
    if (type >= 1 && type <= 23) {
      this.#nalUnits.push(p);
    } else if (type === NAL.STAP_A) {
      let i = 1;
      while (i + 2 <= p.length) {
        const size = p.readUInt16BE(i);
        i += 2;
        if (size === 0 || i + size > p.length) {
          this.broken = true;
          break;
        }
        this.#nalUnits.push(p.subarray(i, i + size));
        i += size;
      }
    } else if (type === NAL.FU_A) {
      if (p.length < 3) {
        this.broken = true;
      } else {
        const fuHeader = p[1]!;
        const startBit = (fuHeader & 0x80) !== 0;
        const endBit = (fuHeader & 0x40) !== 0;
        if (startBit) {
          this.#fragments = [Buffer.from([(p[0]! & 0xe0) | (fuHeader & 0x1f)]), p.subarray(2)];
        } else if (this.#fragments) {
          this.#fragments.push(p.subarray(2));
        } else {
          this.broken = true;
        }
        if (endBit && this.#fragments) {
          this.#nalUnits.push(Buffer.concat(this.#fragments));
          this.#fragments = null;
        }
      }
    } else {
      // STAP-B, MTAP, FU-B: not in packetization-mode 1.
      this.broken = true;
    }
    if (!packet.marker) return null;
    const nalUnits = this.#nalUnits;
    this.#nalUnits = [];
    const broken = this.broken || this.#fragments !== null;
    this.#fragments = null;
    this.broken = false;
    this.timestamp = -2; // the next packet starts a new access unit even with the same timestamp
    if (broken || nalUnits.length === 0) return null;
    const keyframe = nalUnits.some((n) => (n[0]! & 0x1f) === NAL.IDR);
    return this.emit({ rtpTimestamp: packet.timestamp, data: Buffer.alloc(0), nalUnits, keyframe });
  }

  override loss(): void {
    super.loss();
    this.#fragments = null;
  }
}

/** Reads H.264 exp-Golomb codes from an RBSP (emulation-prevention bytes already removed). */
class BitReader {
  #buf: Buffer;
  #bit = 0;
  constructor(buf: Buffer) {
    this.#buf = buf;
  }
  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.#buf[this.#bit >> 3];
      if (byte === undefined) throw new RangeError('SPS truncated');
      v = v * 2 + ((byte >> (7 - (this.#bit & 7))) & 1);
      this.#bit++;
    }
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new RangeError('bad exp-Golomb code');
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

function unescapeRbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 0x03 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    out.push(nal[i]!);
  }
  return Buffer.from(out);
}

/** Picture size from an H.264 SPS NAL unit (ITU-T H.264 §7.3.2.1.1), or null if unreadable. */
export function h264SpsSize(sps: Buffer): { width: number; height: number } | null {
  try {
    const r = new BitReader(unescapeRbsp(sps.subarray(1)));
    const profile = r.u(8);
    r.u(16); // constraint flags + level
    r.ue(); // seq_parameter_set_id
    let chromaFormat = 1;
    if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
      chromaFormat = r.ue();
      if (chromaFormat === 3) r.u(1);
      r.ue();
      r.ue();
      r.u(1);
      if (r.u(1)) {
        for (let i = 0; i < (chromaFormat !== 3 ? 8 : 12); i++) {
          if (!r.u(1)) continue;
          let last = 8;
          let next = 8;
          for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
            if (next !== 0) next = (last + r.se() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) r.ue();
    else if (pocType === 1) {
      r.u(1);
      r.se();
      r.se();
      const n = r.ue();
      for (let i = 0; i < n; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.u(1);
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.u(1);
    if (!frameMbsOnly) r.u(1);
    r.u(1);
    let cropLeft = 0;
    let cropRight = 0;
    let cropTop = 0;
    let cropBottom = 0;
    if (r.u(1)) {
      cropLeft = r.ue();
      cropRight = r.ue();
      cropTop = r.ue();
      cropBottom = r.ue();
    }
    const cropUnitX = chromaFormat === 0 || chromaFormat === 3 ? 1 : 2;
    const cropUnitY = (chromaFormat === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const width = widthMbs * 16 - cropUnitX * (cropLeft + cropRight);
    const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
    return width > 0 && height > 0 ? { width, height } : null;
  } catch {
    return null;
  }
}

/** AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) for Matroska's CodecPrivate. */
export function avcDecoderConfiguration(sps: Buffer, pps: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from([1, sps[1]!, sps[2]!, sps[3]!, 0xff, 0xe1]),
    u16(sps.length),
    sps,
    Buffer.from([1]),
    u16(pps.length),
    pps,
  ]);
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

/** NAL units as AVC samples: each prefixed with its 4-byte length. */
export function toLengthPrefixed(nalUnits: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const nal of nalUnits) parts.push(u32(nal.length), nal);
  return Buffer.concat(parts);
}

/** NAL units in Annex B form (start codes), for a file without CodecPrivate. */
export function toAnnexB(nalUnits: Buffer[]): Buffer {
  const start = Buffer.from([0, 0, 0, 1]);
  const parts: Buffer[] = [];
  for (const nal of nalUnits) parts.push(start, nal);
  return Buffer.concat(parts);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}
