// The SFU with Node WebRTC clients (werift): real VP8 and Opus from ffmpeg in, rewritten RTP out.
// Also our receive path end to end: after the connect, every RTP datagram goes our SRTP → RtpView →
// router → producer (werift's receiver sees none), our receiver reports and NACKs reach the
// publisher, and what it resends fills the holes.

import { nativePacket } from '../src/native.js';
import { EXT_URI, makeTestMedia, waitUntil } from '@colloquy/testing/media';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MediaEngine, Producer, Router } from '../src/index.js';
import { MediaFixture, gaps, newEngine } from './helpers.js';

let engine: MediaEngine;
let fx: MediaFixture;

beforeAll(() => {
  engine = newEngine();
  fx = new MediaFixture(engine, makeTestMedia({ seconds: 3, gop: 60 }));
});

afterEach(() => fx.cleanup());

afterAll(() => engine.close());

const newRouter = (options: { videoCodec?: 'VP8' | 'H264' } = {}) => fx.router(options);
const publish = (router: Router) => fx.publish(router);
const subscribe = (router: Router, producers: Producer[]) => fx.subscribe(router, producers);

describe('forwarding through a router', () => {
  it('rewrites SSRC, payload type, sequence and timestamp per consumer and starts video on a keyframe', async () => {
    const router = newRouter();
    const { publisher, producers, transport: publisherTransport } = await publish(router);
    expect(producers.map((p) => p.kind).sort()).toEqual(['audio', 'video']);
    publisher.start();
    await new Promise((r) => setTimeout(r, 300)); // subscriber joins mid-GOP
    const a = await subscribe(router, producers);
    const b = await subscribe(router, producers);
    await waitUntil(() => a.subscriber.of('video').length > 60 && b.subscriber.of('video').length > 60, 10_000, 'video at both subscribers');
    await waitUntil(() => a.subscriber.of('audio').length > 20 && b.subscriber.of('audio').length > 20, 10_000, 'audio at both subscribers');

    for (const { subscriber, consumers } of [a, b]) {
      const video = subscriber.of('video');
      const audio = subscriber.of('audio');
      const videoConsumer = consumers.find((c) => c.kind === 'video')!;
      const audioConsumer = consumers.find((c) => c.kind === 'audio')!;
      // SSRC is the consumer's own, never the publisher's.
      expect(new Set(video.map((p) => p.ssrc))).toEqual(new Set([videoConsumer.ssrc]));
      expect(new Set(audio.map((p) => p.ssrc))).toEqual(new Set([audioConsumer.ssrc]));
      expect(videoConsumer.ssrc).not.toBe(producers.find((p) => p.kind === 'video')!.ssrc);
      // Payload type is what this subscriber negotiated.
      const pt = subscriber.pc.getTransceivers().find((t) => t.kind === 'video')!.codecs[0]!.payloadType;
      expect(new Set(video.map((p) => p.payloadType))).toEqual(new Set([pt]));
      // Video starts with a keyframe, and sequence numbers run without a gap from there.
      expect(video[0]!.keyFrameStart).toBe(true);
      expect(gaps(video.map((p) => p.sequenceNumber))).toBe(0);
      expect(gaps(audio.map((p) => p.sequenceNumber))).toBe(0);
      // Timestamps keep the publisher's spacing: 3000 per video frame, 960 per audio packet.
      const frameStarts = video.filter((p, i) => i === 0 || video[i - 1]!.marker);
      for (let i = 1; i < frameStarts.length; i++) expect((frameStarts[i]!.timestamp - frameStarts[i - 1]!.timestamp) >>> 0).toBe(3000);
      for (let i = 1; i < audio.length; i++) expect((audio[i]!.timestamp - audio[i - 1]!.timestamp) >>> 0).toBe(960);
    }
    // Two consumers of one producer do not share sequence or timestamp bases (random per consumer).
    expect(a.subscriber.of('video')[0]!.ssrc).not.toBe(b.subscriber.of('video')[0]!.ssrc);
    // The late joiners caused keyframe requests, which the publisher answered.
    expect(publisher.pliReceived).toBeGreaterThanOrEqual(1);
    // Our SRTP (media/srtp) encrypted what the subscribers decrypted, and decrypted the publisher's.
    for (const { transport } of [a, b]) {
      const srtp = transport.dump()['srtp'] as { implementation: string; profile: string; packetsSent: number; nativeSent: number; droppedRtp: number };
      expect(srtp).toMatchObject({ implementation: 'colloquy', profile: 'AEAD_AES_128_GCM', droppedRtp: 0 });
      expect(srtp.packetsSent).toBeGreaterThan(80);
      // The native module's sendto() sent them (built by npm test's build step); only a full socket
      // buffer (EAGAIN) would hand one to Node's send.
      if (nativePacket !== null) expect(srtp.nativeSent).toBeGreaterThanOrEqual(srtp.packetsSent * 0.95);
    }
    expect(publisherTransport.dump()['srtp']).toMatchObject({ implementation: 'colloquy', droppedRtp: 0 });
    // The PLIs the publisher answered went out through our SRTCP (werift's client decrypted them).
    expect((publisherTransport.dump()['srtp'] as { rtcpSent: number }).rtcpSent).toBeGreaterThan(0);
  });

  it('remaps header extensions to the ids each subscriber negotiated and drops the rest', async () => {
    const router = newRouter();
    const { publisher, producers } = await publish(router);
    publisher.start();
    const { subscriber } = await subscribe(router, producers);
    await waitUntil(() => subscriber.of('video').length > 30 && subscriber.of('audio').length > 10, 10_000, 'media');

    const pubOrientation = publisher.extensionId('video', EXT_URI.videoOrientation)!;
    const subOrientation = subscriber.extensionId('video', EXT_URI.videoOrientation)!;
    const subVideoMid = subscriber.extensionId('video', EXT_URI.mid)!;
    const subAbs = subscriber.extensionId('video', EXT_URI.absSendTime)!;
    expect(pubOrientation).toBeDefined();
    expect(subOrientation).toBeDefined();
    expect(subOrientation).not.toBe(pubOrientation); // a real remap, not a pass-through
    for (const p of subscriber.of('video')) {
      const ids = p.extensions.map((e) => e.id);
      expect(p.extensions.find((e) => e.id === subOrientation)?.payload).toEqual(Buffer.from([3]));
      expect(ids).toContain(subVideoMid);
      expect(ids).toContain(subAbs);
      // Nothing under an id the subscriber did not negotiate (the publisher's transport-cc, its ids).
      const negotiated = new Set(subscriber.pc.getTransceivers().find((t) => t.kind === 'video')!.headerExtensions.map((e) => e.id));
      for (const id of ids) expect(negotiated.has(id)).toBe(true);
    }
    const videoMid = subscriber.pc.getTransceivers().find((t) => t.kind === 'video')!.mid!;
    expect(subscriber.of('video')[0]!.extensions.find((e) => e.id === subVideoMid)!.payload.toString()).toBe(videoMid);
    const subLevel = subscriber.extensionId('audio', EXT_URI.audioLevel)!;
    for (const p of subscriber.of('audio')) expect(p.extensions.find((e) => e.id === subLevel)?.payload).toEqual(Buffer.from([0x2a]));
  });
});

