// What the SFU needs to know about the media it forwards without decoding it: which packet starts
// a keyframe (to start a consumer cleanly) and the picture size (for stats and the Inspector).
// VP8 per RFC 7741 and the VP8 bitstream guide; H.264 per RFC 6184 and ITU-T H.264 7.3.2.1.

export type VideoCodecName = 'VP8' | 'H264';
export type CodecName = VideoCodecName | 'opus';

/** Offset of the VP8 payload header after the payload descriptor, or -1 if malformed. */
function vp8PayloadHeaderOffset(p: Buffer): number {
  if (p.length < 1) return -1;
  let i = 1;
  if (p[0]! & 0x80) {
    // X: extension byte with I, L, T, K flags.
    if (p.length < 2) return -1;
    const x = p[1]!;
    i = 2;
    if (x & 0x80) {
      if (i >= p.length) return -1;
      i += p[i]! & 0x80 ? 2 : 1; // picture ID, 7 or 15 bits
    }
    if (x & 0x40) i += 1; // TL0PICIDX
    if (x & 0x30) i += 1; // TID / KEYIDX
  }
  return i < p.length ? i : -1;
}

/** True when this VP8 RTP payload is the first packet of a keyframe. */
export function isVp8KeyFrameStart(p: Buffer): boolean {
  // S=1 and partition index 0: the start of a frame.
  if (p.length < 1 || (p[0]! & 0x17) !== 0x10) return false;
  const i = vp8PayloadHeaderOffset(p);
  return i >= 0 && (p[i]! & 0x01) === 0; // P bit 0 = key frame
}

/** Width and height of a VP8 keyframe whose first packet is `p`, or null. */
export function vp8Dimensions(p: Buffer): { width: number; height: number } | null {
  const i = vp8PayloadHeaderOffset(p);
  // 3-byte frame tag, 3-byte start code 9d 01 2a, then 14-bit width and height (little endian).
  if (i < 0 || p.length < i + 10) return null;
  if (p[i + 3] !== 0x9d || p[i + 4] !== 0x01 || p[i + 5] !== 0x2a) return null;
  const width = p.readUInt16LE(i + 6) & 0x3fff;
  const height = p.readUInt16LE(i + 8) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : null;
}

const NAL_IDR = 5;
const NAL_SPS = 7;
const STAP_A = 24;
const FU_A = 28;

/** True when this H.264 RTP payload starts a keyframe (an SPS, or the start of an IDR slice). */
export function isH264KeyFrameStart(p: Buffer): boolean {
  if (p.length < 2) return false;
  const type = p[0]! & 0x1f;
  if (type === NAL_IDR || type === NAL_SPS) return true;
  if (type === FU_A) return (p[1]! & 0x80) !== 0 && (p[1]! & 0x1f) === NAL_IDR;
  if (type === STAP_A) {
    for (let i = 1; i + 2 < p.length; ) {
      const size = p.readUInt16BE(i);
      const t = p[i + 2]! & 0x1f;
      if (t === NAL_IDR || t === NAL_SPS) return true;
      i += 2 + size;
    }
  }
  return false;
}

/** The SPS NAL unit inside this H.264 RTP payload (single NAL or STAP-A), or null. */
function findSps(p: Buffer): Buffer | null {
  if (p.length < 2) return null;
  const type = p[0]! & 0x1f;
  if (type === NAL_SPS) return p;
  if (type === STAP_A) {
    for (let i = 1; i + 2 < p.length; ) {
      const size = p.readUInt16BE(i);
      if ((p[i + 2]! & 0x1f) === NAL_SPS) return p.subarray(i + 2, Math.min(p.length, i + 2 + size));
      i += 2 + size;
    }
  }
  return null;
}

/** Reads bits from an RBSP (emulation-prevention bytes already removed). */
class BitReader {
  private bit = 0;
  constructor(private readonly buf: Buffer) {}
  u(n: number): number {
    let v = 0;
    for (let k = 0; k < n; k++) {
      const byte = this.buf[this.bit >> 3];
      if (byte === undefined) throw new RangeError('SPS truncated');
      v = (v << 1) | ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return v >>> 0;
  }
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new RangeError('bad Exp-Golomb code');
    }
    return zeros === 0 ? 0 : (2 ** zeros - 1 + this.u(zeros));
  }
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Width and height from the SPS carried by this H.264 RTP payload, or null. */
export function h264Dimensions(p: Buffer): { width: number; height: number } | null {
  const nal = findSps(p);
  if (!nal) return null;
  // Remove emulation prevention (00 00 03 -> 00 00).
  const rbsp: number[] = [];
  for (let i = 1; i < nal.length; i++) {
    if (i >= 3 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    rbsp.push(nal[i]!);
  }
  try {
    const r = new BitReader(Buffer.from(rbsp));
    const profile = r.u(8);
    r.u(8); // constraint flags
    r.u(8); // level
    r.ue(); // sps id
    let chroma = 1;
    if (HIGH_PROFILES.has(profile)) {
      chroma = r.ue();
      if (chroma === 3) r.u(1);
      r.ue();
      r.ue();
      r.u(1);
      if (r.u(1)) {
        for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
          if (!r.u(1)) continue;
          const size = i < 6 ? 16 : 64;
          let last = 8;
          let next = 8;
          for (let j = 0; j < size; j++) {
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
    const wMbs = r.ue() + 1;
    const hMaps = r.ue() + 1;
    const frameMbsOnly = r.u(1);
    if (!frameMbsOnly) r.u(1);
    r.u(1);
    let cl = 0;
    let cr = 0;
    let ct = 0;
    let cb = 0;
    if (r.u(1)) {
      cl = r.ue();
      cr = r.ue();
      ct = r.ue();
      cb = r.ue();
    }
    const cropX = chroma === 0 ? 1 : chroma === 3 ? 1 : 2;
    const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const width = wMbs * 16 - (cl + cr) * cropX;
    const height = (2 - frameMbsOnly) * hMaps * 16 - (ct + cb) * cropY;
    return width > 0 && height > 0 ? { width, height } : null;
  } catch {
    return null;
  }
}
