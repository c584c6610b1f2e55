// OpenTok.js's publisher video options in real Chromium through the SFU:
// - scalableVideo: false sends a routed camera as one encoding (the SFU's producer has one layer,
//   where the default has three at 1280x720), and subscribers decode it;
// - scalableScreenshare: true sends a screen share as simulcast, so that a subscriber preferring a
//   small picture decodes a smaller layer than another (the default, one encoding, is in
//   temporal-layers.test.ts);
// - maxResolution bounds a screen capture: the stream's videoDimensions and what subscribers
//   decode fit inside it, where the same screen without it is larger;
// - a published picture that changes size (a canvas shared as a screen, resized) updates the
//   stream's videoDimensions: videoDimensionsChanged on the Publisher and on a Subscriber,
//   streamPropertyChanged on the other page, and the subscriber decodes the new size.
// Every wait is for a condition (frames decoded rising, a width reached) with a generous timeout.

import type { TestPage } from '@colloquy/testing/browser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectDecoding, MediaApp, publish, subscribeSmallAndLarge, waitForLog, waitForStats } from './media-app.js';

let m: MediaApp;

beforeAll(async () => {
  m = await MediaApp.start();
});
afterEach(async () => m.closePages());
afterAll(async () => m?.close());

/** A routed session with a publishing page `a` (Ada) and a subscribing page `b` (Bob), both joined. */
async function twoPages(): Promise<{ sessionId: string; a: TestPage; b: TestPage }> {
  const sessionId = await m.createSession('routed');
  const [a, b] = [await m.openPage(), await m.openPage()];
  await m.join(a, sessionId, 'publisher', 'name=Ada');
  await m.join(b, sessionId, 'subscriber', 'name=Bob');
  return { sessionId, a, b };
}

/** Publishes the page's canvas (960x540) as a screen share with these extra properties; its stream id. */
async function publishCanvasScreen(p: TestPage, props: Record<string, unknown>): Promise<string> {
  const result = (await p.page.evaluate(
    (extra) =>
      new Promise((resolve) => {
        const w = window as any;
        const publisher = w.OT.initPublisher(document.getElementById('box'), { insertMode: 'append', videoSource: w.canvasTrack(), videoType: 'screen', audioSource: null, name: 'slides', ...extra });
        w.session.publish(publisher, (e: { name: string } | null) => resolve(e ? { error: e.name } : { streamId: publisher.stream.streamId }));
      }),
    props,
  )) as { streamId?: string; error?: string };
  if (!result.streamId) throw new Error(`publish failed: ${JSON.stringify(result)}`);
  return result.streamId;
}

