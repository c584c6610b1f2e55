// RTX retransmissions towards subscribers (RFC 4588), on crafted bytes: the RTX packet keeps the
// original header's extensions and marker, takes the RTX payload type, sequence number and SSRC,
// and carries the original sequence number before the original payload. The original is untouched.

import { describe, expect, it } from 'vitest';
import { rtxPacket } from '../src/consumer.js';

describe('rtxPacket', () => {
  it('rewrites a copy of the header and prefixes the payload with the original sequence number', () => {
    // V=2, X=1, marker, PT 96, seq 0xfffe, ts 0x01020304, SSRC 0x11223344, one-byte extension block (id 3, 1 byte)
    const header = Buffer.from([0x90, 0x80 | 96, 0xff, 0xfe, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0xbe, 0xde, 0, 1, 0x30, 0xaa, 0, 0]);
    const original = Buffer.from(header);
    const payload = Buffer.from([9, 8, 7]);
    const { header: h, payload: p } = rtxPacket(header, payload, 0xfffe, 97, 5, 0xdeadbeef);
    expect(h[0]).toBe(0x90);
    expect(h[1]).toBe(0x80 | 97); // marker kept, RTX payload type
    expect(h.readUInt16BE(2)).toBe(5);
    expect(h.readUInt32BE(4)).toBe(0x01020304); // timestamp kept
    expect(h.readUInt32BE(8)).toBe(0xdeadbeef);
    expect(h.subarray(12)).toEqual(original.subarray(12)); // extensions kept
    expect([...p]).toEqual([0xff, 0xfe, 9, 8, 7]);
    expect(header).toEqual(original);
    // Without the marker the bit stays clear.
    const plain = Buffer.from(original);
    plain[1] = 96;
    expect(rtxPacket(plain, payload, 1, 97, 6, 1).header[1]).toBe(97);
  });
});
