// Our receive path end to end with a Node WebRTC publisher (werift) and real VP8/Opus: after the
// connect, every RTP datagram goes our SRTP → RtpView → router → producer (werift's receiver sees
// none), our receiver reports and NACKs reach the publisher, and what it resends fills the holes.

import { makeTestMedia, waitUntil } from '@colloquy/testing/media';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MediaEngine } from '../src/index.js';
import { MediaFixture, newEngine } from './helpers.js';

let engine: MediaEngine;
let fx: MediaFixture;

beforeAll(() => {
  engine = newEngine();
  fx = new MediaFixture(engine, makeTestMedia({ seconds: 3, gop: 60 }));
});

afterEach(() => fx.cleanup());

afterAll(() => engine.close());

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
