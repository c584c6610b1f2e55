// What end-to-end encryption costs the browser per frame: the browser SDK's frame transform
// (packages/client/src/e2ee/frame-crypto.ts, the very module the SDK bundles) timed in Chromium on
// real encoded frames. A page sends its fake 640x480 camera and microphone over a loopback pair of
// RTCPeerConnections with encoded insertable streams and keeps copies of FRAMES video frames (after
// SKIP frames, once the bitrate has ramped up) and FRAMES audio frames. Then, with the peer
// connections closed, it encrypts every frame (ROUNDS times) and decrypts the results, one frame
// at a time as the SDK's TransformStream does. Figures per frame: the latency of each await
// (median, p95), and CPU: Chromium's CPU time (every process of this browser, from /proc) during
// the loop divided by the frames, so WebCrypto's own thread counts too (/proc counts in 10 ms
// ticks: ROUNDS makes the loop long enough). Baseline in the same run: the same loop with a
// pass-through transform (copy the frame, await nothing). The page is cross-origin isolated
// (COOP/COEP), so performance.now() has 5 µs resolution instead of 100 µs.
//   FRAMES=300 ROUNDS=20 npm run sdk:e2ee-cost -w @colloquy/bench   (after npm run build)

import { launchChromium } from '@colloquy/testing/browser';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpuDeltaUs, processTreeCpu } from '../lib/proc.js';
import { envInt, fmt, median, percentile, table } from '../lib/stats.js';

const FRAMES = envInt('FRAMES', 300);
const SKIP = envInt('SKIP', 150);
const ROUNDS = envInt('ROUNDS', 20);

/** The SDK's compiled frame transform: one ES module with no imports, served to the page as is. */
const FRAME_CRYPTO = readFileSync(new URL('../../../packages/client/dist/esm/e2ee/frame-crypto.js', import.meta.url), 'utf8');

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>e2ee cost</title>
<script type="module">
import { FrameEncryptor, decryptFrame, deriveFrameKey } from '/frame-crypto.js';
const captured = { video: [], audio: [] };

window.capture = async (want, skip) => {
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, frameRate: 30 }, audio: true });
  const pcs = [new RTCPeerConnection({ encodedInsertableStreams: true }), new RTCPeerConnection({ encodedInsertableStreams: true })];
  pcs[0].onicecandidate = (e) => e.candidate && pcs[1].addIceCandidate(e.candidate);
  pcs[1].onicecandidate = (e) => e.candidate && pcs[0].addIceCandidate(e.candidate);
  const seen = { video: 0, audio: 0 };
  for (const track of media.getTracks()) {
    const sender = pcs[0].addTrack(track, media);
    const { readable, writable } = sender.createEncodedStreams();
    readable.pipeThrough(new TransformStream({ transform(frame, out) {
      const kind = track.kind;
      seen[kind]++;
      if ((kind === 'audio' || seen[kind] > skip) && captured[kind].length < want) captured[kind].push({ data: frame.data.slice(0), keyFrame: frame.type === 'key' });
      out.enqueue(frame);
    } })).pipeTo(writable);
  }
  pcs[1].ontrack = (e) => { const { readable, writable } = e.receiver.createEncodedStreams(); readable.pipeTo(writable); };
  await pcs[0].setLocalDescription();
  await pcs[1].setRemoteDescription(pcs[0].localDescription);
  await pcs[1].setLocalDescription();
  await pcs[0].setRemoteDescription(pcs[1].localDescription);
  const deadline = Date.now() + 60000;
  while ((captured.video.length < want || captured.audio.length < want) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pc of pcs) pc.close();
  for (const t of media.getTracks()) t.stop();
  const bytes = (list) => list.reduce((s, f) => s + f.data.byteLength, 0) / Math.max(1, list.length);
  return { video: captured.video.length, audio: captured.audio.length, videoBytes: bytes(captured.video), audioBytes: bytes(captured.audio), keyFrames: captured.video.filter((f) => f.keyFrame).length };
};

let key;
let sealed = { video: [], audio: [] };
window.prepare = async () => { key = await deriveFrameKey('a benchmark secret', 'bench-session'); return key.id; };

