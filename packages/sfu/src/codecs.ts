// What the SFU needs to know about the media it forwards without decoding it: which packet starts
// a keyframe (to start a consumer cleanly) and the picture size (for stats and the Inspector).
// VP8 per RFC 7741 and the VP8 bitstream guide; H.264 per RFC 6184 and ITU-T H.264 7.3.2.1. The
// bitstream parsing itself is in codecs/, shared with the recorders.

import { h264SpsSize, NAL } from './codecs/h264.js';
import { vp8DescriptorLength, vp8KeyframeSize } from './codecs/vp8.js';

export type VideoCodecName = 'VP8' | 'H264';
export type CodecName = VideoCodecName | 'opus';

/** True when this VP8 RTP payload is the first packet of a keyframe. */
export function isVp8KeyFrameStart(p: Buffer): boolean {
  // S=1 and partition index 0: the start of a frame.
  if (p.length < 1 || (p[0]! & 0x17) !== 0x10) return false;
  const i = vp8DescriptorLength(p);
  return i >= 0 && i < p.length && (p[i]! & 0x01) === 0; // P bit 0 = key frame
}

/** Width and height of a VP8 keyframe whose first packet is `p`, or null. */
export function vp8Dimensions(p: Buffer): { width: number; height: number } | null {
  const i = vp8DescriptorLength(p);
  return i < 0 ? null : vp8KeyframeSize(p.subarray(i));
}

const { IDR: NAL_IDR, SPS: NAL_SPS, STAP_A, FU_A } = NAL;

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

/** Width and height from the SPS carried by this H.264 RTP payload, or null. */
export function h264Dimensions(p: Buffer): { width: number; height: number } | null {
  const sps = findSps(p);
  return sps ? h264SpsSize(sps) : null;
}
