// Media worker threads in real Chromium: a server with a worker thread that serves subscribers from
// the first one on (COLLOQUY_WORKERS=2, COLLOQUY_WORKERS_FROM=0). A 720p simulcast publisher; two
// subscribers on another page served by the worker's own SFU (the stream piped to it once; one
// client's subscribers stay on one thread, where its downlink is coordinated) and one on a third
// page served by the main thread, each decoding the layer it prefers; a change of preference on a
// worker-served subscriber switches its layer through the pipe.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaApp, publish720p, waitForStats } from './media-app.js';

let m: MediaApp;

beforeAll(async () => {
  m = await MediaApp.start({ COLLOQUY_WORKERS: '2', COLLOQUY_WORKERS_FROM: '0' });
});
afterEach(async () => m.closePages());
afterAll(async () => m?.close());

describe('media worker threads', { timeout: 180_000 }, () => {
  it('subscribers served by a worker thread and by the main thread decode the simulcast layers they prefer; a new preference switches through the pipe', async () => {
    const { sessionId, b, streamId } = await publish720p(m);
    const c = await m.openPage();
    await m.join(c, sessionId, 'subscriber', 'name=Cy');
    for (const p of [b, c]) await p.page.waitForFunction((id) => (window as any).streams.has(id), streamId);
    const session = m.t.server.sessions.live(sessionId)!;
    const servedBy = (): string[] => [...session.subscriptions.values()].map((s) => s.remote?.nodeId ?? 'main');
    // One at a time, so that placement is known: the worker (started for the first), the worker
    // again (b's other subscriber is there; by load too: the main thread's publisher weighs two),
    // then, for c, the main thread (a tie).
    const keys = ['small', 'large', 'middle'];
    const pages = [b, b, c];
    const preferred = [{ width: 320, height: 180 }, null, { width: 640, height: 360 }];
    for (let i = 0; i < keys.length; i++) {
      await pages[i]!.page.evaluate(([id, key, res]) => (window as any).subscribeTo(id, { key, ...(res ? { preferredResolution: res } : {}) }), [streamId, keys[i]!, preferred[i]] as const);
      await waitForStats(pages[i]!, (s) => (s[`${streamId}:${keys[i]}`]?.framesDecoded ?? 0) > 0, `${keys[i]} decoding`);
    }
    expect(servedBy()).toEqual(['worker-1', 'worker-1', 'main']);
    expect(m.t.server.mediaWorkers.stats()).toMatchObject({ pipes: 1, remoteSubscriptions: 2 });

    const [small, large, middle] = keys.map((k) => `${streamId}:${k}`) as [string, string, string];
    const widths = { [small]: 320, [large]: 1280, [middle]: 640 };
    const first = await waitForStats([b, c], (s) => Object.entries(widths).every(([k, w]) => s[k]?.width === w), 'q and f from the worker, h from the main thread');
    const rising = await waitForStats([b, c], (s) => Object.entries(widths).every(([k, w]) => s[k]?.width === w && s[k]!.framesDecoded >= first[k]!.framesDecoded + 10), 'all three decoding (frames rising)');
    console.log(`media workers: worker-served ${rising[small]!.width}px and ${rising[large]!.width}px, main-thread ${rising[middle]!.width}px`);

    // The worker-served small subscriber asks for 1280x720: the worker's consumer switches to f.
    await b.page.evaluate((key) => (window as any).subs.get(key).setPreferredResolution({ width: 1280, height: 720 }), small);
    const switched = await waitForStats(b, (s) => s[small]?.width === 1280, 'the worker-served subscriber switched to 1280 px');
    await waitForStats(b, (s) => s[small]!.width === 1280 && s[small]!.framesDecoded >= switched[small]!.framesDecoded + 10, 'frames rising at 1280 px');
  });
});