/** Per-frame latency (µs) over the frames, ROUNDS times, and the whole loop's time: 'encrypt', 'decrypt' or 'copy' (the pass-through baseline). */
window.pass = async (kind, what, rounds) => {
  const times = [];
  const began = performance.now();
  const encryptor = new FrameEncryptor();
  if (what === 'encrypt') sealed[kind] = [];
  for (let r = 0; r < rounds; r++) {
    const list = what === 'decrypt' ? sealed[kind] : captured[kind];
    for (const frame of list) {
      const start = performance.now();
      if (what === 'encrypt') {
        const out = await encryptor.encrypt(frame.data, kind, frame.keyFrame, key);
        if (r === 0) sealed[kind].push(out);
      } else if (what === 'decrypt') {
        const result = await decryptFrame(frame, (id) => (id === key.id ? key.key : null));
        if (!result.ok) throw new Error('a frame did not decrypt: ' + result.reason);
      } else {
        frame.data.slice(0);
      }
      times.push((performance.now() - start) * 1000);
    }
  }
  return { times, totalUs: (performance.now() - began) * 1000, isolated: crossOriginIsolated };
};
</script></head><body></body></html>`;

{
  const server = createServer((request, response) => {
    const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' };
    if (request.url === '/frame-crypto.js') response.writeHead(200, { 'content-type': 'text/javascript', ...isolation }).end(FRAME_CRYPTO);
    else response.writeHead(200, { 'content-type': 'text/html', ...isolation }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const marker = `--colloquy-bench-e2ee=${randomUUID()}`;
  const browser = await launchChromium({ args: [marker] });
  try {
    const { page, errors } = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => typeof (window as any).capture === 'function');
    const got = (await page.evaluate(([n, s]) => (window as any).capture(n, s), [FRAMES, SKIP] as const)) as { video: number; audio: number; videoBytes: number; audioBytes: number; keyFrames: number };
    if (got.video < FRAMES || got.audio < FRAMES) throw new Error(`captured too few frames: ${JSON.stringify(got)}; ${errors.join('; ')}`);
    await page.evaluate(() => (window as any).prepare());
    await new Promise((r) => setTimeout(r, 1000)); // let the closed peer connections' threads settle
    // What the browser burns doing nothing (its other processes, timers): subtracted from each loop.
    const idleFrom = processTreeCpu(marker);
    const idleStart = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const idleUsPerMs = cpuDeltaUs(idleFrom, processTreeCpu(marker)) / (performance.now() - idleStart);

    const rows: (string | number)[][] = [['frames', 'step', 'median µs', 'p95 µs', 'mean µs', 'CPU µs/frame', 'minus idle']];
    const results: Record<string, { median: number; cpu: number }> = {};
    let isolated = false;
    for (const kind of ['video', 'audio'] as const) {
      for (const what of ['copy', 'encrypt', 'decrypt'] as const) {
        const before = processTreeCpu(marker);
        const startedAt = performance.now();
        const run = (await page.evaluate(([k, w, r]) => (window as any).pass(k, w, r), [kind, what, ROUNDS] as const)) as { times: number[]; totalUs: number; isolated: boolean };
        const after = processTreeCpu(marker);
        const wallMs = performance.now() - startedAt;
        const { times } = run;
        isolated = run.isolated;
        const used = after.size > 0 ? cpuDeltaUs(before, after) : NaN;
        const cpu = used / times.length;
        const net = Math.max(0, used - idleUsPerMs * wallMs) / times.length;
        results[`${kind}-${what}`] = { median: median(times), cpu: net };
        rows.push([kind, what, fmt(median(times), 1), fmt(percentile(times, 95), 1), fmt(run.totalUs / times.length, 1), fmt(cpu, 1), fmt(net, 1)]);
      }
    }
    console.log(`E2EE frame transform in Chromium: ${FRAMES} real frames per kind x ${ROUNDS} rounds, one at a time (as the SDK's TransformStream)`);
    console.log(`video: 640x480 VP8 from the fake camera, mean ${Math.round(got.videoBytes)} bytes/frame, ${got.keyFrames} keyframes; audio: Opus, mean ${Math.round(got.audioBytes)} bytes/frame\n`);
    console.log(table(rows));
    if (!isolated) console.log('(the page was not cross-origin isolated: latencies are in 100 µs steps)');
    const video = (what: string) => results[`video-${what}`]!;
    console.log(`\nidle browser: ${fmt(idleUsPerMs * 1000, 0)} µs of CPU per second, subtracted in "minus idle"`);
    console.log(`video at 30 fps: encrypt ${fmt((video('encrypt').cpu * 30) / 10_000, 3)} % of one core, decrypt ${fmt((video('decrypt').cpu * 30) / 10_000, 3)} % (CPU per frame minus idle, x 30; the copy baseline is ${fmt(video('copy').cpu, 1)} µs/frame)`);
    if (errors.length > 0) console.log(`page errors: ${errors.join('; ')}`);
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
  }
}
