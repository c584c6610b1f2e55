// Time from a Chromium page starting to subscribe (what will follow streamCreated) to its first
// rendered video frame (requestVideoFrameCallback), through our SFU: one publisher page, JOINS
// subscriptions made one after another on a second page, median. Loopback, fake camera.
//   JOINS=10 npm run media:first-frame -w @colloquy/bench

import { launchChromium } from '@colloquy/testing/browser';
import { firstFrameJoin, startMediaHarness } from '@colloquy/testing/media';
import { envInt, median, table } from '../lib/stats.js';

const JOINS = envInt('JOINS', 10);
const harness = await startMediaHarness();
const browser = await launchChromium();

try {
  const { page: pubPage } = await browser.newPage();
  await pubPage.goto(harness.url);
  const pub = (await pubPage.evaluate(() => (window as any).media.publish({ width: 640, height: 480 }))) as {
    producers: { id: string }[];
  };
  const ids = pub.producers.map((p) => p.id);
  await new Promise((r) => setTimeout(r, 2000)); // past the publisher's start-up
  const { page } = await browser.newPage();
  await page.goto(harness.url);
  const times: number[] = [];
  const rows: (string | number)[][] = [['join', 'first frame ms', 'keyframe requests so far']];
  const producer = harness.engine.routers[0]!.producers.find((p) => p.kind === 'video')!;
  for (let i = 0; i < JOINS; i++) {
    const ms = await firstFrameJoin(page, ids);
    times.push(ms ?? NaN);
    rows.push([i + 1, ms === null ? 'none in 10 s' : Math.round(ms), producer.getStats().pliCount]);
    await new Promise((r) => setTimeout(r, 300));
  }
  console.log(`subscribe() start -> first rendered frame, ${JOINS} joins to one 640x480 VP8 publisher\n`);
  console.log(table(rows));
  console.log(`\nmedian: ${Math.round(median(times))} ms`);
} finally {
  await browser.close();
  await harness.close();
}
