// SIP interconnect media with real parts end to end: a Chromium page in a routed session publishes a
// 440 Hz WebAudio tone with the browser SDK; the `opentok` SDK dials Debian's baresip (auto-answer,
// its microphone a 1000 Hz WAV, what it hears recorded to WAV). The page subscribes to the SIP
// participant's stream and an AnalyserNode must find 1000 Hz; baresip's recording must hold 440 Hz.
// DTMF both ways: baresip's keypad reaches the page as a `dtmf` signal from the SIP connection, and
// REST play-dtmf reaches baresip as RFC 4733 events. Then the call is hung up by REST.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWav, toneEnergy } from '../audio-analysis.js';
import { audioTestPage as page } from '../audio-page.js';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { Baresip, freePort } from './baresip.js';
import { p, until } from './helpers.js';

const PAGE_TONE_HZ = 440;
const PHONE_TONE_HZ = 1000;

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
