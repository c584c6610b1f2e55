// What the SDK's video filters cost: one publisher whose fake camera shows a person-like scene
// (@colloquy/testing/person-scene, 640x480 at 30 fps) publishes to a routed session, one subscriber
// (in a second Chromium, so the first one's CPU is the publisher's alone) watches it. For each
// phase — no filter, backgroundBlur 'high', backgroundReplacement, no filter again — over WINDOW
// seconds: frames the publisher encoded per second (outbound-rtp framesEncoded) and the subscriber
// decoded (inbound-rtp framesDecoded), the publisher page's main-thread busy time per second (CDP
// Performance.getMetrics TaskDuration), the CPU time of every process of the publisher's Chromium
// (/proc, utime+stime), and the filter's own counts (segmentations per second, ms each).
//   WINDOW=10 npm run sdk:video-filter -w @colloquy/bench
// The "no filter again" phase is the same-run baseline repeated: how noisy this machine is.

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { personScene, writeSceneY4m } from '@colloquy/testing/person-scene';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startSdkApp } from '../lib/sdk-app.js';
import { envInt, fmt, table } from '../lib/stats.js';

const WINDOW_S = envInt('WINDOW', 10);
const TICKS = 100; // USER_HZ on Linux

const page = (server: string): string => `<!doctype html><html><head><meta charset="utf-8"><script src="${server}/v2/js/opentok.js"></script><script>
window.connect = (apiKey, sessionId, token) => new Promise((resolve, reject) => {
  window.session = OT.initSession(apiKey, sessionId);
  session.on('streamCreated', (e) => { window.subscriber = session.subscribe(e.stream, document.body, { insertMode: 'append', width: 640, height: 480 }); });
  session.connect(token, (e) => (e ? reject(e.message) : resolve()));
});
window.publish = () => new Promise((resolve, reject) => {
  window.publisher = OT.initPublisher(document.body, { insertMode: 'append', resolution: '640x480', frameRate: 30 });
  session.publish(publisher, (e) => (e ? reject(e.message) : resolve(publisher.stream.streamId)));
});
window.videoCounter = async (which) => {
  const reports = which === 'publisher' ? (await publisher.getRtcStatsReport()).map((r) => r.rtcStatsReport) : window.subscriber ? [await subscriber.getRtcStatsReport()] : [];
  let frames = 0;
  for (const report of reports) report.forEach((s) => {
    if (s.kind !== 'video') return;
    if (which === 'publisher' && s.type === 'outbound-rtp') frames = Math.max(frames, s.framesEncoded || 0);
    if (which !== 'publisher' && s.type === 'inbound-rtp') frames += s.framesDecoded || 0;
  });
  return frames;
};
</script></head><body></body></html>`;

/** The browser process of a Chromium launched with this profile folder, and every descendant. */
function chromiumPids(profile: string): number[] {
  const parents = new Map<number, number>();
  let root: number | null = null;
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parents.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (root === null && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(profile) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--user-data-dir')) {
        const ppid = parents.get(pid)!;
        const parentCmd = readFileSync(`/proc/${ppid}/cmdline`, 'utf8');
        if (!parentCmd.includes(profile)) root = pid;
      }
    } catch {
      // The process ended while we looked.
    }
  }
  if (root === null) return [];
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parents) if (ppid === out[i]) out.push(pid);
  return out;
}

