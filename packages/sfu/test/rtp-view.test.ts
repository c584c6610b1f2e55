// RtpView: one parse of a received RTP packet. Crafted packets (CSRCs, one- and two-byte header
// extensions with padding bytes, RTP padding, RTX) and malformed ones, and werift's own
// RtpPacket.deSerialize as the oracle on packets werift serialized.

import { randomBytes } from 'node:crypto';
import { RtpHeader, RtpPacket, wrapRtx } from 'werift';
import { describe, expect, it } from 'vitest';
import { RtpView } from '../src/rtp-view.js';

/** A one-byte-form ("BEDE") header extension block from [id, data] elements, padded to 32 bits. */
function oneByteBlock(elements: [number, number[]][], paddingBetween = 0): number[] {
  const body: number[] = [];
  for (const [id, data] of elements) {
    body.push((id << 4) | (data.length - 1), ...data);
    for (let i = 0; i < paddingBetween; i++) body.push(0);
  }
  while (body.length % 4) body.push(0);
  return [0xbe, 0xde, 0, body.length / 4, ...body];
}

function packet(options: { csrcs?: number; extension?: number[]; payload?: number[]; padding?: number; marker?: boolean }): Buffer {
  const csrcs = options.csrcs ?? 0;
  const b0 = 0x80 | (options.padding ? 0x20 : 0) | (options.extension ? 0x10 : 0) | csrcs;
  const bytes = [b0, (options.marker ? 0x80 : 0) | 96, 0xab, 0xcd, 0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef];
  for (let i = 0; i < csrcs; i++) bytes.push(0, 0, 0, i + 1);
  if (options.extension) bytes.push(...options.extension);
  bytes.push(...(options.payload ?? [1, 2, 3, 4, 5]));
  if (options.padding) {
    for (let i = 0; i < options.padding - 1; i++) bytes.push(0);
    bytes.push(options.padding);
  }
  return Buffer.from(bytes);
}

