// A few seconds of the load tool against a real Colloquy server (the bench server process, on
// loopback): publishers and subscribers join through REST + token + signaling, publish and
// subscribe over signaling, media flows through the SFU, and the figures the tool prints are there
// and plausible. Benchmarks themselves are not run here.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoadTest, type LoadTestOptions } from '../dist/load/run-load.js';
import { summaryTable } from '../dist/load/summary.js';
import { startColloquy, type ColloquyProcess } from '../dist/servers/colloquy-process.js';

const CLI = fileURLToPath(new URL('../dist/load/cli.js', import.meta.url));
const clip = { width: 320, height: 180, bitrate: 300_000, fps: 30, seconds: 10 }; // the CLI's clip: encoded once, cached

let server: ColloquyProcess;

beforeAll(async () => {
  server = await startColloquy();
});

afterAll(async () => {
  await server?.stop();
});

function options(overrides: Partial<LoadTestOptions> = {}): LoadTestOptions {
  return {
    target: { kind: 'colloquy', url: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret },
    sessions: 1,
    publishers: 1,
    subscribers: 2,
    mesh: false,
    clip,
    duration: 2,
    warmup: 0.5,
    workers: 2,
    bindIp: '127.0.0.1',
    receiveMode: 'light',
    concurrency: 4,
    progress: false,
    serverPid: server.pid,
    ...overrides,
  };
}

describe('colloquy-load smoke run', () => {
  it('publishes real VP8 + Opus, and subscribers measure frames, latency, loss and first frame', async () => {
    const r = await runLoadTest(options());
    const w = r.window;
    expect(r.errors).toEqual([]);
    expect(w.subscriptions).toBe(2);
    expect(w.sent.packetsPerSecond).toBeGreaterThan(50);
    // Two subscribers get what one publisher sends (video + audio), within a packet or two.
    expect(w.received.videoPacketsPerSecond).toBeGreaterThan(0.9 * 2 * (w.sent.packetsPerSecond - 50));
    expect(w.received.audioPacketsPerSecond).toBeGreaterThan(0);
    expect(w.lossPercent).toBeLessThan(2);
    // Frame rates and latencies are figures for the benchmarks: here they must only be measured
    // (a loaded machine lowers the rate and raises the latency).
    expect(w.fps.min).toBeGreaterThan(0);
    expect(w.latencyMs.count).toBeGreaterThan(50);
    expect(w.latencyMs.p50).toBeGreaterThan(0);
    expect(Number.isFinite(w.latencyMs.p50)).toBe(true);
    expect(r.timeToFirstFrameMs.count).toBe(2);
    expect(r.timeToFirstFrameMs.missing).toBe(0);
    expect(w.generator.processes).toBe(2);
    expect(w.generator.cores).toBeGreaterThan(0);
    expect(w.server?.cpuUsPerForwardedPacket).toBeGreaterThan(0);
    expect(r.clipVideoBitrate).toBeGreaterThan(100_000);
    const table = summaryTable(r);
    expect(table).toContain('frame latency (ms)');
    expect(table).toContain(`Colloquy at ${server.url}`);
    // The server is clean afterwards: every connection, stream and transport ended with its participant.
    const stats = await server.controlGet<{ media: { routers: number; transports: number }; signaling: { channels: number } }>('/stats');
    expect(stats.signaling.channels).toBe(0);
    expect(stats.media.transports).toBe(0);
  });

  it('runs N<->N with the full werift receive path too', async () => {
    const r = await runLoadTest(options({ publishers: 3, subscribers: 0, mesh: true, receiveMode: 'full', duration: 1.5 }));
    expect(r.window.subscriptions).toBe(6);
    expect(r.window.lossPercent).toBeLessThan(2);
    expect(r.window.fps.min).toBeGreaterThan(20);
    expect(r.window.latencyMs.count).toBeGreaterThan(50);
  });

  it('the CLI prints JSON results on request, and refuses bad options', async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [
      CLI, '--url', server.url, '--api-key', server.apiKey, '--api-secret', server.apiSecret,
      '--publishers', '1', '--subscribers', '1', '--duration', '1', '--warmup', '0.5', '--workers', '1',
      '--resolution', '320x180', '--bitrate', '300k', '--transport-cc', '--json', '--quiet',
    ]);
    const result = JSON.parse(stdout) as { options: { transportCc: boolean }; window: { subscriptions: number; received: { packetsPerSecond: number } } };
    expect(result.options.transportCc).toBe(true);
    expect(result.window.subscriptions).toBe(1);
    expect(result.window.received.packetsPerSecond).toBeGreaterThan(50);
    await expect(run(process.execPath, [CLI, '--url', server.url, '--api-key', 'k', '--api-secret', 's', '--bitrate', 'fast'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--bitrate must be'),
    });
    await expect(run(process.execPath, [CLI, '--url', server.url, '--api-key', 'k', '--api-secret', 's', '--transport-cc', '--receive', 'full'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--transport-cc needs --receive light'),
    });
  });
});
