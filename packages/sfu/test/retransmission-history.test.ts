// RetransmissionHistory and PayloadRing on crafted packets: stored headers and payloads come back
// by sequence number; a slot overwritten by a later packet (ring wrap) no longer answers for the old
// one; payloads are copies that the producer's consumers share (one copy per packet), and a payload
// the ring has moved past is gone, never answered with other bytes; a packet is resent at most once
// per round trip, and not once it is too old.

import { describe, expect, it } from 'vitest';
import { PayloadRing } from '../src/payload-ring.js';
import { OWN_RING_BYTES, RetransmissionHistory } from '../src/retransmission-history.js';

function put(h: RetransmissionHistory, seq: number, headerLength = 12, payload = Buffer.from([seq >> 8, seq & 0xff]), sentAt = 0): Buffer {
  const base = h.slotOffset(seq);
  h.headers.fill(seq & 0xff, base, base + headerLength);
  h.store(seq, headerLength, payload, sentAt);
  return payload;
}

describe('PayloadRing', () => {
  it('copies a payload once for every consumer that stores the same Buffer, and gives its bytes back', () => {
    const ring = new PayloadRing(4096);
    const payload = Buffer.from('first packet');
    const at = ring.store(payload);
    expect(ring.store(payload)).toBe(at); // a second consumer of the same packet: no second copy
    expect(ring.written).toBe(payload.length);
    payload.fill(0); // the receive buffer is reused or freed: the ring has its own copy
    expect(ring.view(at, 12)?.toString()).toBe('first packet');
    const other = Buffer.from('first packet'); // equal bytes, another packet: copied again
    expect(ring.store(other)).toBe(at + 12);
  });

  it('never splits a payload at the end of the buffer, and forgets what it wrote over', () => {
    const ring = new PayloadRing(4096);
    const a = ring.store(Buffer.alloc(3000, 1));
    const b = ring.store(Buffer.alloc(1500, 2)); // does not fit in the 1096 bytes left: starts again at 0
    expect(b).toBe(4096);
    expect(ring.view(b, 1500)?.every((x) => x === 2)).toBe(true);
    expect(ring.holds(a, 3000)).toBe(false); // its first 1500 bytes are b's now
    expect(ring.view(a, 3000)).toBeUndefined();
    const c = ring.store(Buffer.alloc(2000, 3));
    expect(ring.view(c, 2000)?.every((x) => x === 3)).toBe(true);
    ring.store(Buffer.alloc(596, 4)); // up to the end of the buffer: 4096 bytes written from b on
    expect(ring.view(b, 1500)?.every((x) => x === 2)).toBe(true);
    ring.store(Buffer.alloc(1, 5));
    expect(ring.view(b, 1500)).toBeUndefined(); // one byte more and b's first byte is gone
  });

  it('refuses a payload larger than the ring, and copy() gives a rewritable view that store() takes without copying', () => {
    const ring = new PayloadRing(2048);
    expect(ring.store(Buffer.alloc(3000))).toBe(-1);
    expect(ring.view(-1, 3000)).toBeUndefined();
    const original = Buffer.from([1, 2, 3, 4]);
    const copy = ring.copy(original);
    copy[0] = 9; // the consumer rewrites its descriptor
    expect(original[0]).toBe(1);
    expect(ring.owns(copy)).toBe(true);
    expect(ring.owns(original)).toBe(false);
    const written = ring.written;
    const at = ring.store(copy);
    expect(ring.written).toBe(written);
    expect([...ring.view(at, 4)!]).toEqual([9, 2, 3, 4]);
    expect(() => new PayloadRing(100)).toThrow(RangeError);
  });
});

