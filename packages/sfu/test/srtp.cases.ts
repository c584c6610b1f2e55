// Our SRTP/SRTCP (media/srtp), the cases srtp.test.ts (native module) and srtp-js.test.ts (JavaScript
// path) both run: RFC 3711 Appendix B and RFC 7714 vectors, round trips with werift's
// own SrtpSession/SrtcpSession in both directions (AES-CM and GCM), the 16-bit sequence wrap
// (ROC), replay and old-packet rejection, forged packets.

import { randomBytes } from 'node:crypto';
import { RtpHeader, SrtcpSession, SrtpSession as WeriftSrtpSession } from 'werift';
import { describe, expect, it } from 'vitest';
import {
  AesCmKeystream,
  ReplayCheck,
  ReplayWindow,
  RolloverCounter,
  SrtcpContext,
  SrtpContext,
  SrtpError,
  SrtpProfile,
  SrtpSession,
  deriveSessionKeys,
  srtpPrf,
} from '../src/srtp/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RFC 3711 Appendix B', () => {
  it('B.2: AES-CM keystream', () => {
    const ks = new AesCmKeystream(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    ks.setIv(hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD'), 0, 0, 0);
    const zeros = Buffer.alloc(0x102 * 16);
    ks.apply(zeros, 0, zeros.length);
    const block = (i: number) => zeros.subarray(i * 16, i * 16 + 16).toString('hex').toUpperCase();
    expect(block(0)).toBe('E03EAD0935C95E80E166B16DD92B4EB4');
    expect(block(1)).toBe('D23513162B02D0F72A43A2FE4A5F97AB');
    expect(block(2)).toBe('41E95B3BB0A2E8DD477901E4FCA894C0');
  });

  it('B.2: keystream blocks FEFF..FF01 (counter carries across bytes 14 and 15)', () => {
    const ks = new AesCmKeystream(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    ks.setIv(hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD'), 0, 0, 0);
    const zeros = Buffer.alloc(0xff02 * 16);
    ks.apply(zeros, 0, zeros.length);
    const block = (i: number) => zeros.subarray(i * 16, i * 16 + 16).toString('hex').toUpperCase();
    expect(block(0xfeff)).toBe('EC8CDF7398607CB0F2D21675EA9EA1E4');
    expect(block(0xff00)).toBe('362B7C3C6773516318A077D7FC5073AE');
    expect(block(0xff01)).toBe('6A2CC3787889374FBEB4C81B17BA6C44');
  });

  it('B.3: key derivation (cipher key, salt, auth key)', () => {
    const key = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
    const salt = hex('0EC675AD498AFEEBB6960B3AABE6');
    expect(srtpPrf(key, salt, 0, 16).toString('hex').toUpperCase()).toBe('C61E7A93744F39EE10734AFE3FF7A087');
    expect(srtpPrf(key, salt, 2, 14).toString('hex').toUpperCase()).toBe('30CBBC08863D8C85D49DB34A9AE1');
    expect(srtpPrf(key, salt, 1, 94).toString('hex').toUpperCase()).toBe(
      'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE' +
        'E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25' +
        '6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2',
    );
    const keys = deriveSessionKeys(SrtpProfile.AES_CM_128_HMAC_SHA1_80, key, salt);
    expect(keys.rtp.key.toString('hex')).toBe('c61e7a93744f39ee10734afe3ff7a087');
    expect(keys.rtp.auth.toString('hex')).toBe('cebe321f6ff7716b6fd4ab49af256a156d38baa4');
    expect(keys.rtp.salt.toString('hex')).toBe('30cbbc08863d8c85d49db34a9ae1');
  });
});

describe('RFC 7714 AEAD_AES_128_GCM', () => {
  // Session key and salt given directly (sections 16 and 17 sit below key derivation).
  const keys = { key: hex('000102030405060708090a0b0c0d0e0f'), salt: hex('517569642070726f2071756f'), auth: Buffer.alloc(0) };
  const rtp = hex('8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573');
  const srtp = hex(
    '8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce',
  );
  const rtcp = hex('81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef');
  const srtcp = hex(
    '81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4',
  );
  const srtcpTagOnly = hex(
    '81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef841dd9683dd78ec92ae58790125f62b3000005d4',
  );

  it('16.1.1: SRTP protect and unprotect', () => {
    const out = Buffer.alloc(rtp.length + 16);
    const n = new SrtpContext(SrtpProfile.AEAD_AES_128_GCM, keys).protectPacket(rtp, out);
    expect(out.subarray(0, n).toString('hex')).toBe(srtp.toString('hex'));
    const packet = Buffer.from(srtp);
    const m = new SrtpContext(SrtpProfile.AEAD_AES_128_GCM, keys).unprotect(packet);
    expect(packet.subarray(0, m).toString('hex')).toBe(rtp.toString('hex'));
  });

  it('17.1: SRTCP protect (index 0x5d4) and unprotect; 17.3: E-bit clear (authenticated only)', () => {
    const ctx = new SrtcpContext(SrtpProfile.AEAD_AES_128_GCM, keys);
    ctx.setNextIndex(0x4d617273, 0x5d4);
    const out = Buffer.alloc(rtcp.length + 20);
    const n = ctx.protect(rtcp, out);
    expect(out.subarray(0, n).toString('hex')).toBe(srtcp.toString('hex'));
    for (const sample of [srtcp, srtcpTagOnly]) {
      const packet = Buffer.from(sample);
      const m = new SrtcpContext(SrtpProfile.AEAD_AES_128_GCM, keys).unprotect(packet);
      expect(packet.subarray(0, m).toString('hex')).toBe(rtcp.toString('hex'));
    }
  });

  it('rejects a GCM packet with one bit flipped', () => {
    const packet = Buffer.from(srtp);
    packet[20]! ^= 1;
    expect(new SrtpContext(SrtpProfile.AEAD_AES_128_GCM, keys).unprotect(packet)).toBe(SrtpError.AUTH);
  });
});

// ---- Round trips against werift's SrtpSession / SrtcpSession ----

type Profile = typeof SrtpProfile.AES_CM_128_HMAC_SHA1_80 | typeof SrtpProfile.AEAD_AES_128_GCM;

function keyPair(profile: number) {
  const saltLength = profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
  return { aKey: randomBytes(16), aSalt: randomBytes(saltLength), bKey: randomBytes(16), bSalt: randomBytes(saltLength) };
}

/** Ours as side A, werift as side B, with mirrored keys. */
function pair(profile: Profile) {
  const k = keyPair(profile);
  const ours = new SrtpSession({ profile, localMasterKey: k.aKey, localMasterSalt: k.aSalt, remoteMasterKey: k.bKey, remoteMasterSalt: k.bSalt });
  // werift is side B: its local keys are our remote ones.
  const keys = { localMasterKey: k.bKey, localMasterSalt: k.bSalt, remoteMasterKey: k.aKey, remoteMasterSalt: k.aSalt };
  return { ours, werift: new WeriftSrtpSession({ profile, keys }), weriftRtcp: new SrtcpSession({ profile, keys }) };
}

function header(seq: number, ssrc: number, ext = false): Buffer {
  const h = new RtpHeader({
    payloadType: 96,
    sequenceNumber: seq & 0xffff,
    timestamp: (seq * 3000) >>> 0,
    ssrc,
    marker: seq % 3 === 0,
    ...(ext ? { extensionProfile: 0xbede, extensions: [{ id: 3, payload: Buffer.from([1, 2, 3]) }] } : {}),
  });
  return h.serialize(h.serializeSize);
}

function payload(seq: number, length = 1200): Buffer {
  const p = Buffer.alloc(length);
  for (let i = 0; i < length; i++) p[i] = (seq * 7 + i) & 0xff;
  return p;
}

describe.each([
  ['AES_CM_128_HMAC_SHA1_80', SrtpProfile.AES_CM_128_HMAC_SHA1_80 as Profile],
  ['AEAD_AES_128_GCM', SrtpProfile.AEAD_AES_128_GCM as Profile],
])('interoperation with werift, %s', (_name, profile) => {
  it('ours protects → werift unprotects, across the 16-bit sequence wrap (ROC 0 → 1)', () => {
    const { ours, werift } = pair(profile);
    const ssrc = 0x11223344;
    const out = Buffer.alloc(1500);
    for (let seq = 65500; seq < 65536 + 60; seq++) {
      const h = header(seq, ssrc, seq % 2 === 0);
      const p = payload(seq, 100 + (seq % 1100));
      const n = ours.outbound.protect(h, p, out);
      expect(n).toBe(h.length + p.length + ours.outbound.tagLength);
      const plain = werift.decrypt(Buffer.from(out.subarray(0, n)));
      expect(plain.equals(Buffer.concat([h, p]))).toBe(true);
    }
    expect(ours.outbound.rolloverCounter(ssrc)).toBe(1);
  });

  it('werift protects → ours unprotects, across the wrap; replays and old packets rejected', () => {
    const { ours, werift } = pair(profile);
    const ssrc = 0xcafebabe;
    const sent = new Map<number, Buffer>();
    for (let seq = 65400; seq < 65536 + 60; seq++) {
      const h = header(seq, ssrc, seq % 2 === 1);
      const p = payload(seq, 50 + ((seq * 13) % 1150));
      const srtp = werift.encrypt(p, RtpHeader.deSerialize(h));
      sent.set(seq, Buffer.from(srtp));
      const packet = Buffer.from(srtp);
      const n = ours.inbound.unprotect(packet);
      expect(n).toBe(h.length + p.length);
      expect(packet.subarray(0, n).equals(Buffer.concat([h, p]))).toBe(true);
    }
    expect(ours.inbound.rolloverCounter(ssrc)).toBe(1);
    // The same packets again: replays, after the wrap and before it.
    expect(ours.inbound.unprotect(Buffer.from(sent.get(65536 + 59)!))).toBe(SrtpError.REPLAY);
    expect(ours.inbound.unprotect(Buffer.from(sent.get(65536 + 10)!))).toBe(SrtpError.REPLAY);
    // Older than the 128-packet window.
    expect(ours.inbound.unprotect(Buffer.from(sent.get(65450)!))).toBe(SrtpError.TOO_OLD);
    // A tampered packet is refused and does not move the window.
    const forged = Buffer.from(sent.get(65536 + 59)!);
    forged.writeUInt16BE(65536 + 60 - 65536, 2); // claims the next sequence number
    expect(ours.inbound.unprotect(forged)).toBe(SrtpError.AUTH);
    const next = Buffer.from(werift.encrypt(payload(60), RtpHeader.deSerialize(header(65536 + 60, ssrc))));
    expect(ours.inbound.unprotect(next)).toBe(12 + 1200); // the forgery did not take its index
  });

  it('reordered packets across the wrap get the right ROC (ours → ours)', () => {
    const { a, b } = ourPair(profile);
    const ssrc = 7;
    const packets = new Map<number, Buffer>();
    for (const seq of [65533, 65534, 65535, 0, 1, 2, 3]) {
      const out = Buffer.alloc(400);
      const n = a.outbound.protect(header(seq, ssrc), payload(seq, 300), out);
      packets.set(seq, out.subarray(0, n));
    }
    // 65535 and 1 arrive late; 65535 comes after 0 (ROC already 1) and must still use ROC 0.
    for (const seq of [65533, 65534, 0, 65535, 2, 1, 3]) {
      const packet = Buffer.from(packets.get(seq)!);
      const n = b.inbound.unprotect(packet);
      expect(n, `seq ${seq}`).toBe(12 + 300);
      expect(packet.subarray(12, n).equals(payload(seq, 300))).toBe(true);
    }
    expect(b.inbound.rolloverCounter(ssrc)).toBe(1);
  });

  it('a retransmission of a packet from before the wrap is protected with its old ROC', () => {
    const { a, b } = ourPair(profile);
    const out = Buffer.alloc(400);
    const packets: Buffer[] = [];
    for (const seq of [65534, 65535, 0, 1, 65535]) {
      const n = a.outbound.protect(header(seq, 9), payload(seq, 200), out);
      packets.push(Buffer.from(out.subarray(0, n)));
    }
    // The first copy of 65535 was lost; the resend (same ROC 0) must decrypt.
    for (const i of [0, 2, 3, 4]) expect(b.inbound.unprotect(packets[i]!)).toBe(12 + 200);
    expect(packets[4]!.subarray(12, 212).equals(payload(65535, 200))).toBe(true);
  });

  it('SRTCP: ours → werift and werift → ours; replayed SRTCP rejected', () => {
    const { ours, weriftRtcp } = pair(profile);
    const rtcp = hex('80c80006 12345678 83ab03a1 eb0f7e2f 00d2b2a0 00000bb8 000d9d80'.replace(/ /g, ''));
    rtcp.writeUInt16BE(rtcp.length / 4 - 1, 2);
    const out = Buffer.alloc(rtcp.length + 20);
    for (let i = 0; i < 3; i++) {
      const n = ours.outboundRtcp.protect(rtcp, out);
      expect(weriftRtcp.decrypt(Buffer.from(out.subarray(0, n))).equals(rtcp)).toBe(true);
    }
    const fromWerift = weriftRtcp.encrypt(rtcp);
    const first = Buffer.from(fromWerift);
    const n = ours.inboundRtcp.unprotect(first);
    expect(first.subarray(0, n).equals(rtcp)).toBe(true);
    expect(ours.inboundRtcp.unprotect(Buffer.from(fromWerift))).toBe(SrtpError.REPLAY);
    const forged = Buffer.from(weriftRtcp.encrypt(rtcp));
    forged[10]! ^= 0x40;
    expect(ours.inboundRtcp.unprotect(forged)).toBe(SrtpError.AUTH);
  });
});

function ourPair(profile: number) {
  const k = keyPair(profile);
  return {
    a: new SrtpSession({ profile, localMasterKey: k.aKey, localMasterSalt: k.aSalt, remoteMasterKey: k.bKey, remoteMasterSalt: k.bSalt }),
    b: new SrtpSession({ profile, localMasterKey: k.bKey, localMasterSalt: k.bSalt, remoteMasterKey: k.aKey, remoteMasterSalt: k.aSalt }),
  };
}

describe('AES_CM_128_HMAC_SHA1_32 (werift lacks it: ours both ways)', () => {
  it('carries a 4-byte tag on SRTP and a 10-byte tag on SRTCP, and round-trips across the wrap', () => {
    const { a, b } = ourPair(SrtpProfile.AES_CM_128_HMAC_SHA1_32);
    const out = Buffer.alloc(1500);
    for (let seq = 65530; seq < 65536 + 5; seq++) {
      const h = header(seq, 42);
      const n = a.outbound.protect(h, payload(seq), out);
      expect(n).toBe(12 + 1200 + 4);
      const packet = Buffer.from(out.subarray(0, n));
      expect(b.inbound.unprotect(packet)).toBe(12 + 1200);
      expect(packet.subarray(12, 1212).equals(payload(seq))).toBe(true);
    }
    const rtcp = hex('81c90007 0000002a 11223344 00000000 00000000 00000000 00000000 00000000'.replace(/ /g, ''));
    const n = a.outboundRtcp.protect(rtcp, out);
    expect(n).toBe(rtcp.length + 4 + 10);
    const packet = Buffer.from(out.subarray(0, n));
    expect(b.inboundRtcp.unprotect(packet)).toBe(rtcp.length);
    expect(packet.subarray(0, rtcp.length).equals(rtcp)).toBe(true);
    // Tag failure with a 32-bit tag.
    const bad = Buffer.from(out.subarray(0, a.outbound.protect(header(9, 42), payload(9), out)));
    bad[bad.length - 1]! ^= 1;
    expect(b.inbound.unprotect(bad)).toBe(SrtpError.AUTH);
  });
});

describe('rollover counter (RFC 3711 Appendix A)', () => {
  it('guesses ROC - 1, ROC and ROC + 1 relative to s_l', () => {
    const r = new RolloverCounter();
    expect(r.estimate(65000)).toBe(65000);
    r.update(65000);
    expect(r.estimate(10)).toBe(0x10000 + 10); // wrapped forward
    r.update(0x10000 + 10);
    expect(r.roc).toBe(1);
    expect(r.estimate(65010)).toBe(65010); // late packet from ROC 0
    r.update(65010);
    expect(r.roc).toBe(1); // a late packet does not move the ROC back
    expect(r.highestSeq).toBe(10);
    const fresh = new RolloverCounter();
    fresh.update(5);
    expect(fresh.estimate(65530)).toBe(-1); // would be before the stream began
  });
});

describe('replay window (RFC 3711 §3.3.2)', () => {
  it('accepts new and late-in-window indexes once, refuses replays and indexes below the window', () => {
    const w = new ReplayWindow();
    for (const i of [100, 102, 101, 230]) {
      expect(w.check(i)).toBe(ReplayCheck.NEW);
      w.accept(i);
    }
    expect(w.check(102)).toBe(ReplayCheck.TOO_OLD); // 230 - 102 = 128: outside a 128 window
    expect(w.check(103)).toBe(ReplayCheck.NEW); // inside, never seen
    expect(w.check(230)).toBe(ReplayCheck.REPLAYED);
    w.accept(103);
    expect(w.check(103)).toBe(ReplayCheck.REPLAYED);
    w.accept(1000); // a long jump clears everything
    expect(w.check(999)).toBe(ReplayCheck.NEW);
    expect(w.check(1000)).toBe(ReplayCheck.REPLAYED);
  });
});
