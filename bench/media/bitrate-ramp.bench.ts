// How fast a Chromium publisher is allowed to send through our SFU: its availableOutgoingBitrate
// (from getStats) each second for 15 s after publishing a 640x480 camera, median over several
// runs; then one run in a session capped lower, to show the cap holds. Loopback, fake camera.
//   RUNS=5 SECONDS=15 CAP=600000 npm run media:ramp -w @colloquy/bench

import { launchChromium } from '@colloquy/testing/browser';
import { startMediaHarness } from '@colloquy/testing/media';
import { envInt, kbps, median, table } from '../lib/stats.js';

const RUNS = envInt('RUNS', 5);
const SECONDS = envInt('SECONDS', 15);
const CAP = envInt('CAP', 600_000);

interface Sample {
  available: number | null;
  width: number | null;
  fps: number | null;
  serverBitrate: number;
}

const harness = await startMediaHarness({ rooms: { capped: { maxIncomingBitrate: CAP } } });
const browser = await launchChromium();

async function run(room: string, seconds: number): Promise<Sample[]> {
  const { page } = await browser.newPage();
  await page.goto(harness.url);
  const pub = (await page.evaluate((r) => (window as any).media.publish({ room: r, width: 640, height: 480 }), room)) as {
    transportId: string;
  };
  const transport = harness.publishers.get(pub.transportId)!;
  const samples: Sample[] = [];
  const start = Date.now();
  for (let s = 1; s <= seconds; s++) {
    await new Promise((r) => setTimeout(r, start + s * 1000 - Date.now()));
    const stats = (await page.evaluate((id) => (window as any).media.stats(id), pub.transportId)) as {
      availableOutgoingBitrate: number | null;
      outbound: Record<string, { frameWidth?: number; framesPerSecond?: number }>;
    };
    const video = transport.producers.find((p) => p.kind === 'video');
    samples.push({
      available: stats.availableOutgoingBitrate,
      width: stats.outbound['video']?.frameWidth ?? null,
      fps: stats.outbound['video']?.framesPerSecond ?? null,
      serverBitrate: video?.bitrate ?? 0,
    });
  }
  await page.evaluate((id) => (window as any).media.close(id), pub.transportId);
  await page.close();
  return samples;
}

try {
  const runs: Sample[][] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run('default', SECONDS));
  const rows: (string | number)[][] = [['second', 'available kbps (median)', 'min', 'max', 'sent width', 'fps', 'server-received kbps']];
  for (let s = 0; s < SECONDS; s++) {
    const at = runs.map((r) => r[s]!);
    const avail = at.map((x) => x.available ?? NaN);
    rows.push([
      s + 1,
      kbps(median(avail)),
      kbps(Math.min(...avail)),
      kbps(Math.max(...avail)),
      median(at.map((x) => x.width ?? NaN)) || '-',
      Math.round(median(at.map((x) => x.fps ?? NaN))) || '-',
      kbps(median(at.map((x) => x.serverBitrate))),
    ]);
  }
  console.log(`Chromium publisher, 640x480 fake camera, loopback, engine default cap ${kbps(harness.engine.maxIncomingBitrate)} kbps; ${RUNS} runs\n`);
  console.log(table(rows));
  const reached = runs.filter((r) => r.some((x) => (x.available ?? 0) >= 1_000_000)).length;
  const firstMbps = runs.map((r) => r.findIndex((x) => (x.available ?? 0) >= 1_000_000) + 1).filter((x) => x > 0);
  console.log(`\nruns reaching >= 1 Mbps within ${SECONDS} s: ${reached}/${RUNS}; median second of first >= 1 Mbps: ${median(firstMbps) || '-'}`);

  const capped = await run('capped', Math.min(SECONDS, 10));
  const cappedAvail = capped.map((x) => x.available ?? NaN);
  console.log(`\nsession capped at ${kbps(CAP)} kbps: available kbps per second: ${cappedAvail.map(kbps).join(' ')}`);
  console.log(`max available in capped run: ${kbps(Math.max(...cappedAvail))} kbps (cap ${kbps(CAP)})`);
} finally {
  await browser.close();
  await harness.close();
}
