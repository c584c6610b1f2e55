// A live streaming broadcast of a real two-page call (Chromium, fake cameras and microphones),
// started, re-laid-out and stopped with the real `opentok` SDK: the HLS that Colloquy serves and the
// RTMP that it pushes to a receiver this test runs (ffmpeg listening on loopback) both carry
// H.264 + AAC; the RTMP target goes `live`, then `offline` after the stop; a layout change shows in
// the output pictures (decoded with ffmpeg before and after); the broadcast status callbacks arrive.

import type { TestPage } from '@colloquy/testing/browser';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaApp, publish, waitForLog } from './media-app.js';

const run = promisify(execFile);

type Rtmp = { id: string; serverUrl: string; streamName: string; status: string };
type Broadcast = { id: string; status: string; broadcastUrls: { hls?: string; hlsStatus?: string; rtmp: Rtmp[] }; streams: Array<{ streamId: string }>; resolution: string };

let m: MediaApp;
let dir: string;
let callbackServer: Server;
const callbacks: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  m = await MediaApp.start();
  dir = mkdtempSync(join(tmpdir(), 'colloquy-broadcast-'));
  callbackServer = createServer((request, response) => {
    let body = '';
    request.on('data', (c: Buffer) => (body += c.toString()));
    request.on('end', () => {
      callbacks.push(JSON.parse(body) as Record<string, unknown>);
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
  await m.t.server.store.callbacks.set(m.t.apiKey, { archive: `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/cb` });
}, 120_000);
afterAll(async () => {
  await m?.closePages().catch(() => {});
  await m?.close();
  if (callbackServer) await new Promise((resolve) => callbackServer.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

const call = <T>(f: (cb: (err: unknown, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, value) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(value as T))));

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once something listens on the port (binding it fails). */
async function whenListening(port: number, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const taken = await new Promise<boolean>((resolve) => {
      const probe = createTcpServer();
      probe.once('error', () => resolve(true));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
    });
    if (taken) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A request that fails on a starved machine (a reset connection) is tried again.
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function codecs(file: string): Promise<string[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height', '-of', 'json', file]);
  const streams = (JSON.parse(stdout) as { streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number }> }).streams;
  return streams.map((s) => `${s.codec_type}:${s.codec_name}${s.width ? `:${s.width}x${s.height}` : ''}`).sort();
}

/** The mean luma of rows [y0, y1) of the last picture of a segment (640 wide). */
async function bandLuma(file: string, y0: number, y1: number): Promise<number> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, '-an', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  const all = stdout as unknown as Buffer;
  expect(all.length).toBeGreaterThanOrEqual(640 * 480);
  const frame = all.subarray(all.length - 640 * 480);
  let sum = 0;
  for (let i = y0 * 640; i < y1 * 640; i++) sum += frame[i]!;
  return sum / ((y1 - y0) * 640);
}

describe('live streaming broadcast of a two-page call', { timeout: 240_000 }, () => {
  it('HLS and RTMP carry H.264 + AAC; RTMP goes live then offline; a layout change shows in the picture', async () => {
    const port = await freePort();
    const flv = join(dir, 'rtmp.flv');
    const receiver: ChildProcess = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-listen', '1', '-i', `rtmp://127.0.0.1:${port}/live/x`, '-c', 'copy', '-f', 'flv', flv], { stdio: 'ignore' });
    const receiverExited = new Promise<number | null>((resolve) => receiver.once('exit', (code) => resolve(code)));
    try {
      await whenListening(port);
      const sessionId = await m.createSession('routed');
      const pages: TestPage[] = [await m.openPage(), await m.openPage()];
      for (const p of pages) await m.join(p, sessionId);
      // 320x240: one encoding (no simulcast), so a loaded machine's Chromium cannot switch off the
      // layer the broadcast composes from; it only lowers its frame rate.
      const [pa, pb] = [await publish(pages[0]!, { name: 'Ada', resolution: '320x240' }), await publish(pages[1]!, { name: 'Bob', resolution: '320x240' })];
      expect(pa.streamId && pb.streamId).toBeTruthy();
      await waitForLog(pages[0]!, (l) => l.some((e) => e.type === 'streamCreated' && e.streamId === pb.streamId), 'b’s stream on a', 30_000);

      const started = await call<Broadcast>((cb) =>
        m.ot.startBroadcast(sessionId, { outputs: { hls: { lowLatency: true }, rtmp: [{ id: 'rx', serverUrl: `rtmp://127.0.0.1:${port}/live`, streamName: 'x' }] }, resolution: '640x480', layout: { type: 'bestFit' } } as never, cb as never),
      );
      expect(started).toMatchObject({ status: 'started', resolution: '640x480', broadcastUrls: { rtmp: [{ id: 'rx', status: 'connecting' }] } });
      expect(started.broadcastUrls.hls).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/hls/${started.id}/index\\.m3u8$`));
      const get = () => call<Broadcast>((cb) => m.ot.getBroadcast(started.id, cb as never));
      const live = await until('the RTMP target live and the HLS playlist', async () => {
        const b = await get();
        return b.broadcastUrls.rtmp[0]!.status === 'live' && b.broadcastUrls.hlsStatus === 'live' && b.streams.length === 2 && b;
      });
      expect(live.streams.map((s) => s.streamId).sort()).toEqual([pa.streamId, pb.streamId].sort());

      // HLS as a player sees it: content types, caching, CORS; a segment with H.264 + AAC.
      const hls = started.broadcastUrls.hls!;
      const segments = async (): Promise<string[]> => {
        const response = await fetch(hls);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
        expect(response.headers.get('cache-control')).toMatch(/no-cache/);
        expect(response.headers.get('access-control-allow-origin')).toBe('*');
        const text = await response.text();
        expect(text).toMatch(/^#EXTM3U/);
        return text.split('\n').filter((l) => l.endsWith('.ts'));
      };
      const segmentFile = async (name: string, file: string): Promise<string> => {
        const response = await fetch(new URL(name, hls));
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('video/mp2t');
        expect(response.headers.get('cache-control')).toMatch(/max-age=\d+/);
        writeFileSync(join(dir, file), Buffer.from(await response.arrayBuffer()));
        return join(dir, file);
      };
      // The picture of the newest segment's last frame, until it shows what is expected: media, not
      // wall time, decides (a loaded machine's Chromium sends few frames a second).
      const seen: string[] = [];
      const newestPicture = async (file: string, test: (top: number, middle: number) => boolean, what: string): Promise<{ path: string; top: number; middle: number }> =>
        until(what, async () => {
          const list = await segments();
          if (list.length < 2) return null;
          const path = await segmentFile(list.at(-1)!, file);
          const top = await bandLuma(path, 8, 100);
          const middle = await bandLuma(path, 200, 280);
          seen.push(`${top.toFixed(1)}/${middle.toFixed(1)}`);
          return test(top, middle) && { path, top, middle };
        }, 120_000).catch((err: Error) => {
          throw new Error(`${err.message} (top/middle band luma seen: ${seen.slice(-8).join(', ')}; composer ${JSON.stringify(m.t.server.broadcasts.stats(started.id))})`);
        });
      // bestFit, two 4:3 cameras side by side on 4:3: each letterboxed, so the top band is black (0
      // in full-range gray) and the middle shows camera (Chromium's fake camera: green, gray ≈ 20).
      const before = await newestPicture('before.ts', (top, middle) => top < 5 && middle > 12, 'a bestFit picture (black top band, camera in the middle)');
      expect(await codecs(before.path)).toEqual(['audio:aac', 'video:h264:640x480']);

      // pip: the first stream fills the frame, so the top band shows camera too.
      const relaid = await call<Broadcast>((cb) => m.ot.setBroadcastLayout(started.id, 'pip', null as never, null as never, cb as never));
      expect(relaid.status).toBe('started');
      const after = await newestPicture('after.ts', (top) => top > 12, 'a pip picture (camera in the top band)');
      console.log(`top band mean luma: bestFit ${before.top.toFixed(1)}, pip ${after.top.toFixed(1)}; composer ${JSON.stringify(m.t.server.broadcasts.stats(started.id))}`);

      const stopped = await call<Broadcast>((cb) => m.ot.stopBroadcast(started.id, cb as never));
      expect(stopped.status).toBe('stopped');
      expect(stopped.broadcastUrls.rtmp[0]!.status).toBe('offline');
      expect((await get()).broadcastUrls).toMatchObject({ hlsStatus: 'ended', rtmp: [{ status: 'offline' }] });

      // The receiver ends with the stream; its FLV holds H.264 + AAC that decode.
      expect(await Promise.race([receiverExited, new Promise((r) => setTimeout(() => r('still running'), 20_000))])).toBe(0);
      expect(await codecs(flv)).toEqual(['audio:aac', 'video:h264:640x480']);
      const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', flv]);
      expect(Number(stdout.trim())).toBeGreaterThan(30);

      // Status callbacks: started, the RTMP target live, then stopped with it offline.
      const events = await until('the stop callback', async () => {
        const mine = callbacks.filter((c) => c['event'] === 'broadcast' && c['id'] === started.id);
        return mine.some((c) => c['status'] === 'stopped') && mine;
      });
      const rtmpStates = events.map((c) => (c['broadcastUrls'] as Broadcast['broadcastUrls']).rtmp[0]!.status);
      expect(rtmpStates[0]).toBe('connecting');
      expect(rtmpStates).toContain('live');
      expect(rtmpStates.at(-1)).toBe('offline');
      expect(rtmpStates.indexOf('live')).toBeLessThan(rtmpStates.lastIndexOf('offline'));
    } finally {
      receiver.kill('SIGKILL');
    }
  });
});
