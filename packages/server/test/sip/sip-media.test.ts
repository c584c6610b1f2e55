// SIP interconnect media with real parts end to end: a Chromium page in a routed session publishes a
// 440 Hz WebAudio tone with the browser SDK; the `opentok` SDK dials Debian's baresip (auto-answer,
// its microphone a WAV tone, what it hears recorded to WAV). The page subscribes to the SIP
// participant's stream and an AnalyserNode must find the phone's tone; baresip's recording must hold
// 440 Hz. DTMF both ways: baresip's keypad reaches the page as a `dtmf` signal from the SIP
// connection, and REST play-dtmf reaches baresip as RFC 4733 events. Then the call is hung up by REST.
// Twice: plain (SIP over UDP, RTP), and `secure` (SIP over TLS with a certificate made here by
// openssl, SRTP keyed by SDES; baresip's srtp-mand refuses anything else). A secure call to a far end
// that does not do SRTP ends with 488 and the SIP participant leaves the session: baresip refuses the
// offer itself, and a far end that answers 200 with plain RTP anyway (a `sip` package UAS over TLS)
// is hung up by us. A far end whose certificate we do not trust never sees the INVITE.

import type { TestPage } from '@colloquy/testing/browser';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import sip from 'sip';
import { join } from 'node:path';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipCallEnd } from '../../src/sip/sip-call.js';
import type { SipCallInfo } from '../../src/sip/sip-gateway.js';
import { readWav, toneEnergy } from '../audio-analysis.js';
import { audioTestPage as page } from '../audio-page.js';
import { tempDir, type TestServer } from '../helpers.js';
import { Baresip, freePort } from './baresip.js';
import { joinedPage, makeCertificate, p, sipTlsFiles, startSipTestServer, until, type JoinedPage } from './helpers.js';

const PAGE_TONE_HZ = 440;
const PLAIN_PHONE_HZ = 1000;
const SECURE_PHONE_HZ = 1300;

/**
 * A far end over TLS built on the `sip` package: answers every INVITE 200 with plain RTP/AVP (no
 * SRTP key) and notes the methods it received.
 */
async function plainRtpFarEnd(cert: { key: string; cert: string }): Promise<{ uri: string; seen: string[]; close(): void }> {
  const port = await freePort();
  const seen: string[] = [];
  const uas = sip.create({ port: await freePort(), address: '127.0.0.1', publicAddress: 'plain-rtp.invalid', udp: false, tcp: false, tls: { key: readFileSync(cert.key), cert: readFileSync(cert.cert) }, tls_port: port }, (rq) => {
    seen.push(rq.method);
    if (rq.method === 'ACK') return;
    const rs = sip.makeResponse(rq, 200, 'OK');
    if (rq.method === 'INVITE') {
      rs.headers.to.params['tag'] = 'plain';
      rs.headers.contact = [{ uri: `sip:plain@127.0.0.1:${port};transport=tls`, params: {} }];
      rs.headers['content-type'] = 'application/sdp';
      rs.content = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    }
    uas.send(rs);
  });
  return { uri: `sip:plain@127.0.0.1:${port};transport=tls`, seen, close: () => uas.destroy() };
}

/** A WAV of a tone, baresip's microphone. */
function toneWav(dir: string, hz: number): string {
  const wav = join(dir, `tone-${hz}.wav`);
  execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', wav, 'synth', '120', 'sine', String(hz), 'vol', '0.5']);
  return wav;
}

