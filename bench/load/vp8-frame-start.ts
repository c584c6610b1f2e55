// What the first RTP payload of a VP8 frame says about the picture (RFC 7741): whether it is a
// keyframe and, for a keyframe, its width. A load subscriber of a browser's stream (no frame
// trailer of ours: frame-marker.ts) learns from it which simulcast layer it receives, as a browser's
// inbound-rtp frameWidth says after decoding.

export interface Vp8FrameStart {
  keyFrame: boolean;
  /** The picture's width in pixels (keyframes only; 0 otherwise). */
  width: number;
}

/** The payload (the RTP header removed) of a frame's first packet; null when it does not begin a VP8 frame. */
export function readVp8FrameStart(payload: Uint8Array): Vp8FrameStart | null {
  if (payload.length < 1) return null;
  const first = payload[0]!;
  // S (start of a partition) with partition index 0: the packet begins the frame.
  if ((first & 0x10) === 0 || (first & 0x07) !== 0) return null;
  let offset = 1;
  if (first & 0x80) {
    // X: the extension byte says which optional fields follow (I picture id, L TL0PICIDX, T/K TID/KEYIDX).
    if (payload.length < 2) return null;
    const x = payload[1]!;
    offset = 2;
    if (x & 0x80) offset += payload.length > offset && payload[offset]! & 0x80 ? 2 : 1;
    if (x & 0x40) offset += 1;
    if (x & 0x30) offset += 1;
  }
  if (payload.length < offset + 3) return null;
  // The frame tag: P (bit 0) is 0 on a keyframe, which then carries a start code and its size.
  if ((payload[offset]! & 0x01) !== 0) return { keyFrame: false, width: 0 };
  const code = offset + 3;
  if (payload.length < code + 7 || payload[code] !== 0x9d || payload[code + 1] !== 0x01 || payload[code + 2] !== 0x2a) return null;
  return { keyFrame: true, width: (payload[code + 3]! | (payload[code + 4]! << 8)) & 0x3fff };
}
