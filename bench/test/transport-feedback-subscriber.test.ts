// A load subscriber that sends transport feedback as Chromium does (`transportCc`), against a real
// server in this process: the SFU takes it as a browser's (its downlink is estimated from our
// feedback, not left unlimited), and the subscriber reads what it receives as it would read a
// browser's stream (keyframes, the picture's width from the VP8 header). Without the option the SFU
// has nothing to go by, as before.

import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureClip, loadClip } from '../dist/load/clip.js';
import { LoadPublisher } from '../dist/load/publisher.js';
import { LoadSubscriber } from '../dist/load/subscriber.js';
import { ColloquyTarget } from '../dist/load/targets/colloquy.js';

const CLIP = { width: 320, height: 180, bitrate: 300_000, fps: 30, seconds: 10 }; // as the load smoke test's: encoded once, cached

let t: TestServer;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await t?.close();
});

async function until(what: string, test: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('load subscriber with transport feedback', () => {
  it('is estimated by the SFU from its feedback, and reads keyframes and width of the stream', async () => {
    const spec = { kind: 'colloquy' as const, url: t.url, apiKey: t.apiKey, apiSecret: t.apiSecret };
    const target = new ColloquyTarget(spec);
    const [session] = await ColloquyTarget.createSessions(spec, 1);
    const publishing = await target.join(session!, 'pub');
    closers.push(() => publishing.leave());
    const publisher = new LoadPublisher({ clip: loadClip(ensureClip(CLIP)), bindIp: '127.0.0.1', keyFrameMinIntervalMs: 200 });
    closers.push(() => publisher.close());
    const published = await publishing.publish(await publisher.offer(), { width: CLIP.width, height: CLIP.height, frameRate: CLIP.fps });
    await publisher.accept(published.answer);
    publisher.start();
    closers.push(async () => publisher.stop());

    const subscribe = async (name: string, transportCc: boolean) => {
      const participant = await target.join(session!, name);
      closers.push(() => participant.leave());
      const subscriber = new LoadSubscriber({ bindIp: '127.0.0.1', transportCc, readFrameStarts: true });
      closers.push(() => subscriber.close());
      const subscription = await participant.subscribe(published.streamId);
      const answer = await subscriber.answer(subscription.offer);
      await subscription.answer(answer);
      await subscriber.connected();
      return { subscriber, answer };
    };
    const withFeedback = await subscribe('feedback', true);
    const without = await subscribe('no-feedback', false);
    expect(withFeedback.answer).toContain('transport-wide-cc');
    expect(without.answer).not.toContain('transport-wide-cc');

    const live = t.server.sessions.live(session!)!;
    const downlinks = () => [...live.subscriptions.values()].map((x) => ({ name: x.connection.data, downlink: x.transport?.getStats().downlink }));
    const video = (s: LoadSubscriber) => [...s.streams.values()].find((x) => x.kind === 'video');
    await until('both subscribers receive whole keyframes and the one with feedback is estimated', () => {
      const d = downlinks().find((x) => x.name === 'name=feedback')?.downlink;
      return (video(withFeedback.subscriber)?.keyFrames ?? 0) > 0 && (video(without.subscriber)?.keyFrames ?? 0) > 0 && d?.ackedBitrate != null;
    });
    expect(withFeedback.subscriber.feedbackSent).toBeGreaterThan(0);
    const byName = Object.fromEntries(downlinks().map((x) => [x.name, x.downlink]));
    expect(byName['name=feedback']?.feedback).toBe('transport-cc');
    // What the estimator acknowledged is what the stream carries (a 300 kbps clip with audio).
    expect(byName['name=feedback']?.ackedBitrate).toBeGreaterThan(100_000);
    expect(byName['name=no-feedback']?.feedback).toBe('none');
    expect(byName['name=no-feedback']?.ackedBitrate).toBeNull();
    for (const s of [withFeedback.subscriber, without.subscriber]) {
      expect(video(s)!.width).toBe(CLIP.width);
      expect(video(s)!.frames).toBeGreaterThan(0);
    }
  });
});
