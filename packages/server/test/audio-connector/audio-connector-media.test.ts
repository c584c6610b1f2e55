// The Audio Connector with real parts end to end: a Chromium page in a routed session publishes its
// (fake) microphone — a 660 Hz sine WAV made by sox, played by Chromium's fake capture device — and
// the `opentok` SDK's websocketConnect points the session's audio at a WebSocket server on loopback.
// That server checks the upgrade's headers and OpenTok's initial JSON message, then measures 10 s
// of the 20 ms L16 frames: the tone's frequency (zero crossings, Goertzel) and their timing (no gap
// over 100 ms, 500 frames in 10 s). Bidirectional: the server plays 1000 Hz back, and the page's
// subscriber to the connector's stream hears it (AnalyserNode); the connector's own audio is not
// sent back to the socket. Stop (REST) and forceDisconnect end a connector: the socket closes and
// the connection leaves the session.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toneEnergy, zeroCrossingHz } from '../audio-analysis.js';
import { audioTestPage } from '../audio-page.js';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { p, until } from '../sip/helpers.js';
import { projectRest } from './helpers.js';
import { WsReceiver } from './ws-receiver.js';

const MIC_HZ = 660;
const BACK_HZ = 1000;

/** The 16-bit LE PCM of binary frames, joined. */
function pcmOf(frames: Array<{ data: Buffer }>): Int16Array {
  const bytes = Buffer.concat(frames.map((f) => f.data));
  const out = new Int16Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
  return out;
}

function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const s of pcm) sum += s * s;
  return Math.sqrt(sum / Math.max(1, pcm.length));
}

