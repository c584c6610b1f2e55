// RtpRewriter on crafted packets: sequence/timestamp mapping (start on a keyframe, gaps kept,
// 16-bit wrap, reordering, older-than-sync drops, padding closing its gap, resync continuity) and
// the header bytes it writes (V, X, M, PT, sequence, timestamp, SSRC, extensions remapped).

import { describe, expect, it } from 'vitest';
import { EXT } from '../src/peer-config.js';
import { DROP, MAX_HEADER_LENGTH, RtpRewriter, type SourceHeader } from '../src/rtp-rewriter.js';
import { RtpView } from '../src/rtp-view.js';

const VIDEO_ORIENTATION_PUB = 2;
const ABS_PUB = 3;
const TCC_PUB = 4;
const AUDIO_LEVEL_PUB = 5;
const producerUris: (string | undefined)[] = [];
producerUris[VIDEO_ORIENTATION_PUB] = EXT.videoOrientation;
producerUris[ABS_PUB] = EXT.absSendTime;
producerUris[TCC_PUB] = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';
producerUris[AUDIO_LEVEL_PUB] = EXT.audioLevel;

function rewriter(options: { waitForKeyFrame?: boolean; extensionIds?: [string, number][]; mid?: string } = {}): RtpRewriter {
  const r = new RtpRewriter({ ssrc: 0xdeadbeef, clockRate: 90000, waitForKeyFrame: options.waitForKeyFrame ?? true, initialSequence: 1000, initialTimestamp: 50000 });
  r.setNegotiated({
    payloadType: 100,
    mid: options.mid ?? '',
    extensionIds: new Map(options.extensionIds ?? []),
    producerExtensionUris: producerUris,
  });
  return r;
}

/** Maps a list of [seq, timestamp, keyFrame?, payloadLength?] and returns output seqs (DROP kept). */
function run(r: RtpRewriter, packets: [number, number, boolean?, number?][], now = 0): number[] {
  return packets.map(([seq, ts, key, len]) => r.map(seq, ts, len ?? 100, key ?? false, now));
}

describe('RtpRewriter: sequence and timestamp', () => {
  it('video waits for a keyframe, then continues at the initial sequence + 1 with the first timestamp kept', () => {
    const r = rewriter();
    expect(run(r, [[10, 9000], [11, 9000]])).toEqual([DROP, DROP]);
    expect(r.needsSync).toBe(true);
    expect(r.map(12, 12000, 100, true, 0)).toBe(1001);
    expect(r.outputTimestamp).toBe(50000); // first sync: no wall-time advance
    expect(r.needsSync).toBe(false);
    expect(r.map(13, 15000, 100, false, 0)).toBe(1002);
    expect(r.outputTimestamp).toBe(53000);
    expect(r.timestampOffset).toBe((50000 - 12000) >>> 0);
  });

  it('audio starts on any packet', () => {
    const r = rewriter({ waitForKeyFrame: false });
    expect(r.map(500, 960, 50, false, 0)).toBe(1001);
  });

  it('keeps gaps (lost packets stay lost, so NACKs line up) and crosses the 16-bit wrap', () => {
    const r = new RtpRewriter({ ssrc: 1, clockRate: 90000, waitForKeyFrame: true, initialSequence: 65533, initialTimestamp: 0xfffffff0 });
    r.setNegotiated({ payloadType: 96, mid: '', extensionIds: new Map(), producerExtensionUris: [] });
    expect(run(r, [[100, 1000, true], [101, 1000], [103, 4000], [104, 4000], [105, 7000]])).toEqual([65534, 65535, 1, 2, 3]);
    // Timestamps wrap at 32 bits too.
    expect(r.outputTimestamp).toBe((0xfffffff0 + 6000) >>> 0);
    // Input wraps as well: 65535 → 0 on the publisher's side maps straight on.
    const s = rewriter();
    expect(run(s, [[65534, 0, true], [65535, 0], [0, 3000], [1, 3000]])).toEqual([1001, 1002, 1003, 1004]);
  });

  it('a reordered packet gets its own place and does not move the newest', () => {
    const r = rewriter();
    expect(run(r, [[10, 0, true], [12, 3000], [11, 0]])).toEqual([1001, 1003, 1002]);
    expect(r.highestSequence).toBe(1003);
    expect(r.lastTimestamp).toBe(53000);
  });

  it('drops packets older than the sync point (their frame start was never sent)', () => {
    const r = rewriter();
    expect(run(r, [[20, 6000, true], [19, 3000], [21, 6000]])).toEqual([1001, DROP, 1002]);
  });

  it('drops padding-only packets and closes the gap when the padding was the newest', () => {
    const r = rewriter();
    expect(run(r, [[1, 0, true], [2, 0, false, 0], [3, 3000], [4, 3000, false, 0], [6, 6000], [5, 3000, false, 0]])).toEqual([
      1001,
      DROP,
      1002, // 2 was padding: 3 follows 1 directly
      DROP,
      1004, // 4 was padding and closed up; 5 is still missing when 6 comes, so 6 leaves its gap
      DROP, // 5 arrives late as padding: not the newest, nothing to close
    ]);
  });

  it('after resync, continues at last + 1 with the timestamp advanced by the wall time elapsed', () => {
    const r = rewriter();
    run(r, [[10, 90000, true], [11, 93000]], 1000);
    expect(r.lastSentAt).toBe(1000);
    r.resync();
    // The producer jumped (a pause, or another source): sequence 5000, timestamp 10.
    expect(r.map(5000, 10, 100, false, 1500)).toBe(DROP); // video waits for a keyframe again
    expect(r.map(5001, 10, 100, true, 1500)).toBe(1003);
    expect(r.outputTimestamp).toBe(((50000 + 3000) + 45000) >>> 0); // +0.5 s at 90 kHz
    expect(r.map(5002, 3010, 100, false, 1533)).toBe(1004);
    expect(r.outputTimestamp).toBe((53000 + 45000 + 3000) >>> 0);
  });
});

