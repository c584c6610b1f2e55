// codecs/ and media/codecs.ts: keyframe detection and picture size from RTP payloads, the facts the
// SFU (stats, clean consumer starts) and the recorders share.

import { describe, expect, it } from 'vitest';
import { h264SpsSize } from '../src/codecs/h264.js';
import { parseVp8Descriptor, Vp8Descriptor, vp8DescriptorLength, vp8KeyframeSize, writeVp8Descriptor } from '../src/codecs/vp8.js';
import { h264Dimensions, isH264KeyFrameStart, isVp8KeyFrameStart, vp8Dimensions } from '../src/codecs.js';

// A VP8 keyframe header: frame tag (P=0), start code 9d 01 2a, 640 and 480 little endian.
const vp8Key = Buffer.from([0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0xaa, 0xbb]);
const vp8Inter = Buffer.from([0x51, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
// Payload descriptors: minimal (S=1, PID 0), and extended with a 15-bit picture ID and TL0PICIDX.
const minimal = Buffer.from([0x10]);
const extended = Buffer.from([0x90, 0xc0, 0x81, 0x23, 0x05]);
const sps = Buffer.from('6742c01e95a0280f6c0440000003004000000ca3c58ba8', 'hex'); // 640x480 baseline

describe('VP8', () => {
  it('finds the payload after minimal and extended descriptors, and refuses truncated ones', () => {
    expect(vp8DescriptorLength(minimal)).toBe(1);
    expect(vp8DescriptorLength(extended)).toBe(5);
    expect(vp8DescriptorLength(Buffer.from([0x90]))).toBe(-1);
    expect(vp8DescriptorLength(Buffer.alloc(0))).toBe(-1);
  });

  it('reads a keyframe’s size, and not an inter frame’s', () => {
    expect(vp8KeyframeSize(vp8Key)).toEqual({ width: 640, height: 480 });
    expect(vp8KeyframeSize(vp8Inter)).toBeNull();
    for (const d of [minimal, extended]) {
      expect(vp8Dimensions(Buffer.concat([d, vp8Key]))).toEqual({ width: 640, height: 480 });
      expect(isVp8KeyFrameStart(Buffer.concat([d, vp8Key]))).toBe(true);
      expect(isVp8KeyFrameStart(Buffer.concat([d, vp8Inter]))).toBe(false);
    }
    // Not the start of a partition (S=0): never a keyframe start.
    expect(isVp8KeyFrameStart(Buffer.concat([Buffer.from([0x00]), vp8Key]))).toBe(false);
  });
});

describe('VP8 payload descriptor (RFC 7741 §4.2)', () => {
  const d = new Vp8Descriptor();
  const read = (bytes: number[]) => {
    expect(parseVp8Descriptor(Buffer.from(bytes), d)).toBe(true);
    return { length: d.length, frameStart: d.frameStart, pictureId: d.pictureId, pictureIdBits: d.pictureIdBits, tl0PicIdx: d.tl0PicIdx, temporalId: d.temporalId, layerSync: d.layerSync, keyIdx: d.keyIdx };
  };

  it('reads Chromium’s L1T3 layout: 15-bit picture ID, TL0PICIDX, TID and Y', () => {
    // X S | I L T | M + 0x1234 | TL0PICIDX 0xfe | TID 2, Y=1 | payload
    expect(read([0x90, 0xe0, 0x92, 0x34, 0xfe, 0xa0, 0x9d])).toEqual({ length: 6, frameStart: true, pictureId: 0x1234, pictureIdBits: 15, tl0PicIdx: 0xfe, temporalId: 2, layerSync: true, keyIdx: -1 });
    // A middle packet of a T1 frame without Y: S=0.
    expect(read([0x80, 0xe0, 0x80, 0x05, 0x03, 0x40, 0x00])).toMatchObject({ frameStart: false, pictureId: 5, temporalId: 1, layerSync: false });
  });

  it('reads a 7-bit picture ID, no TL0PICIDX, and a KEYIDX without TID (K without T)', () => {
    expect(read([0x90, 0x80, 0x7f, 0x00])).toEqual({ length: 3, frameStart: true, pictureId: 127, pictureIdBits: 7, tl0PicIdx: -1, temporalId: -1, layerSync: false, keyIdx: -1 });
    expect(read([0x90, 0x90, 0x11, 0x1f])).toMatchObject({ length: 4, pictureId: 0x11, pictureIdBits: 7, temporalId: -1, keyIdx: 31 });
    // T and K together: TID 1, Y=0, KEYIDX 3.
    expect(read([0x90, 0x30, 0x43])).toMatchObject({ length: 3, pictureId: -1, temporalId: 1, keyIdx: 3 });
    // No extension at all; a non-zero partition index is not a frame start.
    expect(read([0x10])).toMatchObject({ length: 1, frameStart: true, pictureId: -1, tl0PicIdx: -1, temporalId: -1 });
    expect(read([0x11])).toMatchObject({ frameStart: false });
  });

  it('refuses truncated descriptors', () => {
    for (const bytes of [[], [0x90], [0x90, 0x80], [0x90, 0x80, 0x80], [0x90, 0xc0, 0x81, 0x23], [0x90, 0x20]]) expect(parseVp8Descriptor(Buffer.from(bytes), d)).toBe(false);
  });

  it('rewrites picture ID and TL0PICIDX in place, in the fields’ own sizes', () => {
    const long = Buffer.from([0x90, 0xe0, 0x92, 0x34, 0xfe, 0xa0, 0x9d]);
    parseVp8Descriptor(long, d);
    writeVp8Descriptor(long, d, 0x7fff, 0x00);
    expect([...long]).toEqual([0x90, 0xe0, 0xff, 0xff, 0x00, 0xa0, 0x9d]);
    const short = Buffer.from([0x90, 0xc0, 0x05, 0x09, 0x9d]);
    parseVp8Descriptor(short, d);
    writeVp8Descriptor(short, d, 200, -1); // 200 mod 128; TL0PICIDX left alone
    expect([...short]).toEqual([0x90, 0xc0, 200 & 0x7f, 0x09, 0x9d]);
  });
});

describe('H.264', () => {
  const stapA = (...nals: Buffer[]) => Buffer.concat([Buffer.from([24]), ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);
  const pps = Buffer.from([0x68, 0xce, 0x3c, 0x80]);

  it('reads the size from an SPS alone or inside a STAP-A', () => {
    expect(h264SpsSize(sps)).toEqual({ width: 640, height: 480 });
    expect(h264Dimensions(sps)).toEqual({ width: 640, height: 480 });
    expect(h264Dimensions(stapA(sps, pps))).toEqual({ width: 640, height: 480 });
    expect(h264Dimensions(pps)).toBeNull();
    expect(h264SpsSize(sps.subarray(0, 4))).toBeNull();
  });

  it('knows a keyframe start: SPS, STAP-A with SPS, IDR, the first FU-A of an IDR', () => {
    expect(isH264KeyFrameStart(sps)).toBe(true);
    expect(isH264KeyFrameStart(stapA(sps, pps))).toBe(true);
    expect(isH264KeyFrameStart(Buffer.from([0x65, 0x88]))).toBe(true);
    expect(isH264KeyFrameStart(Buffer.from([0x7c, 0x85, 0x00]))).toBe(true); // FU-A start of IDR
    expect(isH264KeyFrameStart(Buffer.from([0x7c, 0x05, 0x00]))).toBe(false); // FU-A middle
    expect(isH264KeyFrameStart(Buffer.from([0x41, 0x9a]))).toBe(false); // non-IDR slice
  });
});
