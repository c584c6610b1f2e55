// Through the real browser SDK and server: time from `streamCreated` to the subscriber's first
// rendered video frame (requestVideoFrameCallback), median over JOINS joins, and the publisher's
// availableOutgoingBitrate 15 s after it published — for a routed session (the SFU) and a relayed
// one (peer to peer). Baseline in the same run: raw RTCPeerConnection pages on the media engine
// alone (no signaling, no SDK), subscribe() start to first frame.
//   JOINS=10 npm run sdk:first-frame -w @colloquy/bench
//
// One Chromium (fake 640x480 camera), loopback. Each join is a new Session on the subscriber page:
// connect, streamCreated for the existing stream, subscribe, first frame, disconnect.

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { firstFrameJoin, startMediaHarness } from '@colloquy/testing/media';
import { startSdkApp } from '../lib/sdk-app.js';
import { envInt, kbps, median, table } from '../lib/stats.js';
import { firstFramePage as page } from './first-frame-page.js';

const JOINS = envInt('JOINS', 10);
const BITRATE_AFTER_MS = 15_000;



async function sdkRun(browser: TestBrowser, mediaMode: 'routed' | 'relayed'): Promise<{ times: number[]; bitrate: number | null }> {
  const { t, sdk, url, close } = await startSdkApp(page);
  try {
    const { sessionId } = await sdk.createSession({ mediaMode });
    const pub = await browser.newPage();
    await pub.page.goto(url);
    await pub.page.evaluate(([k, s, tk]) => (window as any).publish(k, s, tk), [t.apiKey, sessionId, sdk.generateToken(sessionId)] as const);
    const publishedAt = Date.now();
    // Relayed: the publisher's bitrate is per subscriber connection; one subscriber stays throughout.
    const watcher = await browser.newPage();
    await watcher.page.goto(url);
    if (mediaMode === 'relayed') await watcher.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk, true), [t.apiKey, sessionId, sdk.generateToken(sessionId)] as const);
    const sub = await browser.newPage();
    await sub.page.goto(url);
    const times: number[] = [];
    for (let i = 0; i < JOINS; i++) {
      const ms = (await sub.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk), [t.apiKey, sessionId, sdk.generateToken(sessionId)] as const)) as number | null;
      times.push(ms ?? NaN);
      await new Promise((r) => setTimeout(r, 300));
    }
    const wait = publishedAt + BITRATE_AFTER_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const bitrate = (await pub.page.evaluate(() => (window as any).availableOutgoingBitrate())) as number | null;
    await watcher.page.close();
    await pub.page.close();
    await sub.page.close();
    return { times, bitrate };
  } finally {
    await close();
  }
}

async function baselineRun(browser: TestBrowser): Promise<number[]> {
  const harness = await startMediaHarness();
  try {
    const { page: pubPage } = await browser.newPage();
    await pubPage.goto(harness.url);
    const pub = (await pubPage.evaluate(() => (window as any).media.publish({ width: 640, height: 480 }))) as { producers: { id: string }[] };
    await new Promise((r) => setTimeout(r, 2000));
    const { page } = await browser.newPage();
    await page.goto(harness.url);
    const times: number[] = [];
    for (let i = 0; i < JOINS; i++) {
      times.push((await firstFrameJoin(page, pub.producers.map((p) => p.id))) ?? NaN);
      await new Promise((r) => setTimeout(r, 300));
    }
    await pubPage.close();
    await page.close();
    return times;
  } finally {
    await harness.close();
  }
}

/** Each part in its own Chromium: while the relayed part ran, Chromium 156 here was seen to end
 * the whole (persistent) context, and the next part then had no browser. */
async function inBrowser<T>(run: (browser: TestBrowser) => Promise<T>): Promise<T> {
  const browser = await launchChromium();
  try {
    return await run(browser);
  } finally {
    await browser.close();
  }
}

{
  const routed = await inBrowser((b) => sdkRun(b, 'routed'));
  const relayed = await inBrowser((b) => sdkRun(b, 'relayed'));
  const baseline = await inBrowser(baselineRun);
  const rows: (string | number)[][] = [['join', 'routed SDK ms', 'relayed SDK ms', 'raw PC baseline ms']];
  const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'none in 10 s' : Math.round(x));
  for (let i = 0; i < JOINS; i++) rows.push([i + 1, fmt(routed.times[i]), fmt(relayed.times[i]), fmt(baseline[i])]);
  console.log(`streamCreated -> first rendered frame, ${JOINS} joins to one 640x480 publisher (Chromium, loopback)\n`);
  console.log(table(rows));
  const mRouted = median(routed.times);
  const mRelayed = median(relayed.times);
  const mBase = median(baseline);
  console.log(`\nmedian: routed ${Math.round(mRouted)} ms, relayed ${Math.round(mRelayed)} ms; baseline (media engine, raw RTCPeerConnection, subscribe() start) ${Math.round(mBase)} ms`);
  console.log(`ratio routed SDK / baseline: ${(mRouted / mBase).toFixed(2)}x`);
  console.log(`\npublisher availableOutgoingBitrate ${BITRATE_AFTER_MS / 1000} s after publishing: routed ${kbps(routed.bitrate)} kbps, relayed ${kbps(relayed.bitrate)} kbps`);
}
