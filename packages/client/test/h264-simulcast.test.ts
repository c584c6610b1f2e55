// H.264 routed sessions in real Chromium (COLLOQUY_VIDEO_CODEC=H264, OpenTok's H.264 projects): a
// 720p camera published as simulcast in H.264 (rids q/h/f), two subscribers decoding H.264 at the
// layers their preferredResolution asks for at the same time, and a change of preference switching
// layer (at that layer's next IDR). Debian's Chromium encodes H.264 with OpenH264. Every wait is
// for a condition with a generous timeout.

import type { TestPage } from '@colloquy/testing/browser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLayers, MediaApp, publish720p, subscribeSmallAndLarge } from './media-app.js';

let m: MediaApp;

beforeAll(async () => {
  m = await MediaApp.start({ COLLOQUY_VIDEO_CODEC: 'H264' });
});
afterEach(async () => m.closePages());
afterAll(async () => m?.close());


/** The video codec each subscriber key decodes (inbound-rtp's codec mimeType). */
const decodedCodecs = (p: TestPage, keys: string[]): Promise<Record<string, string | null>> =>
  p.page.evaluate(async (ks) => {
    const out: Record<string, string | null> = {};
    for (const k of ks) {
      const report: RTCStatsReport = await (window as any).subs.get(k).getRtcStatsReport();
      let codecId: string | undefined;
      report.forEach((s: any) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') codecId = s.codecId;
      });
      out[k] = codecId ? ((report.get(codecId) as { mimeType?: string } | undefined)?.mimeType ?? null) : null;
    }
    return out;
  }, keys);

describe('H.264 simulcast', { timeout: 180_000 }, () => {
  it('a 720p camera in an H.264 session: two subscribers decode H.264 at the layers they prefer; a new preference switches', async () => {
    const { sessionId, b, streamId } = await publish720p(m);
    const router = m.t.server.sessions.live(sessionId)!;
    const video = router.streams.get(streamId)!.producer('video')!;
    expect(video.rids).toEqual(['q', 'h', 'f']);

    const { small, large } = await subscribeSmallAndLarge(b, streamId);

    const both = await expectLayers(b, { [small]: 320, [large]: 1280 }, 'q and f at once', 60_000);
    const codecs = await decodedCodecs(b, [small, large]);
    console.log(`h264 simulcast: small ${both[small]!.width}px, large ${both[large]!.width}px, decoding ${JSON.stringify(codecs)}`);
    expect(Object.values(codecs).map((c) => c?.toLowerCase())).toEqual(['video/h264', 'video/h264']);

    await b.page.evaluate((key) => (window as any).subs.get(key).setPreferredResolution({ width: 640, height: 360 }), small);
    const switched = await expectLayers(b, { [small]: 640, [large]: 1280 }, 'small switched to h', 60_000);
    console.log(`h264 simulcast: after setPreferredResolution(640x360) small decodes ${switched[small]!.width}px`);
    const consumers = [...router.subscriptions.values()].flatMap((s) => s.consumers).filter((c) => c.kind === 'video');
    expect(consumers.map((c) => c.getStats().currentLayer).sort()).toEqual([1, 2]);
  });
});
