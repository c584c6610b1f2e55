// SIP interconnect media with real parts end to end: a Chromium page in a routed session publishes a
// 440 Hz WebAudio tone with the browser SDK; the `opentok` SDK dials Debian's baresip (auto-answer,
// its microphone a 1000 Hz WAV, what it hears recorded to WAV). The page subscribes to the SIP
// participant's stream and an AnalyserNode must find 1000 Hz; baresip's recording must hold 440 Hz.
// DTMF both ways: baresip's keypad reaches the page as a `dtmf` signal from the SIP connection, and
// REST play-dtmf reaches baresip as RFC 4733 events. Then the call is hung up by REST.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { Baresip, freePort } from './baresip.js';
import { p, until } from './helpers.js';

const PAGE_TONE_HZ = 440;
const PHONE_TONE_HZ = 1000;

const page = (server: string) => `<!doctype html><html><head><meta charset="utf-8">
<script src="${server}/v2/js/opentok.js"></script>
<script>
window.log = [];
window.join = (apiKey, sessionId, token) => new Promise((resolve) => {
  const session = OT.initSession(apiKey, sessionId);
  window.session = session;
  session.on('signal:dtmf', (e) => log.push({ type: 'dtmf', data: e.data, from: e.from && e.from.connectionId }));
  session.on('streamCreated', (e) => {
    log.push({ type: 'streamCreated', streamId: e.stream.streamId, hasVideo: e.stream.hasVideo, connectionId: e.stream.connection.connectionId, data: e.stream.connection.data });
    const sub = session.subscribe(e.stream, document.body, { insertMode: 'append' }, (err) => log.push({ type: 'subscribed', error: err ? err.message : null }));
    sub.on('videoElementCreated', (ev) => { window.remoteElement = ev.element; });
  });
  session.on('streamDestroyed', (e) => log.push({ type: 'streamDestroyed', streamId: e.stream.streamId, reason: e.reason }));
  session.on('connectionDestroyed', (e) => log.push({ type: 'connectionDestroyed', connectionId: e.connection.connectionId, reason: e.reason }));
  session.connect(token, (err) => resolve(err ? err.message : null));
});
// A tone from WebAudio as the microphone.
window.publishTone = (hz) => new Promise((resolve) => {
  const ctx = new AudioContext();
  const osc = ctx.createOscillator();
  osc.frequency.value = hz;
  const gain = ctx.createGain();
  gain.gain.value = 0.5;
  const dest = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  const publisher = OT.initPublisher(document.body, { insertMode: 'append', videoSource: null, audioSource: dest.stream.getAudioTracks()[0] });
  publisher.on('streamCreated', (e) => resolve(e.stream.streamId));
  session.publish(publisher);
});
// The loudest frequency the subscriber plays, from an AnalyserNode on its MediaStream.
window.loudest = () => {
  const el = window.remoteElement;
  if (!el || !el.srcObject) return null;
  if (!window.analyser) {
    // The subscriber's MediaStream may not carry its audio track yet (createMediaStreamSource then
    // throws): not heard yet, try again on the next poll.
    if (el.srcObject.getAudioTracks().length === 0) return null;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    try {
      ctx.createMediaStreamSource(el.srcObject).connect(analyser);
    } catch (e) {
      ctx.close();
      return null;
    }
    window.analyser = analyser;
    window.analyserRate = ctx.sampleRate;
  }
  const bins = new Float32Array(window.analyser.frequencyBinCount);
  window.analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return { hz: (best * window.analyserRate) / window.analyser.fftSize, db: bins[best] };
};
</script></head><body></body></html>`;

/** Power of one frequency in 16-bit mono PCM (Goertzel), as amplitude²/4 of a full-scale-1 sine. */
function toneEnergy(samples: Int16Array, rate: number, hz: number): number {
  const k = (2 * Math.cos((2 * Math.PI * hz) / rate));
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = samples[i]! / 32768 + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / (samples.length * samples.length);
}

