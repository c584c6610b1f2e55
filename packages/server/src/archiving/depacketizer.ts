// From RTP packets (in order, with losses reported) to whole coded frames: VP8 (RFC 7741),
// H.264 packetization-mode 1 (RFC 6184: single NAL, STAP-A, FU-A) and Opus (RFC 7587). A frame
// missing a packet is dropped, and after a loss video frames are held back until the next
// keyframe, so the file never holds a frame a decoder would choke on.

import { NAL, vp8DescriptorLength } from '@colloquy/sfu';
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