describe("the engine's srtp option", () => {
  it("with srtp: 'werift' the same media flows through werift's own SRTP", async () => {
    const weriftEngine = newEngine({ srtp: 'werift' });
    const wfx = new MediaFixture(weriftEngine, fx.media);
    try {
      const router = wfx.router();
      const { publisher, producers, transport: publisherTransport } = await wfx.publish(router);
      publisher.start();
      const { subscriber, transport } = await wfx.subscribe(router, producers);
      await waitUntil(() => subscriber.of('video').length > 30 && subscriber.of('audio').length > 10, 10_000, 'media');
      expect(gaps(subscriber.of('video').map((p) => p.sequenceNumber))).toBe(0);
      expect(transport.dump()['srtp']).toEqual({ implementation: 'werift' });
      expect(publisherTransport.dump()['srtp']).toEqual({ implementation: 'werift' });
    } finally {
      await wfx.cleanup();
      await weriftEngine.close();
    }
  });

  it('refuses an unknown implementation', () => {
    expect(() => newEngine({ srtp: 'libsrtp' as 'werift' })).toThrow(/srtp must be/);
  });
});

interface ReceiveDump {
  packets: number;
  reportsSent: number;
  nacksSent: number;
  unroutable: number;
  ssrcs: { ssrc: number; mid: string; rtx: boolean; packets: number; lost: number; nackRequested?: number; nackRecovered?: number }[];
}

describe('receive path', () => {
  it('routes the publisher\'s RTP to its producers by SSRC, reports to it, and gets lost packets back by NACK', async () => {
    const router = fx.router();
    const { publisher, transport, producers } = await fx.publish(router, { outboundLossPercent: 5 });
    publisher.start();
    const video = producers.find((p) => p.kind === 'video')!;
    const audio = producers.find((p) => p.kind === 'audio')!;
    const dump = () => transport.dump()['receivePath'] as ReceiveDump | null;
    await waitUntil(() => (dump()?.packets ?? 0) > 200, 15_000, 'packets on our receive path');
    const { subscriber } = await fx.subscribe(router, producers);
    await waitUntil(() => subscriber.of('video').length > 60 && subscriber.of('audio').length > 20, 15_000, 'media at the subscriber');
    // Loss at 5 %: our NACKs reach the publisher and what it resends arrives.
    await waitUntil(() => publisher.nackReceived > 0 && (dump()?.ssrcs.find((s) => s.ssrc === video.ssrc)?.nackRecovered ?? 0) > 0, 15_000, 'a NACK answered');
    await waitUntil(() => (dump()?.reportsSent ?? 0) >= 2, 10_000, 'receiver reports sent');
    const d = dump()!;
    expect(d.unroutable).toBe(0);
    const bySsrc = new Map(d.ssrcs.map((s) => [s.ssrc, s]));
    expect(bySsrc.get(video.ssrc)).toMatchObject({ mid: expect.any(String), rtx: false });
    expect(bySsrc.get(audio.ssrc)!.packets).toBeGreaterThan(20);
    expect(bySsrc.get(video.ssrc)!.nackRequested).toBeGreaterThan(0);
    // The producers' stats read ours: NACK messages and jitter per SSRC.
    expect(video.getStats().nackCount).toBeGreaterThan(0);
    expect(video.getStats().packetsReceived).toBeGreaterThan(100);
    expect(Number.isFinite(video.getStats().jitter)).toBe(true);
    // werift's receivers saw no RTP after our path started (their statistics stay where they were).
    const receivers = (transport as unknown as { pc: { getTransceivers(): { receiver: { remoteStreams: Record<number, { packets_received?: number }> } }[] } }).pc
      .getTransceivers()
      .map((t) => t.receiver);
    const weriftCount = () => receivers.reduce((n, r) => n + Object.values(r.remoteStreams).reduce((m, s) => m + (s.packets_received ?? 0), 0), 0);
    const before = weriftCount();
    const ours = d.packets;
    await waitUntil(() => (dump()?.packets ?? 0) > ours + 100, 10_000, 'more packets');
    expect(weriftCount()).toBe(before);
  });
});
