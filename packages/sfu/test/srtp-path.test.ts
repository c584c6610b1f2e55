// SrtpSendPath: consumers' RTP through our SRTP onto the ICE pair's UDP socket. A real socket pair on
// loopback; werift's SrtpSession (the far end's keys) decrypts what arrives. Bursts larger than the
// send slots in one event-loop turn, slots reused across turns, and a closed socket. And useOurSrtp's
// RTCP encryptor taking over from werift's mid-stream.

import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { RTCDtlsTransport, SrtcpSession as WeriftSrtcpSession, SrtpSession as WeriftSrtpSession } from 'werift';
import { afterEach, describe, expect, it } from 'vitest';
import { OutgoingHeader } from '../src/consumer.js';
import { nativePacket, type NativePacket } from '../src/native.js';
import { SrtpSendPath, useOurSrtp } from '../src/srtp-path.js';
import { SrtpProfile, SrtpSession } from '../src/srtp/index.js';
import { waitUntil } from '@colloquy/testing/media';

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) {
    try {
      s.close();
    } catch {
      // already closed by the test
    }
  }
});

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

async function setup(profile: number, native: NativePacket | null) {
  const saltLength = profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
  const k = { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(saltLength), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(saltLength) };
  const sender = await bound();
  const receiver = await bound();
  const udp = { socket: sender, closed: false };
  const pair = { protocol: { type: 'stun', transport: udp }, remoteAddr: ['127.0.0.1', receiver.address().port], packetsSent: 0, bytesSent: 0 };
  const dtls = Object.create(RTCDtlsTransport.prototype) as RTCDtlsTransport;
  Object.assign(dtls, { iceTransport: { connection: { state: 'connected', nominated: pair, send: async () => {} } }, packetsSent: 0, bytesSent: 0 });
  const path = new SrtpSendPath(dtls, { profile, ...k }, native);
  const far = new WeriftSrtpSession({
    profile: profile as 1,
    keys: { localMasterKey: k.remoteMasterKey, localMasterSalt: k.remoteMasterSalt, remoteMasterKey: k.localMasterKey, remoteMasterSalt: k.localMasterSalt },
  });
  const received: Buffer[] = [];
  const failures: string[] = [];
  receiver.on('message', (m: Buffer) => {
    try {
      received.push(far.decrypt(m));
    } catch (err) {
      failures.push((err as Error).message);
    }
  });
  return { path, received, failures, udp, pair, dtls };
}

function header(seq: number): OutgoingHeader {
  const h = new OutgoingHeader();
  h.ssrc = 0x1234;
  h.sequenceNumber = seq;
  h.bytes = Buffer.from([0x80, 96, seq >> 8, seq & 0xff, 0, 0, 0, seq & 0xff, 0, 0, 0x12, 0x34]);
  return h;
}
const payload = (seq: number) => Buffer.alloc(1000, seq & 0xff);

// Each profile with the native module's sendto() and with Node's dgram send (its send slots).
describe.each([
  ['AES_CM_128_HMAC_SHA1_80, native send', SrtpProfile.AES_CM_128_HMAC_SHA1_80, nativePacket],
  ['AEAD_AES_128_GCM, native send', SrtpProfile.AEAD_AES_128_GCM, nativePacket],
  ['AES_CM_128_HMAC_SHA1_80, dgram send', SrtpProfile.AES_CM_128_HMAC_SHA1_80, null],
  ['AEAD_AES_128_GCM, dgram send', SrtpProfile.AEAD_AES_128_GCM, null],
])('SrtpSendPath, %s', (name, profile, native) => {
  it('is built where this suite runs (npm test builds it)', () => {
    if (name.endsWith('native send')) expect(native).not.toBeNull();
  });

  it('delivers bursts beyond the send slots intact, in one turn and across turns', async () => {
    const { path, received, failures, pair, dtls } = await setup(profile, native);
    // 48 sends per turn: 32 from the slots, 16 in fresh buffers; 10 turns reuse the slots. Each
    // turn waits for its packets so the receiving socket's buffer never overflows.
    let seq = 0;
    for (let turn = 0; turn < 10; turn++) {
      for (let i = 0; i < 48; i++, seq++) path.sendRtp(payload(seq), header(seq));
      await waitUntil(() => received.length + failures.length === seq, 5000, `turn ${turn}`);
    }
    expect(failures).toEqual([]);
    const seqs = received.map((p) => p.readUInt16BE(2)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 480 }, (_, i) => i));
    for (const p of received) expect(p.subarray(12).equals(payload(p.readUInt16BE(2)))).toBe(true);
    expect(path.dump()).toMatchObject({ implementation: 'colloquy', packetsSent: 480, nativeSent: native === null ? 0 : 480 });
    expect(pair.packetsSent).toBe(480);
    expect(dtls.packetsSent).toBe(480);
  });

  it('sends nothing and does not throw once the socket is closed', async () => {
    const { path, received, failures, udp } = await setup(profile, native);
    path.sendRtp(payload(1), header(1));
    await waitUntil(() => received.length === 1, 5000, 'first packet');
    udp.socket.close();
    udp.closed = true;
    expect(() => path.sendRtp(payload(2), header(2))).not.toThrow();
    expect(path.dump().packetsSent).toBe(1);
    expect(failures).toEqual([]);
  });

  it('sends nothing once the socket is closed, before its transport says so', async () => {
    const { path, received, udp } = await setup(profile, native);
    path.sendRtp(payload(1), header(1));
    await waitUntil(() => received.length === 1, 5000, 'first packet');
    // The socket's descriptor number may be reused at once: the native send must not write to it.
    udp.socket.close();
    expect(() => path.sendRtp(payload(2), header(2))).not.toThrow();
    expect(path.dump().packetsSent).toBe(1);
  });
});