describe('publisher video options', { timeout: 180_000 }, () => {
  it('scalableVideo: false sends a 1280x720 camera as one encoding that subscribers decode', async () => {
    const { sessionId, a, b } = await twoPages();
    const { streamId, error } = await publish(a, { name: 'Ada', resolution: '1280x720', frameRate: 30, scalableVideo: false });
    expect(streamId, JSON.stringify(error)).toBeTruthy();
    const video = m.t.server.sessions.live(sessionId)!.streams.get(streamId!)!.producer('video')!;
    expect(video.layerCount).toBe(1);
    await b.page.waitForFunction((id) => (window as any).streams.has(id), streamId);
    await b.page.evaluate((id) => (window as any).subscribeTo(id, { key: 'one' }), streamId);
    const key = `${streamId}:one`;
    // Decoding, at whatever size Chromium's one encoder is at (it starts a 720p encoding smaller
    // and grows it with its estimate: 1280 px took ~30 s here).
    const decoding = await expectDecoding(b, [key], { timeoutMs: 60_000 });
    console.log(`scalableVideo false: one layer, decoded at ${decoding[key]!.width} px`);
    expect(video.layerCount).toBe(1);
  });

  it('scalableScreenshare: true sends a screen share as simulcast; a subscriber preferring a small picture decodes a smaller layer', async () => {
    const { sessionId, a, b } = await twoPages();
    const streamId = await publishCanvasScreen(a, { scalableScreenshare: true });
    const video = m.t.server.sessions.live(sessionId)!.streams.get(streamId)!.producer('video')!;
    expect(video.layerCount).toBeGreaterThanOrEqual(2);

    const { small, large: big } = await subscribeSmallAndLarge(b, streamId);
    const sizes = await waitForStats(
      b,
      (s) => (s[big]?.width ?? 0) === 960 && (s[small]?.width ?? 0) > 0 && s[small]!.width < 960 && s[small]!.framesDecoded > 0,
      'the big subscriber at 960 px and the small one on a lower layer',
      60_000,
    );
    await waitForStats(b, (s) => [small, big].every((k) => s[k]!.framesDecoded >= sizes[k]!.framesDecoded + 10), 'frames rising on both', 60_000);
    console.log(`scalable screenshare: ${video.layerCount} layers; preferring 320x180 decodes ${sizes[small]!.width} px, no preference ${sizes[big]!.width} px`);
  });

  it('maxResolution bounds a screen capture: the stream and what subscribers decode fit inside it', async () => {
    const { a, b } = await twoPages();
    await b.page.evaluate(() => ((window as any).autoSubscribe = true));
    // The same (virtual) screen without a bound, to know its size.
    const whole = await publish(a, { videoSource: 'screen', audioSource: null, name: 'whole' });
    expect(whole.streamId, JSON.stringify(whole.error)).toBeTruthy();
    const wholeStats = await expectDecoding(b, [whole.streamId!], { audio: false, timeoutMs: 60_000 });
    // expectDecoding's second read, the picture Chromium sends at full size.
    const wholeWidth = wholeStats[whole.streamId!]!.width;
    const bound = Math.max(10, Math.floor(wholeWidth / 2));
    const capped = await publish(a, { videoSource: 'screen', audioSource: null, name: 'capped', maxResolution: { width: bound, height: bound } });
    expect(capped.streamId, JSON.stringify(capped.error)).toBeTruthy();
    const dims = await a.page.evaluate(() => (window as any).publisher.stream.videoDimensions as { width: number; height: number });
    const cappedStats = await expectDecoding(b, [capped.streamId!], { audio: false, timeoutMs: 60_000 });
    console.log(`maxResolution: the screen is ${wholeWidth} px wide; bounded to ${bound}x${bound} it is sent at ${dims.width}x${dims.height} and decoded at ${cappedStats[capped.streamId!]!.width} px`);
    expect(dims.width).toBeLessThanOrEqual(bound);
    expect(dims.height).toBeLessThanOrEqual(bound);
    expect(cappedStats[capped.streamId!]!.width).toBeGreaterThan(0);
    expect(cappedStats[capped.streamId!]!.width).toBeLessThanOrEqual(bound);
    // The stream says what is really sent (a capture reports its bounds until its first frame;
    // the publisher corrects the stream within a second or two).
    const settled = await a.page.waitForFunction(
      () => {
        const w = window as any;
        const s = w.publisher.getVideoSource().track?.getSettings();
        const d = w.publisher.stream?.videoDimensions;
        return s && d && s.width === d.width && s.height === d.height ? d : null;
      },
      undefined,
      { timeout: 30_000 },
    );
    console.log(`maxResolution: the stream's videoDimensions settled at ${JSON.stringify(await settled.jsonValue())}`);
  });

  it('a published picture that changes size updates the stream: videoDimensionsChanged on the Publisher and Subscriber, streamPropertyChanged elsewhere', async () => {
    const { a, b } = await twoPages();
    await b.page.evaluate(() => ((window as any).autoSubscribe = true));
    // A canvas the test can resize, shared as a screen.
    const streamId = (await a.page.evaluate(
      () =>
        new Promise((resolve) => {
          const w = window as any;
          const canvas = document.createElement('canvas');
          canvas.width = 640;
          canvas.height = 360;
          const ctx = canvas.getContext('2d')!;
          let n = 0;
          w.resizable = canvas;
          w.dimensionEvents = [];
          setInterval(() => {
            ctx.fillStyle = '#fff';
            ctx.fillRect(0, 0, canvas.width, canvas.height);
            ctx.fillStyle = '#000';
            ctx.font = '32px sans-serif';
            ctx.fillText('slide ' + n++, 20 + (n % 200), 100);
          }, 66);
          const publisher = w.OT.initPublisher(document.getElementById('box'), { insertMode: 'append', videoSource: canvas.captureStream(15).getVideoTracks()[0], videoType: 'screen', audioSource: null, name: 'resizable' });
          publisher.on('videoDimensionsChanged', (e: { oldValue: unknown; newValue: unknown }) => w.dimensionEvents.push({ oldValue: e.oldValue, newValue: e.newValue }));
          w.resizablePublisher = publisher;
          w.session.publish(publisher, (e: { name: string } | null) => resolve(e ? null : publisher.stream.streamId));
        }),
    )) as string | null;
    expect(streamId).toBeTruthy();
    const before = await expectDecoding(b, [streamId!], { audio: false, timeoutMs: 60_000 });
    expect(before[streamId!]!.width).toBe(640);
    await b.page.evaluate((id) => {
      const w = window as any;
      w.subDimensionEvents = [];
      w.subs.get(id).on('videoDimensionsChanged', (e: { oldValue: unknown; newValue: unknown }) => w.subDimensionEvents.push({ oldValue: e.oldValue, newValue: e.newValue }));
    }, streamId);

    await a.page.evaluate(() => {
      const canvas = (window as any).resizable as HTMLCanvasElement;
      canvas.width = 960;
      canvas.height = 540;
    });
    const changed = { oldValue: { width: 640, height: 360 }, newValue: { width: 960, height: 540 } };
    await a.page.waitForFunction((want) => JSON.stringify((window as any).dimensionEvents).includes(want), JSON.stringify(changed), { timeout: 30_000 });
    await waitForLog(b, (l) => l.some((e) => e.type === 'streamPropertyChanged' && e.streamId === streamId && e['changedProperty'] === 'videoDimensions' && JSON.stringify(e['newValue']) === JSON.stringify(changed.newValue)), 'streamPropertyChanged videoDimensions on the other page', 30_000);
    await b.page.waitForFunction((want) => JSON.stringify((window as any).subDimensionEvents).includes(want), JSON.stringify(changed), { timeout: 30_000 });
    const after = await waitForStats(b, (s) => (s[streamId!]?.width ?? 0) === 960, 'the subscriber decoding 960 px', 60_000);
    await waitForStats(b, (s) => s[streamId!]!.framesDecoded >= after[streamId!]!.framesDecoded + 10, 'frames rising at 960 px', 60_000);
    expect(await a.page.evaluate(() => (window as any).resizablePublisher.stream.videoDimensions)).toEqual(changed.newValue);
    expect(await b.page.evaluate((id) => (window as any).streams.get(id).videoDimensions, streamId)).toEqual(changed.newValue);
  });
});
