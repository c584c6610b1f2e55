// SrtpSendPath: consumers' RTP through our SRTP onto the ICE pair's UDP socket. A real socket pair on
// loopback; werift's SrtpSession (the far end's keys) decrypts what arrives. Bursts larger than the
// send slots in one event-loop turn, slots reused across turns, and a closed socket.

import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { RTCDtlsTransport, SrtpSession as WeriftSrtpSession } from 'werift';
import { afterEach, describe, expect, it } from 'vitest';
import { OutgoingHeader } from '../../src/media/consumer.js';
import { SrtpSendPath } from '../../src/media/srtp-path.js';
import { SrtpProfile } from '../../src/media/srtp/index.js';
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

async function setup(profile: number) {
  const saltLength = profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
  const k = { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(saltLength), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(saltLength) };
  const sender = await bound();
  const receiver = await bound();
  const udp = { socket: sender, closed: false };
  const pair = { protocol: { type: 'stun', transport: udp }, remoteAddr: ['127.0.0.1', receiver.address().port], packetsSent: 0, bytesSent: 0 };
  const dtls = Object.create(RTCDtlsTransport.prototype) as RTCDtlsTransport;
  Object.assign(dtls, { iceTransport: { connection: { state: 'connected', nominated: pair, send: async () => {} } }, packetsSent: 0, bytesSent: 0 });
  const path = new SrtpSendPath(dtls, { profile, ...k });
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

describe.each([
  ['AES_CM_128_HMAC_SHA1_80', SrtpProfile.AES_CM_128_HMAC_SHA1_80],
  ['AEAD_AES_128_GCM', SrtpProfile.AEAD_AES_128_GCM],
])('SrtpSendPath, %s', (_name, profile) => {
  it('delivers bursts beyond the send slots intact, in one turn and across turns', async () => {
    const { path, received, failures, pair, dtls } = await setup(profile);
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
    expect(path.dump()).toMatchObject({ implementation: 'colloquy', packetsSent: 480 });
    expect(pair.packetsSent).toBe(480);
    expect(dtls.packetsSent).toBe(480);
  });

  it('sends nothing and does not throw once the socket is closed', async () => {
    const { path, received, failures, udp } = await setup(profile);
    path.sendRtp(payload(1), header(1));
    await waitUntil(() => received.length === 1, 5000, 'first packet');
    udp.socket.close();
    udp.closed = true;
    expect(() => path.sendRtp(payload(2), header(2))).not.toThrow();
    expect(path.dump().packetsSent).toBe(1);
    expect(failures).toEqual([]);
  });
});