describe('RtpView', () => {
  it('reads the fixed header, CSRCs, payload bounds and RTP padding', () => {
    const v = new RtpView();
    const p = packet({ csrcs: 2, payload: [9, 8, 7], padding: 4, marker: true });
    expect(v.parse(p)).toBe(true);
    expect(v).toMatchObject({ marker: true, payloadType: 96, sequenceNumber: 0xabcd, timestamp: 0x01020304, ssrc: 0xdeadbeef, csrcCount: 2 });
    expect(v.payloadOffset).toBe(20);
    expect(v.payloadLength).toBe(3);
    expect(v.paddingLength).toBe(4);
    expect([...p.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength)]).toEqual([9, 8, 7]);
    expect(v.extension(1)).toBe(false);
  });

  it('finds one-byte-form extensions across padding bytes, and stops at id 15', () => {
    const v = new RtpView();
    const ext = oneByteBlock([[1, [0xaa]], [3, [1, 2, 3]], [14, [7, 7]]], 1);
    expect(v.parse(packet({ extension: ext }))).toBe(true);
    expect(v.extensionProfile).toBe(0xbede);
    expect(v.payloadOffset).toBe(12 + ext.length);
    expect(v.extension(3)).toBe(true);
    expect([...v.buffer.subarray(v.extensionOffset, v.extensionOffset + v.extensionLength)]).toEqual([1, 2, 3]);
    expect(v.extension(14)).toBe(true);
    expect(v.extensionLength).toBe(2);
    expect(v.extension(2)).toBe(false);
    expect(v.extensionOffset).toBe(-1);
    // Id 15 ends the walk (RFC 8285 §4.2): what follows is not read.
    const stop = [0xbe, 0xde, 0, 2, 0xf0, 0x00, 0x21, 0x05, 0, 0, 0, 0];
    expect(v.parse(packet({ extension: stop }))).toBe(true);
    expect(v.extension(2)).toBe(false);
  });

  it('finds two-byte-form extensions (including a zero-length one)', () => {
    const v = new RtpView();
    const body = [0, 5, 2, 0xaa, 0xbb, 200, 0, 0];
    expect(v.parse(packet({ extension: [0x10, 0x00, 0, body.length / 4, ...body] }))).toBe(true);
    expect(v.extension(5)).toBe(true);
    expect([...v.buffer.subarray(v.extensionOffset, v.extensionOffset + v.extensionLength)]).toEqual([0xaa, 0xbb]);
    expect(v.extension(200)).toBe(true);
    expect(v.extensionLength).toBe(0);
    expect(v.extension(6)).toBe(false);
  });

  it('refuses malformed packets', () => {
    const v = new RtpView();
    expect(v.parse(Buffer.alloc(11, 0x80))).toBe(false); // shorter than the fixed header
    expect(v.parse(packet({ payload: [] }).fill(0x40, 0, 1))).toBe(false); // version 1
    const csrcBeyond = packet({ payload: [] });
    csrcBeyond[0] = 0x83; // 3 CSRCs, no bytes for them
    expect(v.parse(csrcBeyond)).toBe(false);
    const extensionBeyond = packet({ extension: [0xbe, 0xde, 0, 9, 0x10, 1, 0, 0], payload: [] });
    expect(v.parse(extensionBeyond)).toBe(false);
    const zeroPadding = packet({ padding: 2 });
    zeroPadding[zeroPadding.length - 1] = 0;
    expect(v.parse(zeroPadding)).toBe(false);
    const paddingBeyond = packet({ padding: 2, payload: [] });
    paddingBeyond[paddingBeyond.length - 1] = 40;
    expect(v.parse(paddingBeyond)).toBe(false);
    // An element running past the block: not found, and no read beyond it.
    expect(v.parse(packet({ extension: [0xbe, 0xde, 0, 1, 0x1f, 1, 2, 3] }))).toBe(true);
    expect(v.extension(1)).toBe(false);
  });

  it('agrees with werift on packets werift serialized (random headers, extensions, payloads)', () => {
    const v = new RtpView();
    for (let i = 0; i < 300; i++) {
      const r = randomBytes(16);
      const extensions = Array.from({ length: r[0]! % 4 }, (_, k) => ({ id: k * 3 + 1, payload: randomBytes(1 + (r[k + 1]! % 16)) }));
      const header = new RtpHeader({
        marker: (r[5]! & 1) === 1,
        payloadType: r[6]! & 0x7f,
        sequenceNumber: r.readUInt16BE(7),
        timestamp: r.readUInt32BE(9),
        ssrc: r.readUInt32BE(12),
        extension: extensions.length > 0,
        extensionProfile: 0xbede,
        extensions,
      });
      const payload = randomBytes(r[13]! * 4);
      const bytes = new RtpPacket(header, payload).serialize();
      expect(v.parse(bytes), `packet ${i}`).toBe(true);
      const w = RtpPacket.deSerialize(bytes);
      expect({ m: v.marker, pt: v.payloadType, seq: v.sequenceNumber, ts: v.timestamp, ssrc: v.ssrc }).toEqual({
        m: w.header.marker,
        pt: w.header.payloadType,
        seq: w.header.sequenceNumber,
        ts: w.header.timestamp,
        ssrc: w.header.ssrc,
      });
      expect(Buffer.from(bytes.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength)).equals(w.payload)).toBe(true);
      for (const ext of w.header.extensions) {
        expect(v.extension(ext.id)).toBe(true);
        expect(Buffer.from(bytes.subarray(v.extensionOffset, v.extensionOffset + v.extensionLength)).equals(ext.payload)).toBe(true);
      }
    }
  });

  it('unwraps RTX in place (RFC 4588): original sequence, media SSRC and payload type; extensions and marker kept', () => {
    const original = new RtpPacket(
      new RtpHeader({ marker: true, payloadType: 96, sequenceNumber: 0xfffe, timestamp: 1234, ssrc: 0x11111111, extension: true, extensionProfile: 0xbede, extensions: [{ id: 4, payload: Buffer.from([0x42]) }] }),
      Buffer.from([1, 2, 3, 4, 5, 6]),
    );
    const rtx = wrapRtx(original, 97, 77, 0x22222222).serialize();
    const v = new RtpView();
    expect(v.parse(rtx)).toBe(true);
    expect(v).toMatchObject({ ssrc: 0x22222222, payloadType: 97, sequenceNumber: 77 });
    expect(v.unwrapRtx(0x11111111, 96)).toBe(2);
    expect(v).toMatchObject({ ssrc: 0x11111111, payloadType: 96, sequenceNumber: 0xfffe, marker: true, payloadLength: 6 });
    expect([...v.buffer.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength)]).toEqual([1, 2, 3, 4, 5, 6]);
    // The bytes in the view are the original packet again: a fresh parse reads the same.
    const again = new RtpView();
    expect(again.parse(v.buffer, v.length)).toBe(true);
    expect(again).toMatchObject({ ssrc: 0x11111111, payloadType: 96, sequenceNumber: 0xfffe, marker: true, payloadLength: 6 });
    expect(again.extension(4)).toBe(true);
    expect(v.buffer[again.extensionOffset]).toBe(0x42);
    // Without the 2-byte OSN there is nothing to unwrap.
    expect(v.parse(packet({ payload: [1] }))).toBe(true);
    expect(v.unwrapRtx(1, 96)).toBe(-1);
  });
});