describe.each([
  ['AES_CM_128_HMAC_SHA1_80', SrtpProfile.AES_CM_128_HMAC_SHA1_80],
  ['AEAD_AES_128_GCM', SrtpProfile.AEAD_AES_128_GCM],
])('useOurSrtp: the RTCP werift sends, %s', (_name, profile) => {
  it('protects with ours, each SSRC continuing the SRTCP index werift started, accepted by the far end', () => {
    const saltLength = profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
    const k = { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(saltLength), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(saltLength) };
    const weriftConfig = { profile: profile as 1, keys: k };
    const dtls = Object.create(RTCDtlsTransport.prototype) as RTCDtlsTransport;
    Object.assign(dtls, { srtp: new WeriftSrtpSession(weriftConfig), srtcp: new WeriftSrtcpSession(weriftConfig) });
    // The far end: our own session with the keys swapped, whose inbound SRTCP refuses replays.
    const far = new SrtpSession({ profile, localMasterKey: k.remoteMasterKey, localMasterSalt: k.remoteMasterSalt, remoteMasterKey: k.localMasterKey, remoteMasterSalt: k.localMasterSalt });
    const rtcp = (ssrc: number, n: number) => {
      const b = Buffer.alloc(28, n);
      b.writeUInt8(0x81, 0);
      b.writeUInt8(201, 1); // RR with one report block
      b.writeUInt16BE(6, 2);
      b.writeUInt32BE(ssrc, 4);
      return b;
    };
    const indexOf = (p: Buffer) => p.readUInt32BE(profile === SrtpProfile.AEAD_AES_128_GCM ? p.length - 4 : p.length - 4 - 10) & 0x7fffffff;
    const sent: Buffer[] = [];
    // werift sends 3 packets for SSRC A before we take over (indexes 1, 2, 3).
    for (let i = 0; i < 3; i++) sent.push(dtls.srtcp.encrypt(rtcp(0xa, i)));
    const counters = useOurSrtp(dtls, new SrtpSession({ profile, ...k }));
    for (let i = 3; i < 6; i++) sent.push(dtls.srtcp.encrypt(rtcp(0xa, i)));
    sent.push(dtls.srtcp.encrypt(rtcp(0xb, 9))); // an SSRC werift never sent for: ours starts at 0
    expect(sent.map(indexOf)).toEqual([1, 2, 3, 4, 5, 6, 0]);
    expect(counters.rtcpSent).toBe(4);
    sent.forEach((p, i) => {
      const copy = Buffer.from(p);
      const n = far.inboundRtcp.unprotect(copy);
      expect(n, `packet ${i}`).toBe(28);
      expect(copy.subarray(0, n).equals(rtcp(i < 6 ? 0xa : 0xb, i < 6 ? i : 9))).toBe(true);
    });
    // A replay of a packet werift sent is still refused after the switch.
    expect(far.inboundRtcp.unprotect(Buffer.from(sent[4]!))).toBeLessThan(0);
    // What we send decrypts with werift's own SRTCP too.
    const weriftFar = new WeriftSrtcpSession({ profile: profile as 1, keys: { localMasterKey: k.remoteMasterKey, localMasterSalt: k.remoteMasterSalt, remoteMasterKey: k.localMasterKey, remoteMasterSalt: k.localMasterSalt } });
    expect(weriftFar.decrypt(Buffer.from(sent[5]!)).equals(rtcp(0xa, 5))).toBe(true);
  });
});