describe('Audio Connector: session audio to a WebSocket and back', () => {
  let t: TestServer;
  let receiver: WsReceiver;
  let browser: TestBrowser;
  let tab: TestPage;
  let pages: Server;
  let ot: OpenTok;
  let sessionId: string;
  let micStream: string;

  const log = () => tab.page.evaluate(() => (window as any).log as Array<Record<string, any>>);
  const rest = (method: string, path: string, body?: unknown) => projectRest(t)(method, path, body);

  beforeAll(async () => {
    const dir = tempDir();
    const wav = join(dir, 'mic.wav');
    execFileSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', wav, 'synth', '30', 'sine', String(MIC_HZ), 'vol', '0.5']);
    t = await startTestServer();
    receiver = await WsReceiver.start();
    pages = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(audioTestPage(t.url)));
    await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
    browser = await launchChromium({ args: [`--use-file-for-fake-audio-capture=${wav}`] });
    tab = await browser.newPage();
    await tab.page.goto(`http://127.0.0.1:${(pages.address() as AddressInfo).port}/`);
    ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    sessionId = (await p<OpenTok.Session>((cb) => ot.createSession({ mediaMode: 'routed' }, cb))).sessionId;
    expect(await tab.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk), [t.apiKey, sessionId, ot.generateToken(sessionId)] as const)).toBeNull();
    micStream = await tab.page.evaluate(() => (window as any).publishMic());
    expect(micStream).toMatch(/^[0-9a-f-]{36}$/);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await receiver?.close();
    await new Promise((r) => pages?.close(r));
  });

  it('sends the microphone as 20 ms L16 frames at 16 kHz: OpenTok\'s first message, the tone\'s frequency, no gap over 100 ms in 10 s; stop ends it', async () => {
    const token = ot.generateToken(sessionId, { data: 'connector=transcriber' });
    const started = await p<{ id: string; connectionId: string }>((cb) =>
      (ot as any).websocketConnect(sessionId, token, receiver.uri('/mic'), { streams: [micStream], headers: { 'X-Room': 'room-7', callerRef: 'abc' } }, cb),
    );
    expect(Object.keys(started).sort()).toEqual(['connectionId', 'id']);
    const socket = receiver.socket('/mic')!;
    // The headers ride on the upgrade and in OpenTok's first (text) message, with the audio format.
    expect(socket.headers['x-room']).toBe('room-7');
    expect(socket.headers['callerref']).toBe('abc');
    expect(socket.texts.length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(socket.texts[0]!)).toEqual({ 'content-type': 'audio/l16;rate=16000', 'X-Room': 'room-7', callerRef: 'abc' });
    // The connector is a connection of the session, with the token's data.
    const joined = await until(async () => (await log()).find((e) => e.type === 'connectionCreated' && e.connectionId === started.connectionId), 'the connector at the page');
    expect(joined.data).toBe('connector=transcriber');

    // The tone arrives; then 10 s (500 frames) of it are measured.
    const first = await until(() => {
      const i = socket.frames.findIndex((f, n) => n > 0 && rms(pcmOf([f])) > 1000);
      return i >= 0 ? i : false;
    }, 'the microphone tone at the WebSocket', 30_000);
    // The server and this receiver share one event loop: its stalls (the host not scheduling the
    // process, GC) are measured, to tell them apart from gaps of the connector's own making.
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    // A plain 20 ms timer beside the connector: the gaps it suffers are the host's, not the connector's.
    let refLast = performance.now();
    let refMaxGap = 0;
    const ref = setInterval(() => {
      const now = performance.now();
      refMaxGap = Math.max(refMaxGap, now - refLast);
      refLast = now;
    }, 20);
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const from = Math.max(first, socket.frames.length); // frames that arrive while the loop is watched
    await until(() => socket.frames.length >= from + 500, '500 frames after the tone started', 40_000);
    loop.disable();
    clearInterval(ref);
    const cpu = process.cpuUsage(cpu0);
    const loopMax = Math.max(loop.max / 1e6, refMaxGap - 20);
    console.log(
      `event loop of the server (and receiver): delay p50 ${(loop.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms; a plain 20 ms timer's largest gap ${refMaxGap.toFixed(1)} ms; ` +
        `process CPU ${(((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100).toFixed(0)} % of a core; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`,
    );
    const frames = socket.frames.slice(from, from + 500);
    expect(frames.every((f) => f.data.length === 640)).toBe(true); // 320 samples: 20 ms at 16 kHz
    let maxGap = 0;
    const longGaps: string[] = [];
    for (let i = 1; i < frames.length; i++) {
      const gap = frames[i]!.at - frames[i - 1]!.at;
      maxGap = Math.max(maxGap, gap);
      if (gap > 45) longGaps.push(`${gap.toFixed(0)}@${i}`);
    }
    console.log(`gaps over 45 ms: ${longGaps.join(' ') || 'none'}`);
    const span = frames[frames.length - 1]!.at - frames[0]!.at;
    // The clock over the whole run: one frame per 20 ms of wall time since the connector started,
    // bursts after stalls included: never a drift. (A frame arrives after it was sent: the count may
    // trail wall time by a stall of this process, never lead it.)
    const all = socket.frames.slice(0, from + 500);
    const createdAt = t.server.audioConnector.connectors.find((c) => c.id === started.id)!.createdAt;
    const elapsedFrames = (performance.timeOrigin + all[all.length - 1]!.at - createdAt) / 20;
    const skipped = t.server.audioConnector.stats(started.id)!.clockSkips;
    const pcm = pcmOf(frames);
    const loudFrames = frames.map((f) => pcmOf([f])).filter((f) => rms(f) > 1000);
    const hz = zeroCrossingHz(loudFrames, 16000)!;
    const at = (f: number) => toneEnergy(pcm, 16000, f);
    const loud = loudFrames.length;
    console.log(
      `WebSocket got ${frames.length} frames in ${(span / 1000).toFixed(2)} s, largest gap ${maxGap.toFixed(1)} ms; since the start ${all.length} frames in ${((elapsedFrames * 20) / 1000).toFixed(2)} s (${skipped} skipped); ` +
        `tone ${hz.toFixed(1)} Hz (zero crossings), rms ${rms(pcm).toFixed(0)}, ${loud}/500 frames carry it; energy ${MIC_HZ} Hz ${at(MIC_HZ).toExponential(2)}, 500 Hz ${at(500).toExponential(2)}, 1000 Hz ${at(1000).toExponential(2)}`,
    );
    if (maxGap >= 100) {
      // Only when the host itself stalled the process that long (a loaded machine: the loop's own
      // timers fired that late too) may a gap reach 100 ms; the connector adds at most a frame or two.
      console.log(`a gap of ${maxGap.toFixed(0)} ms: this process itself stalled ${loopMax.toFixed(0)} ms`);
      expect(maxGap).toBeLessThan(loopMax + 60);
    } else {
      expect(maxGap).toBeLessThan(100);
    }
    expect(all.length + skipped).toBeLessThan(elapsedFrames + 2);
    expect(all.length + skipped).toBeGreaterThan(elapsedFrames - 25); // within 500 ms
    expect(span).toBeGreaterThan(8_000); // 500 frames are 10 s of audio, less a catch-up after a stall
    expect(span).toBeLessThan(11_000);
    expect(Math.abs(hz - MIC_HZ)).toBeLessThan(5);
    expect(at(MIC_HZ)).toBeGreaterThan(at(500) * 50);
    expect(at(MIC_HZ)).toBeGreaterThan(at(1000) * 50);
    expect(loud).toBeGreaterThan(400); // a loaded machine may starve Chromium's capture now and then

    // Stop (REST): the socket is closed normally, the connection leaves the session.
    expect((await rest('POST', `connect/${started.id}/stop`)).status).toBe(200);
    await until(() => socket.closed, 'the socket closed');
    expect(socket.closed!.code).toBe(1000);
    await until(async () => (await log()).find((e) => e.type === 'connectionDestroyed' && e.connectionId === started.connectionId), 'connectionDestroyed at the page');
    expect(t.server.audioConnector.connectors.map((c) => c.id)).not.toContain(started.id);
    expect((await rest('POST', `connect/${started.id}/stop`)).status).toBe(404);
  }, 240_000);

  it('latency: a tone switched on in the page reaches the WebSocket (figure printed)', async () => {
    const toneStream = await tab.page.evaluate(() => (window as any).publishTone(440, false));
    expect(toneStream).toMatch(/^[0-9a-f-]{36}$/);
    const started = await p<{ id: string; connectionId: string }>((cb) => (ot as any).websocketConnect(sessionId, ot.generateToken(sessionId), receiver.uri('/latency'), { streams: [toneStream] }, cb));
    const socket = receiver.socket('/latency')!;
    const loudSince = (since: number) => socket.frames.find((f) => f.at > since && rms(pcmOf([f])) > 1000);
    const quietSince = (since: number) => {
      const last = socket.frames.filter((f) => f.at > since).slice(-10);
      return last.length === 10 && last.every((f) => rms(pcmOf([f])) < 100);
    };
    await until(() => socket.frames.length >= 25, 'the first frames', 30_000);
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      // Silence first (the gain at 0 for at least 10 frames), then the tone on: the first loud frame.
      const off = performance.now();
      await tab.page.evaluate(() => (window as any).setTone(false));
      await until(() => quietSince(off + 200), 'silence at the socket', 30_000);
      const on = performance.now();
      await tab.page.evaluate(() => (window as any).setTone(true));
      const heard = await until(() => loudSince(on), 'the tone at the socket', 30_000);
      latencies.push(heard.at - on);
    }
    latencies.sort((a, b) => a - b);
    console.log(`tone on in the page -> first loud frame at the WebSocket: median ${latencies[2]!.toFixed(0)} ms, min ${latencies[0]!.toFixed(0)} ms, max ${latencies[4]!.toFixed(0)} ms (browser capture and Opus encode, SFU, decode, 20 ms mix clock, socket; load average ${loadavg()[0]!.toFixed(1)})`);
    expect((await rest('POST', `connect/${started.id}/stop`)).status).toBe(200);
    await tab.page.evaluate(() => (window as any).setTone(false));
  }, 240_000);

  it('bidirectional: audio sent on the socket is a stream the page hears; the socket does not get it back; forceDisconnect ends it', async () => {
    const token = ot.generateToken(sessionId, { data: 'connector=voicebot' });
    const started = await p<{ id: string; connectionId: string }>((cb) => (ot as any).websocketConnect(sessionId, token, receiver.uri('/bot'), { bidirectional: true }, cb));
    const socket = receiver.socket('/bot')!;
    const created = await until(async () => (await log()).find((e) => e.type === 'streamCreated' && e.connectionId === started.connectionId), 'the connector\'s stream at the page', 60_000);
    expect(created.hasVideo).toBe(false);
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const cpu0 = process.cpuUsage();
    const playStart = performance.now();
    const stopPlaying = receiver.playTone(socket, BACK_HZ, 16000);
    const heard = await until(
      async () => {
        const r = (await tab.page.evaluate(() => (window as any).loudest())) as { hz: number; db: number } | null;
        return r && r.db > -80 && Math.abs(r.hz - BACK_HZ) < 30 ? r : false;
      },
      'the socket\'s tone at the page',
      90_000,
    ).catch(async (err) => {
      console.log(JSON.stringify(t.server.audioConnector.stats(started.id)), JSON.stringify(await tab.page.evaluate(() => (window as any).loudest())));
      throw err;
    });
    const onsetMs = performance.now() - playStart;
    loop.disable();
    const cpu = process.cpuUsage(cpu0);
    const stats = t.server.audioConnector.stats(started.id)!;
    console.log(`page hears the socket's ${heard.hz.toFixed(0)} Hz at ${heard.db.toFixed(1)} dB, ${onsetMs.toFixed(0)} ms after the socket started sending (includes subscribing and the 8192-point analyser; event loop max delay ${(loop.max / 1e6).toFixed(0)} ms, process CPU ${(((cpu.user + cpu.system) / 1000 / onsetMs) * 100).toFixed(0)} %); connector: ${JSON.stringify(stats)}`);
    expect(stats.framesPlayed).toBeGreaterThan(0);

    // What the socket gets is the page's microphone, never its own audio.
    await until(() => socket.frames.filter((f) => f.at > playStart + 1000).length >= 100, '2 s of frames while the tone plays back', 20_000);
    const pcm = pcmOf(socket.frames.filter((f) => f.at > playStart + 1000).slice(0, 100));
    const mic = toneEnergy(pcm, 16000, MIC_HZ);
    const own = toneEnergy(pcm, 16000, BACK_HZ);
    console.log(`socket during playback: ${MIC_HZ} Hz ${mic.toExponential(2)}, its own ${BACK_HZ} Hz ${own.toExponential(2)}`);
    expect(mic).toBeGreaterThan(own * 50);

    // The least audio queued at the connector over a second: what stays queued is latency for good
    // (a sample right after a stall may catch a burst the next tick plays).
    let queued = Infinity;
    for (let i = 0; i < 20; i++) {
      queued = Math.min(queued, t.server.audioConnector.stats(started.id)!.queuedMs);
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(`socket's audio queued at the connector (least over 1 s), 2 s later: ${queued} ms`);
    expect(queued).toBeLessThan(200); // stalls are made up for, not kept as latency
    // forceDisconnect of the connector's connection closes the socket.
    await p<void>((cb) => ot.forceDisconnect(sessionId, started.connectionId, cb as never));
    stopPlaying();
    await until(() => socket.closed, 'the socket closed');
    const gone = await until(async () => (await log()).find((e) => e.type === 'connectionDestroyed' && e.connectionId === started.connectionId), 'connectionDestroyed at the page');
    expect(gone.reason).toBe('forceDisconnected');
    await until(async () => (await log()).find((e) => e.type === 'streamDestroyed' && e.streamId === created.streamId), 'streamDestroyed at the page');
    expect(t.server.audioConnector.connectors.map((c) => c.id)).not.toContain(started.id);
  }, 240_000);
});

