// The receive path's units on crafted packets: RFC 3550 receive statistics (sequence wrap, loss and
// fraction lost, jitter per A.8, restarts, LSR/DLSR), the NACK generator (holes, retries, recovery,
// age, jumps), the RTCP bytes we write (parsed back by werift's RtcpPacketConverter as the oracle),
// the router (SDP SSRCs, mid/rid/repaired-rid binding, RTX unwrapped in place), and the path that
// ties them on a stand-in of werift's ICE connection with real SRTP.

import { randomBytes } from 'node:crypto';
import { waitUntil } from '@colloquy/testing/media';
import { pino } from 'pino';
import { GenericNack, ReceiverEstimatedMaxBitrate, RtcpPacketConverter, RtcpPayloadSpecificFeedback, RtcpRrPacket, RtcpTransportLayerFeedback, type RTCDtlsTransport } from 'werift';
import { describe, expect, it } from 'vitest';
import { ReceivePath } from '../src/receive-path.js';
import { SrtpProfile, SrtpSession } from '../src/srtp/index.js';
import { MAX_AGE_MS, MAX_RETRIES, NackGenerator, RETRY_INTERVAL_MS } from '../src/nack-generator.js';
import { ReceiveRouter, type ReceiveTrack } from '../src/receive-router.js';
import { compactNtpOf, ReceiveStats, type ReportBlock } from '../src/receive-stats.js';
import { writeGenericNack, writeReceiverReport, writeRemb } from '../src/rtcp-writer.js';
import { RtpView } from '../src/rtp-view.js';

const block = (): ReportBlock => ({ ssrc: 0, fractionLost: 0, packetsLost: 0, highestSequence: 0, jitter: 0, lsr: 0, dlsr: 0 });

describe('ReceiveStats', () => {
  it('counts packets, the extended highest sequence across the 16-bit wrap, and no loss in order', () => {
    const s = new ReceiveStats(0x1234, 90000);
    for (const seq of [65533, 65534, 65535, 0, 1, 2]) s.receive(seq, 0, 0);
    expect(s.packets).toBe(6);
    expect(s.extendedHighestSequence).toBe(0x10000 + 2);
    expect(s.expected).toBe(6);
    expect(s.report(0, block())).toMatchObject({ ssrc: 0x1234, fractionLost: 0, packetsLost: 0, highestSequence: 0x10002 });
  });

  it('gives cumulative loss and the fraction lost per report interval (A.3)', () => {
    const s = new ReceiveStats(1, 90000);
    for (let seq = 1; seq <= 10; seq++) if (seq !== 4 && seq !== 5) s.receive(seq, 0, 0);
    expect(s.report(0, block())).toMatchObject({ packetsLost: 2, fractionLost: Math.floor((2 * 256) / 10) });
    for (let seq = 11; seq <= 20; seq++) s.receive(seq, 0, 0);
    expect(s.report(0, block())).toMatchObject({ packetsLost: 2, fractionLost: 0 }); // nothing lost since
    s.receive(4, 0, 0); // a late one: the cumulative count goes down, the fraction stays 0
    for (let seq = 21; seq <= 24; seq++) s.receive(seq, 0, 0);
    expect(s.report(0, block())).toMatchObject({ packetsLost: 1, fractionLost: 0 });
  });

  it('goes negative with duplicates, as RFC 3550 allows', () => {
    const s = new ReceiveStats(1, 48000);
    for (const seq of [1, 2, 2, 3, 3]) s.receive(seq, 0, 0);
    expect(s.packetsLost).toBe(-2);
    const b = s.report(0, block());
    expect(b.packetsLost).toBe(-2);
    expect(b.fractionLost).toBe(0);
  });

  it('takes a jump of more than MAX_DROPOUT as a restart only when the next packet follows it', () => {
    const s = new ReceiveStats(1, 90000);
    for (let seq = 100; seq < 110; seq++) s.receive(seq, 0, 0);
    s.receive(30000, 0, 0); // alone: ignored
    expect(s.extendedHighestSequence).toBe(109);
    expect(s.packets).toBe(10);
    s.receive(40000, 0, 0);
    s.receive(40001, 0, 0); // 40000 then 40001: a restart at 40001
    expect(s.extendedHighestSequence).toBe(40001);
    expect(s.packets).toBe(1);
    expect(s.packetsLost).toBe(0);
  });

  it('computes interarrival jitter per RFC 3550 A.8, leaving retransmissions out', () => {
    const s = new ReceiveStats(1, 90000);
    // 30 fps, arriving exactly on time: jitter 0.
    for (let i = 0; i < 10; i++) s.receive(i, i * 3000, i * (1000 / 30));
    expect(s.jitter).toBeCloseTo(0, 6);
    // One frame 10 ms late: D = 900 units, J = 900/16; the next on time: D = 900 again.
    s.receive(10, 30000, 10 * (1000 / 30) + 10);
    expect(s.jitter).toBeCloseTo(900 / 16, 6);
    s.receive(11, 33000, 11 * (1000 / 30));
    const expected = 900 / 16 + (900 - 900 / 16) / 16;
    expect(s.jitter).toBeCloseTo(expected, 6);
    // A retransmission arriving 500 ms late changes nothing.
    s.receive(5, 15000, 12 * (1000 / 30) + 500, true);
    expect(s.jitter).toBeCloseTo(expected, 6);
    expect(s.report(0, block()).jitter).toBe(Math.floor(expected));
  });

  it('gives LSR (middle 32 bits of the SR NTP time) and DLSR in 1/65536 s', () => {
    const s = new ReceiveStats(7, 90000);
    s.receive(1, 0, 0);
    expect(s.report(0, block())).toMatchObject({ lsr: 0, dlsr: 0 });
    const ntp = (0x11223344n << 32n) | 0x55667788n;
    expect(compactNtpOf(ntp)).toBe(0x33445566);
    s.senderReport(compactNtpOf(ntp), 1000);
    expect(s.report(1500, block())).toMatchObject({ lsr: 0x33445566, dlsr: 32768 });
  });
});

