// VP8 bitstream facts the SFU and the recorders share, without decoding: where the payload starts
// after the RTP payload descriptor (RFC 7741), the descriptor's picture ID / TL0PICIDX / temporal
// layer fields (read, and rewritten by the SFU when it drops temporal layers), and a keyframe's
// picture size (RFC 6386 §9.1).

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

/**
 * The RFC 7741 §4.2 payload descriptor of one VP8 RTP payload, filled by `parseVp8Descriptor`.
 * One object is reused per parse (packet path): copy what you keep.
 *
 *      0 1 2 3 4 5 6 7
 *     |X|R|N|S|R| PID |  S: start of a partition; PID: partition index
 *  X: |I|L|T|K| RSV   |
 *  I: |M| PictureID   |  M=1: 15 bits (a second byte follows), M=0: 7 bits
 *  L: |   TL0PICIDX   |  the T0 frame counter
 *  T/K: |TID|Y| KEYIDX |  TID: temporal layer; Y: layer sync (depends on T0 frames only)
 */
export class Vp8Descriptor {
  /** Bytes of the descriptor: where the VP8 payload starts. */
  length = 0;
  /** S bit with partition index 0: this packet starts a frame. */
  frameStart = false;
  /** -1 when absent (I=0). */
  pictureId = -1;
  /** 7 or 15 (0 when absent): the field's size, and so the picture ID's modulus (2^bits). */
  pictureIdBits = 0;
  /** Where the picture ID field starts in the payload (-1 when absent). */
  pictureIdOffset = -1;
  /** -1 when absent (L=0). */
  tl0PicIdx = -1;
  tl0PicIdxOffset = -1;
  /** Temporal layer index 0–3, or -1 when absent (T=0). */
  temporalId = -1;
  /** Y: this frame depends only on T0 frames, so a receiver may start decoding its layer here. */
  layerSync = false;
  /** KEYIDX, or -1 when absent (K=0). */
  keyIdx = -1;
}

/** Reads the payload descriptor of `p` into `d`; false (d then unusable) when malformed. */
export function parseVp8Descriptor(p: Uint8Array, d: Vp8Descriptor): boolean {
  if (p.length < 1) return false;
  const b0 = p[0]!;
  d.frameStart = (b0 & 0x17) === 0x10;
  d.pictureId = d.pictureIdOffset = d.tl0PicIdx = d.tl0PicIdxOffset = d.temporalId = d.keyIdx = -1;
  d.pictureIdBits = 0;
  d.layerSync = false;
  let i = 1;
  if (b0 & 0x80) {
    if (p.length < 2) return false;
    const x = p[1]!;
    i = 2;
    if (x & 0x80) {
      if (i >= p.length) return false;
      d.pictureIdOffset = i;
      if (p[i]! & 0x80) {
        if (i + 1 >= p.length) return false;
        d.pictureId = ((p[i]! & 0x7f) << 8) | p[i + 1]!;
        d.pictureIdBits = 15;
        i += 2;
      } else {
        d.pictureId = p[i]!;
        d.pictureIdBits = 7;
        i += 1;
      }
    }
    if (x & 0x40) {
      if (i >= p.length) return false;
      d.tl0PicIdxOffset = i;
      d.tl0PicIdx = p[i]!;
      i += 1;
    }
    if (x & 0x30) {
      if (i >= p.length) return false;
      const t = p[i]!;
      if (x & 0x20) {
        d.temporalId = t >>> 6;
        d.layerSync = (t & 0x20) !== 0;
      }
      if (x & 0x10) d.keyIdx = t & 0x1f;
      i += 1;
    }
  }
  if (i > p.length) return false;
  d.length = i;
  return true;
}

/**
 * Writes a picture ID and a TL0PICIDX into the descriptor of `p` (as parsed into `d`), in the
 * fields' own sizes (a 7-bit field takes the value mod 128); -1 leaves a field as it is.
 */
export function writeVp8Descriptor(p: Uint8Array, d: Vp8Descriptor, pictureId: number, tl0PicIdx: number): void {
  if (pictureId >= 0 && d.pictureIdOffset >= 0) {
    const o = d.pictureIdOffset;
    if (d.pictureIdBits === 15) {
      p[o] = 0x80 | ((pictureId >>> 8) & 0x7f);
      p[o + 1] = pictureId & 0xff;
    } else {
      p[o] = pictureId & 0x7f;
    }
  }
  if (tl0PicIdx >= 0 && d.tl0PicIdxOffset >= 0) p[d.tl0PicIdxOffset] = tl0PicIdx & 0xff;
}

/** Picture size from a VP8 keyframe's header (RFC 6386 §9.1), or null. */
export function vp8KeyframeSize(frame: Buffer): { width: number; height: number } | null {
  if (frame.length < 10 || (frame[0]! & 0x01) !== 0) return null;
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return null;
  const width = frame.readUInt16LE(6) & 0x3fff;
  const height = frame.readUInt16LE(8) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : null;
}