describe('RtpRewriter: header bytes', () => {
  /** A received packet (an RtpView) with these one-byte-form header extensions. */
  const source = (marker: boolean, extensions: { id: number; payload: Buffer }[] = []): SourceHeader => {
    const body: number[] = [];
    for (const e of extensions) body.push((e.id << 4) | (e.payload.length - 1), ...e.payload);
    while (body.length % 4) body.push(0);
    const block = extensions.length > 0 ? [0xbe, 0xde, 0, body.length / 4, ...body] : [];
    const view = new RtpView();
    view.parse(Buffer.from([extensions.length > 0 ? 0x90 : 0x80, (marker ? 0x80 : 0) | 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, ...block, 1, 2, 3]));
    return view;
  };

  it('writes V=2, no X without extensions, M, PT, sequence, timestamp and SSRC', () => {
    const r = rewriter();
    r.map(7, 0x11223344, 100, true, 0);
    const buf = Buffer.alloc(MAX_HEADER_LENGTH, 0xee);
    expect(r.writeHeader(source(true), buf, 0, 0)).toBe(12);
    expect(buf[0]).toBe(0x80);
    expect(buf[1]).toBe(0x80 | 100);
    expect(buf.readUInt16BE(2)).toBe(1001);
    expect(buf.readUInt32BE(4)).toBe(50000);
    expect(buf.readUInt32BE(8)).toBe(0xdeadbeef);
    r.map(8, 0x11223344, 100, false, 0);
    r.writeHeader(source(false), buf, 0, 0);
    expect(buf[1]).toBe(100); // no marker
    expect(buf.readUInt16BE(2)).toBe(1002);
  });

  it('remaps copied extensions to the subscriber ids, writes mid and abs-send-time fresh, drops the rest', () => {
    const r = rewriter({
      mid: '1',
      extensionIds: [
        [EXT.mid, 9],
        [EXT.absSendTime, 10],
        [EXT.videoOrientation, 11],
        [EXT.audioLevel, 12],
      ],
    });
    r.map(1, 0, 100, true, 0);
    const buf = Buffer.alloc(MAX_HEADER_LENGTH * 2);
    const base = MAX_HEADER_LENGTH; // a slot in the middle of a buffer
    const now = 2000; // ms: abs-send-time 2 s = 2 * 2^18
    const length = r.writeHeader(
      source(false, [
        { id: VIDEO_ORIENTATION_PUB, payload: Buffer.from([3]) },
        { id: ABS_PUB, payload: Buffer.from([9, 9, 9]) },
        { id: TCC_PUB, payload: Buffer.from([0, 1]) },
        { id: AUDIO_LEVEL_PUB, payload: Buffer.from([0x85]) },
        { id: 14, payload: Buffer.from([1]) }, // unknown to the publisher's negotiation
      ]),
      buf,
      base,
      now,
    );
    expect(buf[base]).toBe(0x90); // X set
    expect(buf.readUInt16BE(base + 12)).toBe(0xbede);
    const words = buf.readUInt16BE(base + 14);
    expect(length).toBe(16 + words * 4);
    const block = [...buf.subarray(base + 16, base + length)];
    const abs = 2 * 262144;
    expect(block).toEqual([
      (9 << 4) | 0, 0x31, // mid "1"
      (10 << 4) | 2, (abs >>> 16) & 0xff, (abs >>> 8) & 0xff, abs & 0xff, // our send time
      (11 << 4) | 0, 3, // video orientation copied
      (12 << 4) | 0, 0x85, // audio level copied
      0, 0, // padding to 32 bits
    ]);
  });

  it('writes no extension block when the subscriber negotiated none', () => {
    const r = rewriter();
    r.map(1, 0, 100, true, 0);
    const buf = Buffer.alloc(MAX_HEADER_LENGTH);
    expect(r.writeHeader(source(false, [{ id: VIDEO_ORIENTATION_PUB, payload: Buffer.from([1]) }]), buf, 0, 0)).toBe(12);
    expect(buf[0]).toBe(0x80);
  });
});
