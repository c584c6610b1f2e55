// RTCP and keyframes through the SFU with Node clients: NACKs answered from the consumer's history,
// subscribers' PLIs relayed (throttled), keyframes on join and resume, SR/RR round-trip time.

import { makeTestMedia, waitUntil, waitUntilQuiet } from '@colloquy/testing/media';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PacketStatus, RecvDelta, RtcpTransportLayerFeedback, RunLengthChunk, TransportWideCC } from 'werift';
import { KEYFRAME_REQUEST_INTERVAL_MS, type MediaEngine } from '../src/index.js';
import { MediaFixture, gaps, newEngine, sleep } from './helpers.js';

let engine: MediaEngine;
let fx: MediaFixture;

beforeAll(() => {
  engine = newEngine();
  fx = new MediaFixture(engine, makeTestMedia({ seconds: 3, gop: 60 }));
});
afterEach(() => fx.cleanup());
afterAll(() => engine.close());

describe('feedback', () => {
  it('answers a lossy subscriber NACKs from its own send history', async () => {
    const router = fx.router();
    const { publisher, producers } = await fx.publish(router, { audio: false });
    publisher.start();
    const { subscriber, consumers } = await fx.subscribe(router, producers, { inboundLossPercent: 5 });
    // 400 video packets take ~10 s; a loaded CI machine (two suites at once, load 9) needed more than 20.
    await waitUntil(() => subscriber.of('video').length > 400, 60_000, 'video packets');
    const stats = consumers[0]!.getStats();
    expect(stats.nackCount).toBeGreaterThan(0);
    expect(stats.retransmittedPackets).toBeGreaterThan(0);
    // Retransmissions filled the holes: almost every sequence number in the range arrived.
    const seqs = subscriber.of('video').map((p) => p.sequenceNumber);
    const first = seqs[0]!;
    const span = ((seqs[seqs.length - 1]! - first) & 0xffff) + 1;
    const unique = new Set(seqs).size;
    expect(unique / span).toBeGreaterThan(0.97);
    // A resent packet is byte-for-byte the same rewritten packet (same timestamp for the same seq).
    const bySeq = new Map<number, number>();
    for (const p of subscriber.of('video')) {
      const ts = bySeq.get(p.sequenceNumber);
      if (ts !== undefined) expect(p.timestamp).toBe(ts);
      bySeq.set(p.sequenceNumber, p.timestamp);
    }
  }, 90_000);

  it('with RTX negotiated, answers NACKs on the RTX stream (RFC 4588: its own SSRC and sequence numbers, the original one first in the payload)', async () => {
    const router = fx.router();
    const { publisher, producers } = await fx.publish(router, { audio: false });
    publisher.start();
    const { subscriber, consumers } = await fx.subscribe(router, producers, { inboundLossPercent: 5, rtx: true });
    await waitUntil(() => subscriber.of('video').length > 400 && consumers[0]!.getStats().retransmittedPackets > 5, 60_000, 'video packets and retransmissions');
    // The SFU's offer pairs the video SSRC with its RTX SSRC; packets came on both.
    const fid = /a=ssrc-group:FID (\d+) (\d+)/.exec(subscriber.pc.remoteDescription?.sdp ?? '');
    expect(fid, 'a=ssrc-group:FID in the offer').not.toBeNull();
    expect(Number(fid![1])).toBe(consumers[0]!.ssrc);
    const receiver = subscriber.pc.getTransceivers().find((t) => t.kind === 'video')!.receiver as unknown as { remoteStreams: Record<number, unknown> };
    expect(Object.keys(receiver.remoteStreams).map(Number)).toContain(Number(fid![2]));
    // Unwrapped, the retransmissions filled the holes of the media stream as before.
    const seqs = subscriber.of('video').map((p) => p.sequenceNumber);
    const span = ((seqs[seqs.length - 1]! - seqs[0]!) & 0xffff) + 1;
    expect(new Set(seqs).size / span).toBeGreaterThan(0.97);
    const bySeq = new Map<number, number>();
    for (const p of subscriber.of('video')) {
      const ts = bySeq.get(p.sequenceNumber);
      if (ts !== undefined) expect(p.timestamp).toBe(ts);
      bySeq.set(p.sequenceNumber, p.timestamp);
      expect(p.ssrc).toBe(consumers[0]!.ssrc);
    }
  }, 90_000);

  it('takes transport feedback whatever SSRC it names (Chromium names the last packet’s: during a probe, the RTX SSRC no sender has)', async () => {
    const router = fx.router();
    const { publisher, producers } = await fx.publish(router, { audio: false });
    publisher.start();
    const { subscriber, transport } = await fx.subscribe(router, producers, { rtx: true });
    // The first 20 transport-wide sequence numbers (every packet sent to this subscriber takes one).
    await waitUntil(() => subscriber.of('video').length > 20, 10_000, 'video');
    expect(transport.getStats().downlink.ackedBitrate).toBeNull();
    // This subscriber's answer did not take transport-cc: its videos are not held to an estimate
    // its feedback would never move (downlink.ts, #budget).
    expect(transport.getStats().downlink.feedback).toBe('none');
    const rtxSsrc = Number(/a=ssrc-group:FID \d+ (\d+)/.exec(subscriber.pc.remoteDescription?.sdp ?? '')?.[1]);
    expect(rtxSsrc).toBeGreaterThan(0);
    // All 20 arrived, 20 ms apart (400 ms of arrivals: enough for an acked rate).
    const feedback = new TransportWideCC({
      senderSsrc: 1,
      mediaSourceSsrc: rtxSsrc,
      baseSequenceNumber: 1,
      packetStatusCount: 20,
      referenceTime: 1000,
      fbPktCount: 0,
      packetChunks: [new RunLengthChunk({ packetStatus: PacketStatus.TypeTCCPacketReceivedSmallDelta, runLength: 20 })],
      recvDeltas: Array.from({ length: 20 }, () => new RecvDelta({ type: PacketStatus.TypeTCCPacketReceivedSmallDelta, delta: 20_000 })),
    });
    feedback.header.padding = true; // to a multiple of 4 bytes, as Chromium sends it
    await subscriber.pc.dtlsTransports[0]!.sendRtcp([new RtcpTransportLayerFeedback({ feedback })]);
    await waitUntil(() => transport.getStats().downlink.ackedBitrate !== null, 5000, 'the feedback read by the estimator');
  });

  it('relays a subscriber PLI to the publisher, throttled per producer', async () => {
    const router = fx.router();
    const { publisher, producers } = await fx.publish(router, { audio: false });
    publisher.start();
    const { subscriber, consumers } = await fx.subscribe(router, producers);
    await waitUntil(() => subscriber.of('video').length > 10, 10_000, 'video');
    await sleep(KEYFRAME_REQUEST_INTERVAL_MS + 50);
    const before = publisher.pliReceived;
    const receiver = subscriber.pc.getTransceivers()[0]!.receiver;
    for (let i = 0; i < 5; i++) await receiver.sendRtcpPLI(consumers[0]!.ssrc);
    await waitUntil(() => consumers[0]!.getStats().pliCount === 5, 5000, 'PLIs at the consumer');
    // Five PLIs in a burst: one goes out now, the rest merge into one after the interval (waited
    // for, then nothing more comes).
    await waitUntil(() => publisher.pliReceived - before >= 2, 10_000, 'two PLIs at the publisher');
    await sleep(KEYFRAME_REQUEST_INTERVAL_MS + 100);
    expect(publisher.pliReceived - before).toBe(2);
    expect(producers[0]!.getStats().pliCount).toBeGreaterThanOrEqual(2);
  });

  it('pausing a consumer stops it; resuming continues the sequence without a gap, from a keyframe', async () => {
    const router = fx.router();
    const { publisher, producers } = await fx.publish(router);
    publisher.start();
    const { subscriber, consumers } = await fx.subscribe(router, producers);
    await waitUntil(() => subscriber.of('video').length > 30, 10_000, 'video');
    const video = consumers.find((c) => c.kind === 'video')!;
    const audio = consumers.find((c) => c.kind === 'audio')!;
    const events: string[] = [];
    video.on('pause', () => events.push('pause'));
    video.on('resume', () => events.push('resume'));
    video.pause();
    audio.pause();
    const countAtPause = await waitUntilQuiet(() => subscriber.of('video').length, 'video after the pause');
    await sleep(500);
    expect(subscriber.of('video').length).toBe(countAtPause);
    video.resume();
    audio.resume();
    await waitUntil(() => subscriber.of('video').length > countAtPause + 30, 10_000, 'video after resume');
    const after = subscriber.of('video').slice(countAtPause);
    expect(after[0]!.keyFrameStart).toBe(true);
    expect(gaps(subscriber.of('video').map((p) => p.sequenceNumber))).toBe(0);
    expect(gaps(subscriber.of('audio').map((p) => p.sequenceNumber))).toBe(0);
    // Timestamps move forward across the pause by about the time paused (no jump back).
    const last = subscriber.of('video')[countAtPause - 1]!;
    const delta = (after[0]!.timestamp - last.timestamp) >>> 0;
    expect(delta).toBeGreaterThan(0);
    expect(delta).toBeLessThan(90000 * 5);
    expect(events).toEqual(['pause', 'resume']);
  });

  it('producer pause tells consumers and forwards nothing until resumed', async () => {
    const router = fx.router();
    const { publisher, producers } = await fx.publish(router, { audio: false });
    publisher.start();
    const { subscriber, consumers } = await fx.subscribe(router, producers);
    await waitUntil(() => subscriber.of('video').length > 30, 10_000, 'video');
    const events: string[] = [];
    consumers[0]!.on('producerPause', () => events.push('producerPause'));
    consumers[0]!.on('producerResume', () => events.push('producerResume'));
    producers[0]!.pause();
    const n = await waitUntilQuiet(() => subscriber.of('video').length, 'video after the producer paused');
    await sleep(400);
    expect(subscriber.of('video').length).toBe(n);
    expect(consumers[0]!.getStats().producerPaused).toBe(true);
    producers[0]!.resume();
    await waitUntil(() => subscriber.of('video').length > n + 10, 10_000, 'video after resume');
    expect(subscriber.of('video')[n]!.keyFrameStart).toBe(true);
    expect(events).toEqual(['producerPause', 'producerResume']);
  });

  it('measures round-trip time from sender and receiver reports', async () => {
    const router = fx.router();
    const { publisher, producers } = await fx.publish(router);
    publisher.start();
    const { consumers } = await fx.subscribe(router, producers);
    await waitUntil(() => consumers.every((c) => c.getStats().roundTripTime !== null), 15_000, 'RTT on every consumer');
    for (const c of consumers) {
      const rtt = c.getStats().roundTripTime!;
      expect(rtt).toBeGreaterThanOrEqual(0);
      // Loopback: well under a second, however loaded (the time is real, the bound is only sanity).
      expect(rtt).toBeLessThan(5);
    }
    // And the publisher side: packets, bitrate and picture size from the VP8 keyframes (the rates
    // are measured once they are; how high they are is a benchmark's business).
    const videoProducer = producers.find((p) => p.kind === 'video')!;
    await waitUntil(() => videoProducer.getStats().bitrate > 0 && videoProducer.getStats().frameRate > 0, 10_000, 'publisher rates');
    const video = videoProducer.getStats();
    expect(video).toMatchObject({ width: 640, height: 480, consumers: 1 });
    expect(video.bitrate).toBeGreaterThan(0);
    expect(video.frameRate).toBeGreaterThan(0);
    expect(video.packetsLost).toBe(0);
  });
});