describe('SIP interconnect: audio and DTMF between a browser and baresip', () => {
  let t: TestServer;
  let plain: Baresip;
  let secure: Baresip;
  let noSrtp: Baresip;
  let joined: JoinedPage;
  let tab: TestPage;
  let ot: OpenTok;
  let sessionId: string;
  const ended: Array<[SipCallInfo, SipCallEnd]> = [];
  let tlsFiles: { cert: string; key: string };
  let untrusted: { cert: string; key: string };
  const log = () => tab.page.evaluate(() => (window as any).log as Array<Record<string, any>>);

  beforeAll(async () => {
    const dir = tempDir();
    const { cert, key, baresip: tls } = sipTlsFiles(dir);
    untrusted = makeCertificate(dir, 'untrusted');
    tlsFiles = { cert, key };
    [plain, secure, noSrtp] = await Promise.all([
      Baresip.start({ dir: join(dir, 'plain'), wav: toneWav(dir, PLAIN_PHONE_HZ) }),
      Baresip.start({ dir: join(dir, 'secure'), wav: toneWav(dir, SECURE_PHONE_HZ), tls, srtp: true }),
      Baresip.start({ dir: join(dir, 'no-srtp'), wav: toneWav(dir, PLAIN_PHONE_HZ), tls }),
    ]);
    t = await startSipTestServer(tlsFiles);
    t.server.sip.on('callDestroyed', (info, end) => ended.push([info, end]));
    joined = await joinedPage(t, page(t.url));
    ({ tab, ot, sessionId } = joined);
    expect(typeof (await tab.page.evaluate((hz) => (window as any).publishTone(hz), PAGE_TONE_HZ))).toBe('string');
  }, 120_000); // three baresips, two RSA keys and Chromium on a loaded 2-core machine

  afterAll(async () => {
    if (process.env['DEBUG_SIP']) for (const b of [plain, secure, noSrtp]) console.log(b?.output.join('\n'));
    await joined?.close();
    await t?.close();
    await Promise.all([plain?.stop(), secure?.stop(), noSrtp?.stop()]);
  });

  /** Dials `phone`, checks audio both ways and DTMF both ways; REST hangs up, or the phone does (its BYE to our Contact). */
  async function exerciseCall(phone: Baresip, phoneHz: number, options: { secure?: boolean }, hangUpBy: 'rest' | 'phone'): Promise<void> {
    // The page's analyser follows one subscriber: a new one for this call's stream.
    await tab.page.evaluate(() => ((window as any).analyser = undefined));
    const call = await p<OpenTok.SipInterconnect>((cb) => ot.dial(sessionId, ot.generateToken(sessionId, { data: 'sip=baresip' }), phone.uri, options, cb as never));
    await phone.waitFor(/Call established/);
    // The SIP participant's stream reaches the page as an audio-only stream of the token's connection data.
    const created = await until(async () => (await log()).find((e) => e.type === 'streamCreated' && e.streamId === call.streamId), 'the SIP stream at the page', 30_000);
    expect(created).toMatchObject({ hasVideo: false, connectionId: call.connectionId, data: 'sip=baresip' });

    // The page hears the phone's tone.
    const heard = await until(
      async () => {
        const r = (await tab.page.evaluate(() => (window as any).loudest())) as { hz: number; db: number } | null;
        return r && r.db > -80 && Math.abs(r.hz - phoneHz) < 30 ? r : false;
      },
      'the phone tone at the page',
      30_000,
    ).catch(async (err) => {
      console.log(JSON.stringify(t.server.sip.mediaStats(call.id)), JSON.stringify(await tab.page.evaluate(() => (window as any).loudest())), JSON.stringify(await log()));
      throw err;
    });
    console.log(`${options.secure ? 'secure' : 'plain'}: page hears ${heard.hz.toFixed(0)} Hz at ${heard.db.toFixed(1)} dB`);
    const stats = t.server.sip.mediaStats(call.id)!;
    expect(stats.srtp).toBe(options.secure === true);
    expect(stats.srtpRejected).toBe(0);

    // DTMF from the phone: a `dtmf` signal from the SIP connection.
    await phone.command('sndcode', '5');
    const dtmf = await until(async () => (await log()).find((e) => e.type === 'dtmf' && e.from === call.connectionId), 'DTMF signal at the page');
    expect(dtmf).toMatchObject({ data: '5' });

    // DTMF to the phone, by REST through the `opentok` SDK's playDTMF: baresip reports the digits it received.
    await p<void>((cb) => (ot as any).playDTMF(sessionId, call.connectionId, '7#', cb));
    await phone.waitFor(/received event: '7'/); // baresip's line for an RFC 4733 event
    await phone.waitFor(/received event: '#'/);

    // Let baresip record a while, then hang up: by REST (forceDisconnect), or baresip's BYE (over
    // TLS it opens a connection to our TLS port and checks our certificate).
    await new Promise((r) => setTimeout(r, 1500));
    if (hangUpBy === 'rest') await p<void>((cb) => ot.forceDisconnect(sessionId, call.connectionId, cb as never));
    else await phone.command('hangup');
    const gone = await until(async () => (await log()).find((e) => e.type === 'connectionDestroyed' && e.connectionId === call.connectionId), 'connectionDestroyed at the page');
    expect(gone.reason).toBe(hangUpBy === 'rest' ? 'forceDisconnected' : 'clientDisconnected');
    await until(async () => (await log()).find((e) => e.type === 'streamDestroyed' && e.streamId === call.streamId), 'streamDestroyed at the page');

    // baresip's recording of what it heard holds the page's 440 Hz tone, well above the phone's own.
    const decoded = await until(() => phone.recordings().find((f) => f.endsWith('-dec.wav')), 'baresip recording');
    const { rate, samples } = readWav(decoded);
    const tail = samples.subarray(Math.max(0, samples.length - rate)); // the last second
    const atPage = toneEnergy(tail, rate, PAGE_TONE_HZ);
    const atPhone = toneEnergy(tail, rate, phoneHz);
    const at700 = toneEnergy(tail, rate, 700);
    console.log(`baresip recorded ${(samples.length / rate).toFixed(1)} s; energy 440 Hz ${atPage.toExponential(2)}, ${phoneHz} Hz ${atPhone.toExponential(2)}, 700 Hz ${at700.toExponential(2)}`);
    expect(atPage).toBeGreaterThan(atPhone * 20);
    expect(atPage).toBeGreaterThan(at700 * 20);
    expect(atPage).toBeGreaterThan(1e-4); // amplitude above 0.02 of full scale
  }

  it('plain SIP and RTP: the page hears the phone, the phone hears the page, DTMF crosses both ways, REST hangs up', async () => {
    await exerciseCall(plain, PLAIN_PHONE_HZ, {}, 'rest');
  }, 120_000);

  it('secure: SIP over TLS and SRTP (SDES) with a phone that insists on SRTP, the same both ways; the phone hangs up over TLS', async () => {
    await exerciseCall(secure, SECURE_PHONE_HZ, { secure: true }, 'phone');
    expect(ended.at(-1)?.[1]).toMatchObject({ by: 'remote', sipCode: 200 });
  }, 120_000);

  it('secure to a far end without SRTP: the call ends with 488 and the SIP participant leaves, no plain RTP flows', async () => {
    const call = await p<OpenTok.SipInterconnect>((cb) => ot.dial(sessionId, ot.generateToken(sessionId), noSrtp.uri, { secure: true }, cb as never));
    const [info, end] = await until(() => ended.find(([i]) => i.id === call.id), 'the secure call to end');
    expect(info.state).toBe('ended');
    expect(end).toMatchObject({ sipCode: 488 });
    console.log(`secure call to a far end without SRTP ended: ${end.by} ${end.sipCode} ${end.reason}`);
    const gone = await until(async () => (await log()).find((e) => e.type === 'connectionDestroyed' && e.connectionId === call.connectionId), 'connectionDestroyed at the page');
    expect(gone.reason).toBe('networkDisconnected');
    expect(t.server.sip.calls.find((c) => c.id === call.id)).toBeUndefined();
  }, 60_000);

  it('secure, and the far end answers 200 with plain RTP anyway: we ACK, hang up (BYE) and report 488', async () => {
    const farEnd = await plainRtpFarEnd(tlsFiles);
    try {
      const call = await p<OpenTok.SipInterconnect>((cb) => ot.dial(sessionId, ot.generateToken(sessionId), farEnd.uri, { secure: true }, cb as never));
      const [, end] = await until(() => ended.find(([i]) => i.id === call.id), 'the call to end');
      expect(end).toMatchObject({ by: 'error', sipCode: 488 });
      expect(end.reason).toMatch(/without an SRTP key/);
      await until(() => farEnd.seen.includes('BYE'), 'our BYE at the far end');
      expect(farEnd.seen.slice(0, 2)).toEqual(['INVITE', 'ACK']);
      const gone = await until(async () => (await log()).find((e) => e.type === 'connectionDestroyed' && e.connectionId === call.connectionId), 'connectionDestroyed at the page');
      expect(gone.reason).toBe('networkDisconnected');
    } finally {
      farEnd.close();
    }
  }, 60_000);

  it('a far end whose TLS certificate is not trusted never gets the INVITE; the call fails', async () => {
    const farEnd = await plainRtpFarEnd(untrusted);
    try {
      const call = await p<OpenTok.SipInterconnect>((cb) => ot.dial(sessionId, ot.generateToken(sessionId), farEnd.uri, { secure: true }, cb as never));
      const [, end] = await until(() => ended.find(([i]) => i.id === call.id), 'the call to end', 60_000);
      console.log(`untrusted far end: ${end.by} ${end.sipCode} ${end.reason}`);
      expect(end.sipCode).toBeGreaterThanOrEqual(400);
      expect(farEnd.seen).toEqual([]);
    } finally {
      farEnd.close();
    }
  }, 90_000);
});
