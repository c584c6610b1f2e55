// RetransmissionHistory on crafted packets: stored headers and payloads come back by sequence
// number; a slot overwritten by a later packet (ring wrap) no longer answers for the old one.

import { describe, expect, it } from 'vitest';
import { RetransmissionHistory } from '../src/retransmission-history.js';

function put(h: RetransmissionHistory, seq: number, headerLength = 12): Buffer {
  const base = h.slotOffset(seq);
  h.headers.fill(seq & 0xff, base, base + headerLength);
  const payload = Buffer.from([seq >> 8, seq & 0xff]);
  h.store(seq, headerLength, payload);
  return payload;
}

describe('RetransmissionHistory', () => {
  it('returns the header bytes and the same payload buffer for a stored sequence number', () => {
    const h = new RetransmissionHistory(8);
    const payload = put(h, 5, 20);
    expect(h.header(5)).toEqual(Buffer.alloc(20, 5));
    expect(h.payload(5)).toBe(payload); // shared, not copied
    expect(h.header(6)).toBeUndefined();
    expect(h.payload(6)).toBeUndefined();
  });

  it('forgets a packet once its slot is taken by one size later, across the 16-bit wrap', () => {
    const h = new RetransmissionHistory(8);
    for (const seq of [65530, 65531, 65535, 0, 1]) put(h, seq);
    for (const seq of [65530, 65531, 65535, 0, 1]) expect(h.header(seq)?.[0]).toBe(seq & 0xff);
    // 65536 % 8 === 0, so 65535 → 0 keeps consecutive slots; 65530 + 8 = 65538 → seq 2 takes 65530's slot.
    put(h, 2);
    expect(h.header(65530)).toBeUndefined();
    expect(h.header(2)?.[0]).toBe(2);
    expect(h.header(65531)?.[0]).toBe(65531 & 0xff);
  });

  it('clear() drops every payload reference', () => {
    const h = new RetransmissionHistory(4);
    put(h, 1);
    h.clear();
    expect(h.header(1)).toBeUndefined();
    expect(h.payload(1)).toBeUndefined();
  });

  it('refuses a size outside 1..65536', () => {
    expect(() => new RetransmissionHistory(0)).toThrow(RangeError);
    expect(() => new RetransmissionHistory(70000)).toThrow(RangeError);
  });
});