describe('RetransmissionHistory', () => {
  it('returns the header bytes and a copy of the payload for a stored sequence number', () => {
    const h = new RetransmissionHistory(8, new PayloadRing(4096));
    const payload = put(h, 5, 20);
    expect(h.header(5)).toEqual(Buffer.alloc(20, 5));
    const held = h.payload(5)!;
    expect(held).toEqual(payload);
    expect(held).not.toBe(payload); // a copy in the ring: no reference to the packet's buffer is kept
    expect(held.buffer).not.toBe(payload.buffer);
    expect(h.header(6)).toBeUndefined();
    expect(h.payload(6)).toBeUndefined();
  });

  it('forgets a packet once its slot is taken by one size later, across the 16-bit wrap', () => {
    const h = new RetransmissionHistory(8, new PayloadRing(4096));
    for (const seq of [65530, 65531, 65535, 0, 1]) put(h, seq);
    for (const seq of [65530, 65531, 65535, 0, 1]) expect(h.header(seq)?.[0]).toBe(seq & 0xff);
    // 65536 % 8 === 0, so 65535 → 0 keeps consecutive slots; 65530 + 8 = 65538 → seq 2 takes 65530's slot.
    put(h, 2);
    expect(h.header(65530)).toBeUndefined();
    expect(h.header(2)?.[0]).toBe(2);
    expect(h.header(65531)?.[0]).toBe(65531 & 0xff);
    expect([...h.payload(65531)!]).toEqual([65531 >> 8, 65531 & 0xff]);
  });

  it('answers nothing for a packet whose payload the shared ring has moved past (other consumers kept it busy)', () => {
    const ring = new PayloadRing(4096);
    const h = new RetransmissionHistory(64, ring);
    put(h, 1, 12, Buffer.alloc(1000, 7));
    ring.store(Buffer.alloc(3000)); // the producer's other packets, stored by its other consumers
    expect(h.payload(1)?.every((x) => x === 7)).toBe(true);
    ring.store(Buffer.alloc(200));
    expect(h.header(1)).toBeUndefined();
    expect(h.payload(1)).toBeUndefined();
  });

  it('keeps a rewritten payload in its own ring, leaving the shared bytes as they were', () => {
    const shared = new PayloadRing(4096);
    const h = new RetransmissionHistory(8, shared);
    const original = Buffer.from([0x90, 0x80, 0x01, 0x02]);
    shared.store(original); // another consumer forwarded it as it is
    const rewritten = h.rewritable(original);
    rewritten[2] = 0x55;
    put(h, 3, 12, rewritten);
    expect([...h.payload(3)!]).toEqual([0x90, 0x80, 0x55, 0x02]);
    expect([...shared.view(0, 4)!]).toEqual([0x90, 0x80, 0x01, 0x02]);
    expect(shared.written).toBe(4);
    // Its own ring wraps like the shared one.
    for (let i = 0; i < OWN_RING_BYTES / 1024 + 1; i++) put(h, 4, 12, h.rewritable(Buffer.alloc(1024, i)));
    expect(h.payload(3)).toBeUndefined();
  });

  it('keeps headers only without a ring (audio), and clear() forgets every packet', () => {
    const audio = new RetransmissionHistory(1, null);
    put(audio, 1);
    expect(audio.payload(1)).toBeUndefined();
    const h = new RetransmissionHistory(4, new PayloadRing(4096));
    put(h, 1);
    h.clear();
    expect(h.header(1)).toBeUndefined();
    expect(h.payload(1)).toBeUndefined();
  });

  it('claims a resend at most once per interval, never for a packet sent too long ago or not held', () => {
    const h = new RetransmissionHistory(8, new PayloadRing(4096));
    put(h, 1, 12, undefined, 1000);
    expect(h.claimResend(1, 1100, 1000, 100)).toBe('claimed');
    expect(h.claimResend(1, 1150, 1000, 100)).toBe('answered'); // asked again within the interval: our answer is on its way
    expect(h.claimResend(1, 1200, 1000, 100)).toBe('claimed');
    expect(h.claimResend(1, 2001, 1000, 100)).toBe('gone'); // sent more than 1000 ms ago
    expect(h.claimResend(2, 1100, 1000, 100)).toBe('gone'); // never sent
    put(h, 9, 12, undefined, 1300); // takes 1's slot: a new packet, never resent
    expect(h.claimResend(1, 1400, 1000, 100)).toBe('gone');
    expect(h.claimResend(9, 1310, 1000, 100)).toBe('claimed');
  });

  it('refuses a size outside 1..65536', () => {
    expect(() => new RetransmissionHistory(0, null)).toThrow(RangeError);
    expect(() => new RetransmissionHistory(70000, null)).toThrow(RangeError);
  });
});