describe('RTCP bytes (werift parses them back)', () => {
  it('a receiver report with its blocks', () => {
    const blocks: ReportBlock[] = [
      { ssrc: 0xdeadbeef, fractionLost: 51, packetsLost: 1234, highestSequence: 0x1fffe, jitter: 77, lsr: 0x33445566, dlsr: 32768 },
      { ssrc: 2, fractionLost: 0, packetsLost: -3, highestSequence: 5, jitter: 0, lsr: 0, dlsr: 0 },
    ];
    const bytes = writeReceiverReport(0xabcdef01, blocks);
    expect(bytes.length).toBe(8 + 48);
    const [rr] = RtcpPacketConverter.deSerialize(bytes);
    expect(rr).toBeInstanceOf(RtcpRrPacket);
    const packet = rr as RtcpRrPacket;
    expect(packet.ssrc).toBe(0xabcdef01);
    expect(packet.reports.map((r) => ({ ssrc: r.ssrc, fractionLost: r.fractionLost, highestSequence: r.highestSequence, jitter: r.jitter, lsr: r.lsr, dlsr: r.dlsr }))).toEqual(
      blocks.map(({ packetsLost: _, ...rest }) => rest),
    );
    expect(packet.reports[0]!.packetsLost).toBe(1234);
    // werift reads the 24-bit field unsigned: -3 is 2^24 - 3 there.
    expect(packet.reports[1]!.packetsLost).toBe(0x1000000 - 3);
  });

  it('a generic NACK with PID/BLP pairs, across the wrap', () => {
    const lost = [65530, 65531, 65535, 0, 9, 10, 40, 41, 57];
    const bytes = writeGenericNack(0x11, 0x22, lost)!;
    const [fb] = RtcpPacketConverter.deSerialize(bytes);
    expect(fb).toBeInstanceOf(RtcpTransportLayerFeedback);
    const nack = (fb as RtcpTransportLayerFeedback).feedback as GenericNack;
    expect(nack).toBeInstanceOf(GenericNack);
    expect(nack.senderSsrc).toBe(0x11);
    expect(nack.mediaSourceSsrc).toBe(0x22);
    // werift adds BLP bits to the PID without wrapping (65530 + 6 reads as 65536): compare mod 2^16.
    expect(nack.lost.map((n) => n & 0xffff).sort((a, b) => ((a + 0x8000) & 0xffff) - ((b + 0x8000) & 0xffff))).toEqual(lost);
    // 65530 covers up to 65530+16 = 10 (wrapping); 40 covers 41 and 56, not 57.
    expect(bytes.length).toBe(12 + 4 * 3);
    expect(writeGenericNack(1, 2, [])).toBeNull();
  });
});