/** CPU seconds (user + system) used so far by these processes. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Ended: its time is gone from the sum (rare within a window; the browser keeps its processes).
    }
  }
  return ticks / TICKS;
}

interface Phase {
  name: string;
  encodedFps: number;
  decodedFps: number;
  mainThreadPct: number;
  chromiumCpuPct: number;
  segmentationsPerS: number | null;
  msPerSegmentation: number | null;
  load: number;
}

async function measure(name: string, pub: Page, sub: Page, profile: string): Promise<Phase> {
  const cdp = await pub.context().newCDPSession(pub);
  await cdp.send('Performance.enable');
  const task = async () => ((await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration')?.value ?? 0);
  const pids = chromiumPids(profile);
  const filterStats = () => pub.evaluate(() => (window as any).publisher._videoFilterStats());
  const s0 = { enc: await pub.evaluate(() => (window as any).videoCounter('publisher')), dec: await sub.evaluate(() => (window as any).videoCounter('subscriber')), task: await task(), cpu: cpuSeconds(pids), filter: await filterStats(), at: Date.now() };
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  const s1 = { enc: await pub.evaluate(() => (window as any).videoCounter('publisher')), dec: await sub.evaluate(() => (window as any).videoCounter('subscriber')), task: await task(), cpu: cpuSeconds(pids), filter: await filterStats(), at: Date.now() };
  await cdp.detach();
  const seconds = (s1.at - s0.at) / 1000;
  const segmentations = s0.filter && s1.filter ? s1.filter.segmentations - s0.filter.segmentations : null;
  return {
    name,
    encodedFps: (s1.enc - s0.enc) / seconds,
    decodedFps: (s1.dec - s0.dec) / seconds,
    mainThreadPct: ((s1.task - s0.task) / seconds) * 100,
    chromiumCpuPct: ((s1.cpu - s0.cpu) / seconds) * 100,
    segmentationsPerS: segmentations === null ? null : segmentations / seconds,
    msPerSegmentation: segmentations ? (s1.filter.segmentationMs - s0.filter.segmentationMs) / segmentations : null,
    load: loadavg()[0]!,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'colloquy-filter-bench-'));
const scene = personScene(640, 480);
const y4m = join(dir, 'person.y4m');
writeSceneY4m(y4m, scene);
const app = await startSdkApp(page);
let pubBrowser: TestBrowser | null = null;
let subBrowser: TestBrowser | null = null;
try {
  pubBrowser = await launchChromium({ args: [`--use-file-for-fake-video-capture=${y4m}`] });
  subBrowser = await launchChromium();
  const profile = pubBrowser.profile;
  const session = await app.sdk.createSession({ mediaMode: 'routed' });
  const token = (role: 'publisher' | 'subscriber') => app.sdk.generateToken(session.sessionId, { role });
  const pub = (await pubBrowser.newPage()).page;
  const sub = (await subBrowser.newPage()).page;
  await pub.goto(app.url);
  await sub.goto(app.url);
  await pub.evaluate(([k, s, t]) => (window as any).connect(k, s, t), [app.t.apiKey, session.sessionId, token('publisher')] as const);
  await sub.evaluate(([k, s, t]) => (window as any).connect(k, s, t), [app.t.apiKey, session.sessionId, token('subscriber')] as const);
  await pub.evaluate(() => (window as any).publish());
  // Let the bitrate ramp up and the subscriber start decoding.
  await sub.waitForFunction(async () => (await (window as any).videoCounter('subscriber')) > 60, undefined, { timeout: 60_000, polling: 500 });
  const phases: Phase[] = [];
  phases.push(await measure('no filter', pub, sub, profile));
  const blurMs = await pub.evaluate(async () => {
    const t = performance.now();
    await (window as any).publisher.applyVideoFilter({ type: 'backgroundBlur', blurStrength: 'high' });
    return performance.now() - t;
  });
  await new Promise((r) => setTimeout(r, 3000));
  phases.push(await measure('backgroundBlur high', pub, sub, profile));
  const image = await pub.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 640;
    c.height = 480;
    const ctx = c.getContext('2d')!;
    const g = ctx.createLinearGradient(0, 0, 640, 480);
    g.addColorStop(0, '#2a6'), g.addColorStop(1, '#26a');
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, 640, 480);
    return c.toDataURL('image/png');
  });
  const replaceMs = await pub.evaluate(async (url) => {
    const t = performance.now();
    await (window as any).publisher.applyVideoFilter({ type: 'backgroundReplacement', backgroundImgUrl: url });
    return performance.now() - t;
  }, image);
  await new Promise((r) => setTimeout(r, 3000));
  phases.push(await measure('backgroundReplacement', pub, sub, profile));
  await pub.evaluate(() => (window as any).publisher.clearVideoFilter());
  await new Promise((r) => setTimeout(r, 3000));
  phases.push(await measure('no filter (again)', pub, sub, profile));

  console.log(`Video filters, 640x480 fake camera at 30 fps (a person-like scene), routed, ${WINDOW_S} s per phase`);
  console.log(`applyVideoFilter resolved after ${fmt(blurMs)} ms (blur: first use, loads and warms the model) and ${fmt(replaceMs)} ms (replacement, model already loaded)\n`);
  const rows: (string | number)[][] = [['phase', 'encoded fps', 'decoded fps', 'publisher page main thread %', 'publisher Chromium CPU %', 'segmentations/s', 'ms/segmentation', 'load avg (1 min)']];
  for (const p of phases) rows.push([p.name, fmt(p.encodedFps, 1), fmt(p.decodedFps, 1), fmt(p.mainThreadPct), fmt(p.chromiumCpuPct), p.segmentationsPerS === null ? '-' : fmt(p.segmentationsPerS, 1), p.msPerSegmentation === null ? '-' : fmt(p.msPerSegmentation), fmt(p.load, 1)]);
  console.log(table(rows));
} finally {
  await pubBrowser?.close();
  await subBrowser?.close();
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