describe.each([
  ['native send', nativePacket],
  ['dgram send', null],
])('sendRtcp, %s', (name, native) => {
  it('sends RTCP bytes protected by ours at once on the pair (one compound), counted, which the far end decrypts', async () => {
    const profile = SrtpProfile.AEAD_AES_128_GCM;
    const k = { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(12), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(12) };
    const sender = await bound();
    const receiver = await bound();
    const pair = { protocol: { type: 'stun', transport: { socket: sender, closed: false } }, remoteAddr: ['127.0.0.1', receiver.address().port], packetsSent: 0, bytesSent: 0 };
    const weriftConfig = { profile: profile as 1, keys: k };
    const dtls = Object.create(RTCDtlsTransport.prototype) as RTCDtlsTransport;
    Object.assign(dtls, {
      iceTransport: { connection: { state: 'connected', nominated: pair, send: async () => {} } },
      packetsSent: 0,
      bytesSent: 0,
      srtp: new WeriftSrtpSession(weriftConfig),
      srtcp: new WeriftSrtcpSession(weriftConfig),
    });
    const path = new SrtpSendPath(dtls, { profile, ...k }, native);
    path.counters = useOurSrtp(dtls, path.session);
    const far = new SrtpSession({ profile, localMasterKey: k.remoteMasterKey, localMasterSalt: k.remoteMasterSalt, remoteMasterKey: k.localMasterKey, remoteMasterSalt: k.localMasterSalt });
    const got: Buffer[] = [];
    receiver.on('message', (m: Buffer) => {
      const n = far.inboundRtcp.unprotect(m);
      if (n > 0) got.push(Buffer.from(m.subarray(0, n)));
    });
    const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 7]);
    const remb = Buffer.from([0x8f, 206, 0, 5, 0, 0, 0, 7, 0, 0, 0, 0, 0x52, 0x45, 0x4d, 0x42, 1, 0x0c, 0x35, 0x00, 0, 0, 0x12, 0x34]);
    expect(path.sendRtcp([rr, remb])).toBe(true);
    await waitUntil(() => got.length === 1, 5000, 'the compound');
    expect(got[0]!.equals(Buffer.concat([rr, remb]))).toBe(true);
    expect(path.counters.rtcpSent).toBe(1);
    expect(dtls.packetsSent).toBe(1);
    expect(pair.packetsSent).toBe(1);
    // No pair that is plain UDP (TURN, ICE-TCP): the caller falls back to werift's send.
    pair.protocol.type = 'turn';
    const other = { ...pair };
    (dtls.iceTransport as unknown as { connection: { nominated: unknown } }).connection.nominated = other;
    expect(path.sendRtcp([rr])).toBe(false);
  });
});

describe('SrtpSendPath, native send with a full socket buffer', () => {
  it("hands EAGAIN's packet to Node's queue, and the ones after it until that queue is done: nothing lost, order kept", async () => {
    if (nativePacket === null) throw new Error('native module not built');
    const real = nativePacket;
    let calls = 0;
    // The socket buffer is "full" at the 4th native send.
    const flaky: NativePacket = { ...real, udpSend: (fd, address, data, length) => (++calls === 4 ? -11 : real.udpSend(fd, address, data, length)) };
    const { path, received, failures } = await setup(SrtpProfile.AEAD_AES_128_GCM, flaky);
    for (let seq = 0; seq < 10; seq++) path.sendRtp(payload(seq), header(seq));
    await waitUntil(() => received.length === 10, 5000, 'first ten');
    for (let seq = 10; seq < 20; seq++) path.sendRtp(payload(seq), header(seq));
    await waitUntil(() => received.length === 20, 5000, 'all twenty');
    expect(failures).toEqual([]);
    expect(received.map((p) => p.readUInt16BE(2))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // 0-2 natively; 3 refused and handed to Node's queue, 4-9 after it (the same turn); 10-19
    // natively again once Node's sends were done.
    expect(path.dump()).toMatchObject({ packetsSent: 20, nativeSent: 13 });
  });
});
