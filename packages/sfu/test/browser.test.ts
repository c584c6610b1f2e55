// The SFU with real Chromium: pages publish with getUserMedia (fake camera and microphone) or a
// canvas "screen", other pages subscribe; their getStats must show decoded frames and audio.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { startMediaHarness, waitUntil, type MediaHarness } from '@colloquy/testing/media';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let harness: MediaHarness;
let browser: TestBrowser;

beforeAll(async () => {
  harness = await startMediaHarness({ rooms: { h264: { videoCodec: 'H264' }, capped: { maxIncomingBitrate: 400_000 } } });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

interface PageStats {
  inbound: Record<string, { packetsReceived: number; framesDecoded?: number; frameWidth?: number; frameHeight?: number; mimeType?: string }>;
  outbound: Record<string, { frameWidth?: number }>;
  availableOutgoingBitrate: number | null;
  connectionState: string;
}

async function open(): Promise<TestPage> {
  const p = await browser.newPage();
  await p.page.goto(harness.url);
  return p;
}

type PublishOptions = { room?: string; audio?: boolean; video?: boolean; screen?: boolean };
async function publish(p: TestPage, options: PublishOptions = {}): Promise<{ transportId: string; producers: { id: string; kind: string }[] }> {
  return p.page.evaluate((o) => (window as any).media.publish(o), options);
}
async function subscribe(p: TestPage, producerIds: string[], room = 'default'): Promise<{ transportId: string }> {
  return p.page.evaluate(([ids, r]) => (window as any).media.subscribe(ids, { room: r }), [producerIds, room] as const);
}
async function stats(p: TestPage, transportId: string): Promise<PageStats> {
  return p.page.evaluate((id) => (window as any).media.stats(id), transportId);
}

/** Waits until the subscriber decodes video (frames rising, width > 0) and, if asked, receives audio. */
async function expectDecoding(p: TestPage, transportId: string, options: { audio: boolean }): Promise<PageStats> {
  let last: PageStats | undefined;
  const deadline = Date.now() + 15_000;
  let first: PageStats | undefined;
  while (Date.now() < deadline) {
    last = await stats(p, transportId);
    const v = last.inbound['video'];
    if (v && (v.framesDecoded ?? 0) > 0 && (v.frameWidth ?? 0) > 0) {
      first ??= last;
      const a = last.inbound['audio'];
      const audioOk = !options.audio || (a !== undefined && a.packetsReceived > 0 && a.packetsReceived > (first.inbound['audio']?.packetsReceived ?? 0));
      if ((v.framesDecoded ?? 0) > (first.inbound['video']!.framesDecoded ?? 0) + 10 && audioOk) return last;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no decoding at ${transportId}: ${JSON.stringify(last)}`);
}

describe('routed media in Chromium', () => {
  it('VP8: one page publishes camera and microphone, another decodes video and receives audio', async () => {
    const a = await open();
    const b = await open();
    const pub = await publish(a);
    const sub = await subscribe(b, pub.producers.map((p) => p.id));
    const s = await expectDecoding(b, sub.transportId, { audio: true });
    expect(s.inbound['video']!.mimeType).toBe('video/VP8');
    expect(s.inbound['video']!.frameWidth).toBe(640);
    expect(s.inbound['video']!.frameHeight).toBe(480);
    // The server saw the same picture size in the keyframes it forwarded.
    const producer = harness.publishers.get(pub.transportId)!.producers.find((p) => p.kind === 'video')!;
    expect(producer.getStats()).toMatchObject({ width: 640, height: 480 });
    expect(producer.getStats().frameRate).toBeGreaterThan(5);
    // Our SRTP (media/srtp) decrypted the publisher and encrypted for the subscriber. The DTLS
    // server picks the profile: Chromium (publisher side) prefers AES-CM, werift (subscriber side,
    // where Chromium answers as DTLS client) prefers GCM.
    expect(harness.publishers.get(pub.transportId)!.dump()['srtp']).toMatchObject({ implementation: 'colloquy', profile: 'AES_CM_128_HMAC_SHA1_80', droppedRtp: 0 });
    expect(harness.subscribers.get(sub.transportId)!.dump()['srtp']).toMatchObject({ implementation: 'colloquy', profile: 'AEAD_AES_128_GCM', droppedRtp: 0 });
    // The RTCP we send is ours too: REMB (at connect) to the publisher, sender reports (every
    // second) to the subscriber; Chromium refuses SRTCP it cannot authenticate, so keep decoding after.
    const rtcpSent = (transport: { dump(): Record<string, unknown> }) => (transport.dump()['srtp'] as { rtcpSent: number }).rtcpSent;
    await waitUntil(() => rtcpSent(harness.subscribers.get(sub.transportId)!) >= 2, 15_000, 'sender reports through our SRTCP');
    expect(rtcpSent(harness.publishers.get(pub.transportId)!)).toBeGreaterThan(0);
    await expectDecoding(b, sub.transportId, { audio: true });
    // Both Chromiums read our SDP as ICE-lite (a=ice-lite at session level): the subscriber, which
    // answers our offer, checks as controlling from the first check, with no 487 Role Conflict.
    expect(harness.publishers.get(pub.transportId)!.dump()['ice']).toMatchObject({ roleConflicts: 0 });
    expect(harness.subscribers.get(sub.transportId)!.dump()['ice']).toMatchObject({ roleConflicts: 0 });
    // Towards the subscriber's Chromium we are the DTLS server, with werift's handshake handler
    // behind our guard (repeated client flights taken once); towards the publisher, the client,
    // behind the client's guard (late copies of the browser's flights dropped).
    expect(harness.subscribers.get(sub.transportId)!.dump()['dtls']).toMatchObject({ role: 'server', state: 'connected', guarded: true });
    expect(harness.publishers.get(pub.transportId)!.dump()['dtls']).toMatchObject({ role: 'client', state: 'connected', guarded: true });
    // werift's DTLS state machine can read "failed" after the handshake (its handshake handler
    // failing on a late copy of a flight) while the exported keys and the ICE path are fine: our
    // RTCP towards the publisher goes on (transport feedback, receiver reports), or its Chromium
    // cuts its estimate to the floor for good.
    const publisher = harness.publishers.get(pub.transportId)!;
    const feedbackSent = () => publisher.getStats().transportFeedback?.messages ?? 0;
    const reportsSent = () => (publisher.dump()['receivePath'] as { reportsSent: number }).reportsSent;
    (publisher as unknown as { pc: { dtlsTransports: { setState(state: string): void }[] } }).pc.dtlsTransports[0]!.setState('failed');
    const [feedbackBefore, reportsBefore] = [feedbackSent(), reportsSent()];
    await waitUntil(() => feedbackSent() >= feedbackBefore + 10 && reportsSent() >= reportsBefore + 2, 15_000, 'transport feedback and receiver reports with werift reading failed');
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
    await a.page.close();
    await b.page.close();
  });

  it('H.264 in a session that asks for it', async () => {
    const a = await open();
    const b = await open();
    const pub = await publish(a, { room: 'h264' });
    const sub = await subscribe(b, pub.producers.map((p) => p.id), 'h264');
    const s = await expectDecoding(b, sub.transportId, { audio: true });
    expect(s.inbound['video']!.mimeType).toBe('video/H264');
    expect(s.inbound['video']!.frameWidth).toBeGreaterThan(0);
    const producer = harness.publishers.get(pub.transportId)!.producers.find((p) => p.kind === 'video')!;
    expect(producer.codec.name).toBe('H264');
    expect(producer.getStats().width).toBeGreaterThan(0); // parsed from the SPS
    await a.page.close();
    await b.page.close();
  });

  it('a screen-like canvas track forwards and decodes', async () => {
    const a = await open();
    const b = await open();
    const pub = await publish(a, { audio: false, screen: true });
    expect(pub.producers.map((p) => p.kind)).toEqual(['video']);
    const sub = await subscribe(b, pub.producers.map((p) => p.id));
    const s = await expectDecoding(b, sub.transportId, { audio: false });
    expect(s.inbound['video']!.frameWidth).toBe(1280);
    await a.page.close();
    await b.page.close();
  });

  it('pausing a producer stops frames at the subscriber; resuming brings them back', async () => {
    const a = await open();
    const b = await open();
    const pub = await publish(a, { audio: false });
    const sub = await subscribe(b, pub.producers.map((p) => p.id));
    await expectDecoding(b, sub.transportId, { audio: false });
    const producer = harness.publishers.get(pub.transportId)!.producers[0]!;
    producer.pause();
    await new Promise((r) => setTimeout(r, 300));
    const paused1 = (await stats(b, sub.transportId)).inbound['video']!.framesDecoded!;
    await new Promise((r) => setTimeout(r, 700));
    const paused2 = (await stats(b, sub.transportId)).inbound['video']!.framesDecoded!;
    expect(paused2 - paused1).toBeLessThanOrEqual(1);
    producer.resume();
    await expectDecoding(b, sub.transportId, { audio: false });
    await a.page.close();
    await b.page.close();
  });

  it('the publisher is told (REMB) it may send up to the session cap, and no more', async () => {
    const a = await open();
    const b = await open();
    const free = await publish(a, { audio: false });
    const capped = await publish(b, { audio: false, room: 'capped' });
    let freeRate = 0;
    let cappedRate = 0;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && freeRate < 1_000_000) {
      await new Promise((r) => setTimeout(r, 250));
      freeRate = (await stats(a, free.transportId)).availableOutgoingBitrate ?? 0;
      cappedRate = Math.max(cappedRate, (await stats(b, capped.transportId)).availableOutgoingBitrate ?? 0);
    }
    expect(freeRate).toBeGreaterThanOrEqual(1_000_000);
    expect(cappedRate).toBeGreaterThan(0);
    expect(cappedRate).toBeLessThanOrEqual(400_000);
    await a.page.close();
    await b.page.close();
  });

  // Groups (four pages, one publisher to eight subscribers) are proven through the browser SDK in
  // packages/client/test/media.test.ts, on the same SFU path; not repeated here with the raw harness.
});