/** The PCM of a 16-bit WAV file (finds the data chunk). */
function readWav(path: string): { rate: number; samples: Int16Array } {
  const buf = readFileSync(path);
  const rate = buf.readUInt32LE(24);
  let offset = 12;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('ascii', offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    if (id === 'data') {
      const end = Math.min(buf.length, offset + 8 + (size || buf.length));
      const data = buf.subarray(offset + 8, end - ((end - offset - 8) % 2));
      return { rate, samples: new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error(`no data chunk in ${path}`);
}

describe('SIP interconnect: audio and DTMF between a browser and baresip', () => {
  let t: TestServer;
  let baresip: Baresip;
  let browser: TestBrowser;
  let tab: TestPage;
  let app: Server;

  beforeAll(async () => {
    const dir = tempDir();
    const wav = join(dir, 'tone.wav');
    execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', wav, 'synth', '120', 'sine', String(PHONE_TONE_HZ), 'vol', '0.5']);
    baresip = await Baresip.start({ dir: join(dir, 'baresip'), wav });
    t = await startTestServer({ COLLOQUY_SIP_PORT: String(await freePort()) });
    app = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(t.url)));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    browser = await launchChromium();
    tab = await browser.newPage();
    await tab.page.goto(`http://127.0.0.1:${(app.address() as AddressInfo).port}/`);
  });

  afterAll(async () => {
    if (process.env['DEBUG_SIP']) console.log(baresip?.output.join('\n'));
    await browser?.close();
    await t?.close();
    await baresip?.stop();
    await new Promise((r) => app?.close(r));
  });

  it('the page hears the phone, the phone hears the page, DTMF crosses both ways, REST hangs up', async () => {
    const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    const sessionId = (await p<OpenTok.Session>((cb) => ot.createSession({ mediaMode: 'routed' }, cb))).sessionId;
    const log = () => tab.page.evaluate(() => (window as any).log as Array<Record<string, any>>);
    expect(await tab.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk), [t.apiKey, sessionId, ot.generateToken(sessionId)] as const)).toBeNull();
    const pageStream = await tab.page.evaluate((hz) => (window as any).publishTone(hz), PAGE_TONE_HZ);
    expect(typeof pageStream).toBe('string');

    const call = await p<OpenTok.SipInterconnect>((cb) => ot.dial(sessionId, ot.generateToken(sessionId, { data: 'sip=baresip' }), baresip.uri, {}, cb as never));
    await baresip.waitFor(/Call established/);
    // The SIP participant's stream reaches the page as an audio-only stream of the token's connection data.
    const created = await until(async () => (await log()).find((e) => e.type === 'streamCreated' && e.streamId === call.streamId), 'the SIP stream at the page', 30_000);
    expect(created).toMatchObject({ hasVideo: false, connectionId: call.connectionId, data: 'sip=baresip' });

    // The page hears baresip's 1000 Hz tone.
    const heard = await until(
      async () => {
        const r = (await tab.page.evaluate(() => (window as any).loudest())) as { hz: number; db: number } | null;
        return r && r.db > -80 && Math.abs(r.hz - PHONE_TONE_HZ) < 30 ? r : false;
      },
      'the phone tone at the page',
      30_000,
    ).catch(async (err) => {
      console.log(JSON.stringify(t.server.sip.mediaStats(call.id)), JSON.stringify(await tab.page.evaluate(() => (window as any).loudest())), JSON.stringify(await log()));
      throw err;
    });
    console.log(`page hears ${heard.hz.toFixed(0)} Hz at ${heard.db.toFixed(1)} dB`);

    // DTMF from the phone: a `dtmf` signal from the SIP connection.
    await baresip.command('sndcode', '5');
    const dtmf = await until(async () => (await log()).find((e) => e.type === 'dtmf'), 'DTMF signal at the page');
    expect(dtmf).toMatchObject({ data: '5', from: call.connectionId });

    // DTMF to the phone, by REST through the `opentok` SDK's playDTMF: baresip reports the digits it received.
    await p<void>((cb) => (ot as any).playDTMF(sessionId, call.connectionId, '7#', cb));
    await baresip.waitFor(/received event: '7'/); // baresip's line for an RFC 4733 event
    await baresip.waitFor(/received event: '#'/);

    // Let baresip record a while, then hang up by REST (forceDisconnect).
    await new Promise((r) => setTimeout(r, 1500));
    await p<void>((cb) => ot.forceDisconnect(sessionId, call.connectionId, cb as never));
    const gone = await until(async () => (await log()).find((e) => e.type === 'connectionDestroyed' && e.connectionId === call.connectionId), 'connectionDestroyed at the page');
    expect(gone.reason).toBe('forceDisconnected');
    await until(async () => (await log()).find((e) => e.type === 'streamDestroyed' && e.streamId === call.streamId), 'streamDestroyed at the page');

    // baresip's recording of what it heard holds the page's 440 Hz tone, well above the phone's own.
    const decoded = await until(() => baresip.recordings().find((f) => f.endsWith('-dec.wav')), 'baresip recording');
    const { rate, samples } = readWav(decoded);
    const tail = samples.subarray(Math.max(0, samples.length - rate)); // the last second
    const at440 = toneEnergy(tail, rate, PAGE_TONE_HZ);
    const at1000 = toneEnergy(tail, rate, PHONE_TONE_HZ);
    const at700 = toneEnergy(tail, rate, 700);
    console.log(`baresip recorded ${(samples.length / rate).toFixed(1)} s; energy 440 Hz ${at440.toExponential(2)}, 1000 Hz ${at1000.toExponential(2)}, 700 Hz ${at700.toExponential(2)}`);
    expect(at440).toBeGreaterThan(at1000 * 20);
    expect(at440).toBeGreaterThan(at700 * 20);
    expect(at440).toBeGreaterThan(1e-4); // amplitude above 0.02 of full scale
  }, 120_000);
});
