// Glass-to-glass latency of live streaming broadcasts, and CPU per broadcast.
//
// A Chromium page publishes (browser SDK, routed session) a 640x480 canvas whose every frame
// carries the wall-clock time it was drawn as a pixel code: Date.now() mod 2^32 in an 8x8 grid of
// 80x60 blocks, rows 0-3 the 32 bits (black 0, white 1) and rows 4-7 their complements, so a frame
// the encoders smeared is recognised and dropped instead of misread. The broadcast (one stream,
// bestFit at 640x480: the canvas fills the picture) goes through the whole path: SFU, decoder,
// composer, x264, the outputs. Readers, on this machine (same wall clock as the page):
//   - RTMP: an `ffmpeg -listen 1` receiver on loopback decodes the live FLV to raw gray frames on
//     a pipe; latency = Date.now() when a frame is read from the pipe − its code.
//   - HLS: the playlist is polled every 100 ms; when a new segment appears it is fetched and
//     decoded, and every frame in it counts as available at the moment the segment appeared:
//     latency = that moment − the frame's code (what a player could show at best, before its own
//     buffering: players start a few segments back).
// Run 1: HLS (4 s segments) + RTMP; run 2: low-latency HLS (1 s segments) + RTMP; MEASURE_S each.
// Then CPU per broadcast (HLS only) at 640x480 and 1280x720 over CPU_S each: the server's ffmpeg
// children (decoders, encoder, muxers) from /proc, and the server process itself (in this process:
// SFU + composer), as shares of one core.
//   npm run broadcast:latency -w @colloquy/bench        (MEASURE_S=30 CPU_S=20 by default)

import { launchChromium } from '@colloquy/testing/browser';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSdkApp } from '../lib/sdk-app.js';
import { sampleProcess } from '../lib/proc.js';
import { envInt, percentile, table } from '../lib/stats.js';

const run = promisify(execFile);
const MEASURE_S = envInt('MEASURE_S', 30);
const CPU_S = envInt('CPU_S', 20);
const W = 640;
const H = 480;
const GRID = 8;

/** The page: publish() sends the time-coded canvas (and the fake microphone) with the browser SDK. */
const page = (server: string): string => `<!doctype html><html><head><meta charset="utf-8"><script src="${server}/v2/js/opentok.js"></script><script>
function timeCodedTrack() {
  const canvas = document.createElement('canvas');
  canvas.width = ${W}; canvas.height = ${H};
  const ctx = canvas.getContext('2d');
  const bw = ${W / GRID}, bh = ${H / GRID};
  setInterval(() => {
    const code = Date.now() % 4294967296;
    for (let i = 0; i < 32; i++) {
      const bit = Math.floor(code / 2 ** i) % 2;
      const col = i % ${GRID}, row = Math.floor(i / ${GRID});
      ctx.fillStyle = bit ? '#fff' : '#000'; ctx.fillRect(col * bw, row * bh, bw, bh);
      ctx.fillStyle = bit ? '#000' : '#fff'; ctx.fillRect(col * bw, (row + 4) * bh, bw, bh);
    }
  }, 1000 / 30);
  return canvas.captureStream(30).getVideoTracks()[0];
}
window.publish = (apiKey, sessionId, token) => new Promise((resolve, reject) => {
  const session = OT.initSession(apiKey, sessionId, { statsReportIntervalMs: 0 });
  session.connect(token, (e) => {
    if (e) return reject(e.message);
    const publisher = OT.initPublisher(document.body, { insertMode: 'append', videoSource: timeCodedTrack(), resolution: '${W}x${H}' });
    session.publish(publisher, (err) => (err ? reject(err.message) : resolve(true)));
  });
});
</script></head><body></body></html>`;

/** The time code of a gray frame of any size (sampled at block centres), or null when unreadable. */
export function readCode(frame: Buffer, width: number, height: number): number | null {
  const bw = width / GRID;
  const bh = height / GRID;
  const mean = (col: number, row: number): number => {
    let sum = 0;
    let n = 0;
    for (let y = Math.floor(row * bh + bh / 4); y < Math.floor(row * bh + (3 * bh) / 4); y += 2) {
      for (let x = Math.floor(col * bw + bw / 4); x < Math.floor(col * bw + (3 * bw) / 4); x += 2) {
        sum += frame[y * width + x]!;
        n++;
      }
    }
    return sum / n;
  };
  let code = 0;
  for (let i = 0; i < 32; i++) {
    const col = i % GRID;
    const row = Math.floor(i / GRID);
    const bit = mean(col, row);
    const complement = mean(col, row + 4);
    // Both must be clearly black or white, and opposite.
    if (Math.abs(bit - complement) < 100) return null;
    if (bit > complement) code += 2 ** i;
  }
  return code;
}