describe('REMB bytes (werift parses them back)', () => {
  it('a REMB with its bitrate (18-bit mantissa, exponent, rounded down) and SSRCs', () => {
    for (const bitrate of [0, 150_000, 1_500_000, 2_500_000, 123_456_789]) {
      const bytes = writeRemb(0xabcdef01, bitrate, [0x1111, 0x2222]);
      expect(bytes.length).toBe(20 + 8);
      const [packet] = RtcpPacketConverter.deSerialize(bytes);
      expect(packet).toBeInstanceOf(RtcpPayloadSpecificFeedback);
      const remb = (packet as RtcpPayloadSpecificFeedback).feedback as ReceiverEstimatedMaxBitrate;
      expect(remb).toBeInstanceOf(ReceiverEstimatedMaxBitrate);
      expect(remb.senderSsrc).toBe(0xabcdef01);
      expect(remb.ssrcFeedbacks).toEqual([0x1111, 0x2222]);
      const read = Number(remb.bitrate);
      expect(read).toBeLessThanOrEqual(bitrate);
      // The mantissa keeps 18 bits: within 1/2^17 of the value.
      expect(bitrate - read).toBeLessThanOrEqual(Math.ceil(bitrate / 2 ** 17));
    }
  });
});

describe('NackGenerator', () => {
  it('asks for a hole at the next collection, again after RETRY_INTERVAL_MS, and stops when it arrives', () => {
    const g = new NackGenerator(5);
    for (const seq of [1, 2, 5, 6]) g.receive(seq, 0);
    expect(g.missingCount).toBe(2);
    const out: number[] = [];
    expect(g.collect(10, out)).toBe(2);
    expect(out).toEqual([3, 4]);
    out.length = 0;
    expect(g.collect(10 + RETRY_INTERVAL_MS - 1, out)).toBe(0);
    g.receive(3, 50); // retransmitted
    expect(g.recovered).toBe(1);
    expect(g.collect(10 + RETRY_INTERVAL_MS, out)).toBe(1);
    expect(out).toEqual([4]);
    expect(g.requested).toBe(3);
  });

  it('gives up after MAX_RETRIES requests or MAX_AGE_MS, and after a jump', () => {
    const g = new NackGenerator(5);
    g.receive(1, 0);
    g.receive(3, 0);
    const out: number[] = [];
    let t = 0;
    for (let i = 0; i < MAX_RETRIES + 3; i++, t += RETRY_INTERVAL_MS) g.collect(t, out);
    expect(out).toEqual(new Array(Math.min(MAX_RETRIES, Math.ceil(MAX_AGE_MS / RETRY_INTERVAL_MS) + 1)).fill(2));
    expect(g.missingCount).toBe(0);
    expect(g.abandoned).toBe(1);
    // A jump of thousands is a restart: nothing to ask for.
    g.receive(9000, t);
    expect(g.missingCount).toBe(0);
    // Across the wrap.
    const w = new NackGenerator(6);
    w.receive(65534, 0);
    w.receive(1, 0);
    out.length = 0;
    w.collect(1, out);
    expect(out).toEqual([65535, 0]);
  });
});

/** A crafted RTP packet with one-byte-form extensions. */
function rtp(o: { ssrc: number; seq: number; pt: number; ts?: number; ext?: [number, Buffer][]; payload?: number[]; padding?: number }): Buffer {
  const body: number[] = [];
  for (const [id, data] of o.ext ?? []) body.push((id << 4) | (data.length - 1), ...data);
  while (body.length % 4) body.push(0);
  const ext = body.length > 0 ? [0xbe, 0xde, 0, body.length / 4, ...body] : [];
  const head = Buffer.alloc(12);
  head[0] = 0x80 | (ext.length > 0 ? 0x10 : 0) | (o.padding ? 0x20 : 0);
  head[1] = o.pt;
  head.writeUInt16BE(o.seq, 2);
  head.writeUInt32BE(o.ts ?? 0, 4);
  head.writeUInt32BE(o.ssrc, 8);
  const pad = o.padding ? [...new Array(o.padding - 1).fill(0), o.padding] : [];
  return Buffer.concat([head, Buffer.from(ext), Buffer.from(o.payload ?? [1, 2, 3]), Buffer.from(pad)]);
}

const MID = 1;
const RID = 2;
const RRID = 3;

