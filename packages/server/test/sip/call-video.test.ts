// CallVideo on its own, with a UDP socket as the phone and real ffmpeg making the grid (a session
// with no streams: a black 640×480 VP8 picture): the grid's RTP reaches the phone in the payload type
// it answered; a NACK from the phone is answered with the very packets it names; the phone's VP8
// goes on to the publisher, its keyframe gives the picture size, and a keyframe request from the
// SFU reaches the phone as an RTCP PLI naming its SSRC. A NACK about another SSRC is ignored.

import { createSocket, type Socket } from 'node:dgram';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionPublisher } from '../../src/session-audio/index.js';
import type { SessionManager } from '../../src/sessions/session-manager.js';
import { CallVideo, nackedSequenceNumbers } from '../../src/sip/call-video.js';
import { until } from './helpers.js';

const PHONE_PT = 100;
const PHONE_SSRC = 0x11223344;

/** A session manager that knows no session: the grid composes nothing (black), but runs. */
const noSessions = { live: () => undefined, liveSessions: () => [], observeSessions: () => () => {} } as unknown as SessionManager;

async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

/** A generic NACK (RFC 4585 §6.2.1) from `sender` about `media`, one FCI entry. */
function nack(sender: number, media: number, pid: number, blp: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = 0x81;
  b[1] = 205;
  b.writeUInt16BE(3, 2);
  b.writeUInt32BE(sender, 4);
  b.writeUInt32BE(media, 8);
  b.writeUInt16BE(pid, 12);
  b.writeUInt16BE(blp, 14);
  return b;
}

/** One VP8 RTP packet of a 176×144 keyframe's first partition start (only its header bytes matter here). */
function phoneKeyframe(seq: number): Buffer {
  const header = Buffer.from([0x80, 0x80 | PHONE_PT, seq >> 8, seq & 0xff, 0, 0, 0x10, 0, 0x11, 0x22, 0x33, 0x44]);
  const descriptor = Buffer.from([0x10]); // S=1, partition 0
  const frame = Buffer.from([0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 176, 0, 144, 0, 0, 0]); // keyframe, start code, 176×144
  return Buffer.concat([header, descriptor, frame]);
}

describe('CallVideo (a UDP socket as the phone, ffmpeg making the grid)', () => {
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  it('NACK bitmasks name PID and the 16 after it, across the wrap', () => {
    expect(nackedSequenceNumbers(Buffer.from([0xff, 0xfe, 0x00, 0x05]))).toEqual([65534, 65535, 1]);
    expect(nackedSequenceNumbers(Buffer.from([0, 10, 0, 0, 0, 20, 0x80, 0x00]))).toEqual([10, 20, 36]);
  });

  it('sends the grid, answers NACKs with the same packets, forwards the phone and asks it for keyframes', async () => {
    const phone = await udp();
    const stranger = await udp();
    closers.push(() => phone.close(), () => stranger.close());
    const received: Buffer[] = [];
    phone.on('message', (m) => received.push(m));
    const forwarded: Array<{ ssrc: number; sequenceNumber: number }> = [];
    const publisher = { onKeyframeRequest: null, sendVideoRtp: (p: { ssrc: number; sequenceNumber: number }) => forwarded.push(p) } as unknown as SessionPublisher;
    const video = await CallVideo.open({ bindAddress: '127.0.0.1', publisher, streams: null, secure: false, logger: pino({ level: 'silent' }) });
    closers.push(() => video.close());
    const { port } = video.offer;
    expect(port % 2).toBe(0);
    const dimensions: Array<{ width: number; height: number }> = [];
    video.on('dimensions', (d) => dimensions.push(d));
    const phonePort = phone.address().port;
    video.setRemote({ address: '127.0.0.1', port: phonePort, rtcpPort: phonePort, rtcpMux: true, payloadType: PHONE_PT, srtpKey: null, direction: 'sendrecv' });
    await video.startGrid(noSessions, 'no-such-session', 'own-stream');

    // The grid: RTP in the phone's payload type, from one SSRC.
    const media = () => received.filter((m) => (m[1]! & 0x7f) === PHONE_PT);
    await until(() => media().length >= 20, 'grid packets at the phone', 20_000);
    const ssrc = media()[0]!.readUInt32BE(8);
    expect(media().every((m) => m.readUInt32BE(8) === ssrc)).toBe(true);
    expect(video.stats.gridFailure).toBeNull();

    // The phone sends its video: latched, forwarded to the publisher, its picture size read.
    phone.send(phoneKeyframe(500), port, '127.0.0.1');
    await until(() => forwarded.length === 1, 'the phone packet at the publisher');
    expect(forwarded[0]).toMatchObject({ ssrc: PHONE_SSRC, sequenceNumber: 500 });
    expect(dimensions).toEqual([{ width: 176, height: 144 }]);

    // A NACK for two packets it got: both come again, byte for byte.
    const [a, b] = [media()[5]!, media()[6]!];
    const seqA = a.readUInt16BE(2);
    expect(b.readUInt16BE(2)).toBe((seqA + 1) & 0xffff);
    const before = received.length;
    phone.send(nack(PHONE_SSRC, ssrc, seqA, 0x0001), port, '127.0.0.1');
    await until(() => video.stats.packetsResentToPhone === 2, 'the resent packets');
    await until(() => received.slice(before).filter((m) => m.equals(a) || m.equals(b)).length === 2, 'the resent packets at the phone');
    expect(video.stats.packetsNackedByPhone).toBe(2);

    // A NACK about another SSRC than the grid's: nothing resent.
    stranger.send(nack(1, 0x0bad0bad, seqA, 0), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 300));
    expect(video.stats.packetsResentToPhone).toBe(2);

    // The SFU asks for a keyframe: a PLI (after an empty receiver report) naming the phone's SSRC.
    (publisher as unknown as { onKeyframeRequest: () => void }).onKeyframeRequest();
    const pli = await until(() => received.find((m) => m[1] === 201 && m.length >= 20 && m[9] === 206 && (m[8]! & 0x1f) === 1), 'the PLI at the phone');
    expect(pli.readUInt32BE(16)).toBe(PHONE_SSRC);
    expect(video.stats.keyframeRequestsToPhone).toBe(1);
  }, 60_000);
});