/** now − code, in ms, modulo 2^32 (the page and this process share the machine's wall clock). */
function latencyOf(code: number, now: number): number {
  const d = (now % 4294967296) - code;
  return d < -2147483648 ? d + 4294967296 : d;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve().then(probe).catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** An RTMP receiver that decodes to gray frames and records each frame's latency as it is read. */
function rtmpReader(port: number): { process: ChildProcess; latencies: number[]; unreadable: () => number; recording: { on: boolean } } {
  const child = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-fflags', 'nobuffer', '-flags', 'low_delay', '-threads', '1', '-listen', '1', '-i', `rtmp://127.0.0.1:${port}/live/x`, '-an', '-vf', `scale=${W}:${H}`, '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const latencies: number[] = [];
  const recording = { on: false };
  let bad = 0;
  let pending: Buffer = Buffer.alloc(0);
  child.stdout!.on('data', (chunk: Buffer) => {
    const now = Date.now();
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= W * H) {
      const code = readCode(pending.subarray(0, W * H), W, H);
      pending = pending.subarray(W * H);
      if (!recording.on) continue;
      if (code === null) bad++;
      else latencies.push(latencyOf(code, now));
    }
  });
  return { process: child, latencies, unreadable: () => bad, recording };
}

/** Polls the HLS playlist; each new segment's frames get the moment the segment appeared. */
function hlsReader(playlist: string, dir: string): { latencies: number[]; segments: number[]; unreadable: () => number; recording: { on: boolean }; stop: () => Promise<void> } {
  const latencies: number[] = [];
  /** Segment durations seen (s). */
  const segments: number[] = [];
  const recording = { on: false };
  let bad = 0;
  let seen: Set<string> | null = null;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const text = await fetch(playlist).then((r) => (r.ok ? r.text() : ''), () => '');
      const now = Date.now();
      const names = text.split('\n').filter((l) => l.endsWith('.ts'));
      if (names.length > 0 && seen === null) seen = new Set(names); // what was there before we looked
      for (const name of names) {
        if (seen === null || seen.has(name)) continue;
        seen.add(name);
        if (!recording.on) continue;
        const file = join(dir, 'segment.ts');
        writeFileSync(file, Buffer.from(await (await fetch(new URL(name, playlist))).arrayBuffer()));
        const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, '-an', '-vf', `scale=${W}:${H}`, '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 });
        const all = stdout as unknown as Buffer;
        segments.push(all.length / (W * H) / 30);
        for (let o = 0; o + W * H <= all.length; o += W * H) {
          const code = readCode(all.subarray(o, o + W * H), W, H);
          if (code === null) bad++;
          else latencies.push(latencyOf(code, now));
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    latencies,
    segments,
    unreadable: () => bad,
    recording,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** The pids of this process's ffmpeg children (the server runs in this process). */
function ffmpegChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm === 'ffmpeg') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const row = (name: string, values: number[], extra = ''): (string | number)[] => [name, values.length, Math.round(percentile(values, 50)), Math.round(percentile(values, 90)), Math.round(Math.min(...values)), Math.round(Math.max(...values)), extra];

const app = await startSdkApp(page);
const browser = await launchChromium();
const dir = mkdtempSync(join(tmpdir(), 'colloquy-broadcast-bench-'));
const results: (string | number)[][] = [['output', 'frames', 'p50 ms', 'p90 ms', 'min', 'max', 'notes']];
const cpuRows: (string | number)[][] = [['resolution', 'ffmpeg children (cores)', 'server process (cores)', 'ffmpeg processes']];
try {
  const { sessionId } = await app.sdk.createSession({ mediaMode: 'routed' });
  const pub = await browser.newPage();
  await pub.page.goto(app.url);
  await pub.page.evaluate(([k, s, tk]) => (window as any).publish(k, s, tk), [app.t.apiKey, sessionId, app.sdk.generateToken(sessionId)] as const);
  await until('the stream in the session', () => (app.t.server.sessions.live(sessionId)?.liveStreams().length ?? 0) > 0);

  for (const lowLatency of [false, true]) {
    const port = await freePort();
    const rtmp = rtmpReader(port);
    try {
      // The receiver listens once ffmpeg has started; the broadcast's RTMP output retries anyway.
      await new Promise((r) => setTimeout(r, 500));
      const b = await app.sdk.broadcasts.start(sessionId, { outputs: { hls: { lowLatency }, rtmp: [{ id: 'rx', serverUrl: `rtmp://127.0.0.1:${port}/live`, streamName: 'x' }] }, resolution: `${W}x${H}`, layout: { type: 'bestFit' } });
      const hls = hlsReader(b.broadcastUrls.hls!, dir);
      try {
        await until('the RTMP target and HLS live', async () => {
          const now = await app.sdk.broadcasts.get(b.id);
          return now.broadcastUrls.rtmp[0]!.status === 'live' && now.broadcastUrls.hlsStatus === 'live' && now.streams.length === 1;
        }, 90_000);
        // Let the first segments (started before the stream's first picture) go by.
        await new Promise((r) => setTimeout(r, (lowLatency ? 3 : 9) * 1000));
        rtmp.recording.on = true;
        hls.recording.on = true;
        await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
        rtmp.recording.on = false;
        hls.recording.on = false;
      } finally {
        await hls.stop();
        await app.sdk.broadcasts.stop(b.id).catch(() => {});
      }
      const label = lowLatency ? 'low-latency HLS (1 s segments)' : 'HLS (4 s segments)';
      const meanSegment = hls.segments.length ? hls.segments.reduce((a, c) => a + c, 0) / hls.segments.length : NaN;
      results.push(row(label, hls.latencies, `${hls.segments.length} segments of ~${meanSegment.toFixed(1)} s; ${hls.unreadable()} frames unreadable`));
      results.push(row(`RTMP (with ${lowLatency ? 'LL-HLS' : 'HLS'})`, rtmp.latencies, `${rtmp.unreadable()} frames unreadable`));
      console.log(table(results));
    } finally {
      rtmp.process.kill('SIGKILL');
    }
  }

  for (const resolution of ['640x480', '1280x720']) {
    const b = await app.sdk.broadcasts.start(sessionId, { outputs: { hls: {} }, resolution, layout: { type: 'bestFit' } });
    try {
      await until('HLS live', async () => (await app.sdk.broadcasts.get(b.id)).broadcastUrls.hlsStatus === 'live', 90_000);
      await new Promise((r) => setTimeout(r, 3000));
      const pids = ffmpegChildren();
      const before = new Map(pids.map((pid) => [pid, sampleProcess(pid)]));
      const selfBefore = process.cpuUsage();
      const startedAt = performance.now();
      await new Promise((r) => setTimeout(r, CPU_S * 1000));
      const wallUs = (performance.now() - startedAt) * 1000;
      let childUs = 0;
      for (const pid of ffmpegChildren()) {
        try {
          childUs += sampleProcess(pid).cpuUs - (before.get(pid)?.cpuUs ?? 0);
        } catch {
          // exited meanwhile: its share is lost (none should; said in the notes if the counts differ)
        }
      }
      const self = process.cpuUsage(selfBefore);
      cpuRows.push([resolution, (childUs / wallUs).toFixed(2), ((self.user + self.system) / wallUs).toFixed(2), pids.length]);
    } finally {
      await app.sdk.broadcasts.stop(b.id).catch(() => {});
    }
  }
} finally {
  await browser.close();
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\nGlass-to-glass latency, ${W}x${H} canvas time code -> broadcast -> output read back on this machine (${MEASURE_S} s per run):`);
console.log(table(results));
console.log(`\nCPU per broadcast (one stream, HLS output only), over ${CPU_S} s; 1.00 = one core busy:`);
console.log(table(cpuRows));
console.log(`\nload average (1, 5, 15 min) at the end: ${loadavg().map((l) => l.toFixed(2)).join(', ')}; cores: ${(await run('nproc')).stdout.trim()}`);