function fixture(tracks: Omit<ReceiveTrack, 'target'>[]) {
  const got: { track: string; layer: number; ssrc: number; pt: number; seq: number; payload: number[] }[] = [];
  const bound: number[] = [];
  const full = tracks.map((t) => ({ ...t, target: { receive: (v: RtpView, layer: number) => got.push({ track: t.mid, layer, ssrc: v.ssrc, pt: v.payloadType, seq: v.sequenceNumber, payload: [...v.payload] }) } }));
  const router = new ReceiveRouter(full, { mid: MID, rid: RID, repairedRid: RRID }, (b) => bound.push(b.ssrc));
  const view = new RtpView();
  const send = (bytes: Buffer, now = 0): void => {
    expect(view.parse(bytes)).toBe(true);
    const b = router.route(view, now);
    if (b) b.track.target.receive(view, b.layer);
  };
  return { router, got, bound, send };
}

const audio = { mid: '0', clockRate: 48000, payloadType: 111, rtxPayloadType: -1, rids: [], ssrc: 0xa, rtxSsrc: 0, nack: false };
const video = { mid: '1', clockRate: 90000, payloadType: 96, rtxPayloadType: 97, rids: [], ssrc: 0, rtxSsrc: 0, nack: true };
const simulcast = { mid: '1', clockRate: 90000, payloadType: 96, rtxPayloadType: 97, rids: ['q', 'h', 'f'], ssrc: 0, rtxSsrc: 0, nack: true };

describe('ReceiveRouter', () => {
  it('routes SSRCs the SDP named at once, and binds an unknown one by its mid (media or RTX by payload type)', () => {
    const { router, got, bound, send } = fixture([audio, video]);
    expect(bound).toEqual([0xa]);
    send(rtp({ ssrc: 0xa, seq: 1, pt: 111 }));
    send(rtp({ ssrc: 0xb, seq: 10, pt: 96 })); // no mid, unknown: dropped
    expect(router.unroutable).toBe(1);
    send(rtp({ ssrc: 0xb, seq: 11, pt: 96, ext: [[MID, Buffer.from('1')]] }));
    send(rtp({ ssrc: 0xb, seq: 12, pt: 96 })); // known now
    send(rtp({ ssrc: 0xa, seq: 2, pt: 96 })); // foreign payload type on the audio SSRC
    expect(router.unroutable).toBe(2);
    expect(got.map((g) => [g.track, g.ssrc, g.seq])).toEqual([
      ['0', 0xa, 1],
      ['1', 0xb, 11],
      ['1', 0xb, 12],
    ]);
    expect(bound).toEqual([0xa, 0xb]);
    // RTX by mid: its payload type says so. Unwrapped in place: the media SSRC, PT and the OSN.
    send(rtp({ ssrc: 0xc, seq: 500, pt: 97, ext: [[MID, Buffer.from('1')]], payload: [0, 13, 7, 7] }));
    expect(got.at(-1)).toEqual({ track: '1', layer: 0, ssrc: 0xb, pt: 96, seq: 13, payload: [7, 7] });
    expect(router.retransmission).toBe(true);
    expect(router.rtxUnwrapped).toBe(1);
    // Padding-only RTX (a bandwidth probe): counted on the RTX SSRC, not forwarded.
    send(rtp({ ssrc: 0xc, seq: 501, pt: 97, payload: [], padding: 200 }));
    expect(router.rtxDropped).toBe(1);
    expect(got.length).toBe(4);
    expect(router.binding(0xc)!.stats.packets).toBe(2);
    expect(router.binding(0xb)!.stats.packets).toBe(3);
  });

  it('binds simulcast SSRCs by rid to their layers, and their RTX by repaired-rid; a retransmission fills a NACK hole', () => {
    const { router, got, send } = fixture([simulcast]);
    send(rtp({ ssrc: 0x100, seq: 1, pt: 96, ext: [[MID, Buffer.from('1')], [RID, Buffer.from('q')]] }));
    send(rtp({ ssrc: 0x300, seq: 1, pt: 96, ext: [[MID, Buffer.from('1')], [RID, Buffer.from('f')]] }));
    send(rtp({ ssrc: 0x200, seq: 1, pt: 96, ext: [[RID, Buffer.from('h')]] }));
    send(rtp({ ssrc: 0x999, seq: 1, pt: 96, ext: [[MID, Buffer.from('1')]] })); // mid alone cannot tell a layer
    send(rtp({ ssrc: 0x100, seq: 2, pt: 96 }));
    send(rtp({ ssrc: 0x300, seq: 4, pt: 96 })); // 2 and 3 lost
    expect(got.map((g) => [g.layer, g.ssrc, g.seq])).toEqual([
      [0, 0x100, 1],
      [2, 0x300, 1],
      [1, 0x200, 1],
      [0, 0x100, 2],
      [2, 0x300, 4],
    ]);
    expect(router.unroutable).toBe(1);
    // Each SSRC has its own NACK sequence space: interleaving is no loss.
    expect(router.binding(0x100)!.nack!.missingCount).toBe(0);
    expect(router.binding(0x300)!.nack!.missingCount).toBe(2);
    // The top layer's RTX, bound by repaired-rid: unwrapped onto 0x300.
    send(rtp({ ssrc: 0x301, seq: 70, pt: 97, ext: [[RRID, Buffer.from('f')]], payload: [0, 2, 9] }));
    expect(got.at(-1)).toEqual({ track: '1', layer: 2, ssrc: 0x300, pt: 96, seq: 2, payload: [9] });
    expect(router.binding(0x300)!.nack!.missingCount).toBe(1);
    expect(router.binding(0x300)!.nack!.recovered).toBe(1);
    expect(router.binding(0x301)).toMatchObject({ rtx: true, layer: 2 });
    // An unknown rid is not bound.
    send(rtp({ ssrc: 0x400, seq: 1, pt: 96, ext: [[RID, Buffer.from('x')]] }));
    expect(router.binding(0x400)).toBeUndefined();
  });

  it('drops RTX whose layer has no media SSRC yet, and binds the SDP\'s RTX SSRC from the start', () => {
    const { router, got, send } = fixture([simulcast]);
    send(rtp({ ssrc: 0x301, seq: 70, pt: 97, ext: [[RRID, Buffer.from('f')]], payload: [0, 2, 9] }));
    expect(got).toEqual([]);
    expect(router.rtxDropped).toBe(1);
    const sdp = fixture([{ ...video, ssrc: 0x50, rtxSsrc: 0x51 }]);
    sdp.send(rtp({ ssrc: 0x51, seq: 1, pt: 97, payload: [1, 0, 5] }));
    expect(sdp.got).toEqual([{ track: '1', layer: 0, ssrc: 0x50, pt: 96, seq: 256, payload: [5] }]);
  });
});

describe('ReceivePath on a stand-in of werift\'s ICE connection and DTLS transport', () => {
  it('takes RTP at the socket callback (decrypt, parse, route), leaves the rest to werift, sends NACKs and RRs as bytes, and gives the callback back at close', async () => {
    const k = { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(14) };
    const profile = SrtpProfile.AES_CM_128_HMAC_SHA1_80;
    const ours = new SrtpSession({ profile, ...k });
    const publisher = new SrtpSession({ profile, localMasterKey: k.remoteMasterKey, localMasterSalt: k.remoteMasterSalt, remoteMasterKey: k.localMasterKey, remoteMasterSalt: k.localMasterSalt });
    const protect = (bytes: Buffer): Buffer => {
      const v = new RtpView();
      v.parse(bytes);
      const out = Buffer.alloc(bytes.length + 16);
      const n = publisher.outbound.protect(bytes.subarray(0, v.payloadOffset), bytes.subarray(v.payloadOffset), out);
      expect(n).toBeGreaterThan(0);
      return out.subarray(0, n);
    };
    const toWerift: Buffer[] = [];
    const weriftOnData = (data: Buffer): void => void toWerift.push(data);
    const protocol = { localCandidate: {}, datagramReceived: () => {}, transport: { onData: weriftOnData as (data: Buffer, addr: unknown) => void } };
    const pair = { protocol, packetsReceived: 0, bytesReceived: 0 };
    const eventExecute = (data: Buffer): void => void toWerift.push(data);
    const connection = { onData: { execute: eventExecute }, protocols: [protocol], nominated: pair };
    const rtcp: Buffer[] = [];
    const dtls = {
      iceTransport: { connection },
      state: 'connected',
      packetsReceived: 0,
      bytesReceived: 0,
      sendRtcp: async (packets: { serialize(): Buffer }[]) => void rtcp.push(...packets.map((p) => p.serialize())),
    };
    const got: number[] = [];
    const tcc: number[] = [];
    const abs: [number, number, number, number][] = [];
    let drops = 0;
    const track: ReceiveTrack = { ...video, ssrc: 0x77, target: { receive: (v) => got.push(v.sequenceNumber) } };
    const path = new ReceivePath({
      dtls: dtls as unknown as RTCDtlsTransport,
      srtp: ours.inbound,
      router: new ReceiveRouter([track], { mid: MID, rid: RID, repairedRid: RRID }),
      rtcpSsrc: 0x5151,
      transportCcIds: [5],
      onTransportSequence: (seq) => tcc.push(seq),
      absSendTimeIds: [3],
      onAbsSendTime: (time, _arrival, size, ssrc, seq) => abs.push([time, size, ssrc, seq]),
      onSrtpDrop: () => drops++,
      logger: pino({ level: 'silent' }),
    });
    path.start();
    const socket = protocol.transport.onData;
    const plain = (seq: number) => rtp({ ssrc: 0x77, seq, pt: 96, ts: seq * 3000, ext: [[5, Buffer.from([0, seq])], [3, Buffer.from([0x12, 0x34, seq])]] });
    const nackTimer = (): unknown => path.dump()['nackTimerRunning'];
    for (const seq of [1, 2]) socket(protect(plain(seq)), ['1.2.3.4', 5]);
    // Nothing missing: no NACK timer (it would wake the process 40 times a second for nothing).
    expect(nackTimer()).toBe(false);
    socket(protect(plain(5)), ['1.2.3.4', 5]);
    expect(nackTimer()).toBe(true);
    expect(got).toEqual([1, 2, 5]);
    expect(tcc).toEqual([1, 2, 5]);
    // REMB mode's delay signal: the 24-bit abs-send-time, the RTP size (SRTP tag off), SSRC and wire sequence.
    expect(abs).toEqual([1, 2, 5].map((seq) => [0x123400 | seq, plain(seq).length, 0x77, seq]));
    expect(pair.packetsReceived).toBe(3);
    expect(dtls.packetsReceived).toBe(3);
    // A tampered packet is our SRTP's to refuse; DTLS (first byte 22) and RTCP (PT 200) go werift's way.
    const bad = protect(rtp({ ssrc: 0x77, seq: 6, pt: 96 }));
    bad[bad.length - 1]! ^= 1;
    socket(bad, ['1.2.3.4', 5]);
    expect(drops).toBe(1);
    const dtlsRecord = Buffer.from([22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const srtcp = Buffer.from([0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    socket(dtlsRecord, ['1.2.3.4', 5]);
    socket(srtcp, ['1.2.3.4', 5]);
    expect(toWerift).toEqual([dtlsRecord, srtcp]);
    // 3 and 4 are missing: a generic NACK within a few ticks, then a receiver report within a second or so.
    await waitUntil(() => rtcp.some((b) => b[1] === 201), 5000, 'a receiver report');
    const parsed = rtcp.flatMap((b) => RtcpPacketConverter.deSerialize(b));
    const nack = parsed.find((p): p is RtcpTransportLayerFeedback => p instanceof RtcpTransportLayerFeedback)!.feedback as GenericNack;
    expect(nack).toMatchObject({ senderSsrc: 0x5151, mediaSourceSsrc: 0x77 });
    expect(nack.lost).toEqual([3, 4]);
    const rr = parsed.find((p): p is RtcpRrPacket => p instanceof RtcpRrPacket)!;
    expect(rr.ssrc).toBe(0x5151);
    expect(rr.reports[0]).toMatchObject({ ssrc: 0x77, highestSequence: 5, packetsLost: 2 });
    expect(path.nackCount(0x77)).toBeGreaterThanOrEqual(1);
    // The holes filled (retransmissions or late packets): the timer stops at its next tick.
    for (const seq of [3, 4]) socket(protect(plain(seq)), ['1.2.3.4', 5]);
    await waitUntil(() => nackTimer() === false, 5000, 'the NACK timer to stop');
    const asked = path.nacksSent;
    socket(protect(plain(8)), ['1.2.3.4', 5]);
    expect(nackTimer()).toBe(true);
    await waitUntil(() => path.nacksSent > asked, 5000, 'a NACK for the new hole');
    path.close();
    expect(nackTimer()).toBe(false);
    expect(protocol.transport.onData).toBe(weriftOnData);
    expect(connection.onData.execute).toBe(eventExecute);
  });
});
