// SIP video with real parts end to end: a Chromium page in a routed session publishes a canvas camera
// of one known colour; the `opentok` SDK dials Debian's baresip with `video: true` (baresip does VP8,
// its camera is the fakevideo module). Proven both ways:
// - the page subscribes to the SIP participant's stream, which says hasVideo, and Chromium decodes the
//   phone's video at baresip's camera size (getStats framesDecoded rising, frameWidth 320); a
//   second subscriber joining the running stream asks for a keyframe, which reaches baresip as a
//   PLI, and decodes its answer;
// - baresip decodes the session's grid: its snapshot module writes a frame it decoded as a PNG,
//   which is the grid's size (640×480) and whose middle is the page's colour (the only stream in the
//   grid fills it).
// Twice: plain (SIP over UDP, RTP), and `secure` (SIP over TLS, the video SRTP and SRTCP with its own
// SDES key; baresip's srtp-mand refuses anything else), where no packet of the phone is refused.
// A baresip without video modules declines the video m-line: the call is audio and its stream says
// hasVideo false.

import type { TestPage } from '@colloquy/testing/browser';
import { signJwt } from '@colloquy/tokens';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturingLogger, tempDir, type TestServer } from '../helpers.js';
import { Baresip } from './baresip.js';
import { joinedPage, p, sipTlsFiles, startSipTestServer, until, type JoinedPage } from './helpers.js';

/** The page's camera colours (RGB), far apart in every channel, so the checks are unambiguous. */
const PAGE_COLOUR = [40, 90, 220] as const;
const SECOND_COLOUR = [220, 200, 40] as const;
const PHONE_CAMERA = { width: 320, height: 240 };

const page = (server: string) => `<!doctype html><html><head><meta charset="utf-8">
<script src="${server}/v2/js/opentok.js"></script>
<script>
window.log = [];
window.subs = {};
window.streams = {};
window.join = (apiKey, sessionId, token) => new Promise((resolve) => {
  const session = OT.initSession(apiKey, sessionId);
  window.session = session;
  session.on('streamCreated', (e) => {
    log.push({ type: 'streamCreated', streamId: e.stream.streamId, hasVideo: e.stream.hasVideo, videoType: e.stream.videoType, connectionId: e.stream.connection.connectionId });
    streams[e.stream.streamId] = e.stream;
    subs[e.stream.streamId] = session.subscribe(e.stream, document.body, { insertMode: 'append', width: 320, height: 240 }, (err) => {
      if (err) log.push({ type: 'subscribeError', streamId: e.stream.streamId, code: err.code, message: err.message });
    });
    subs[e.stream.streamId].on('destroyed', (d) => log.push({ type: 'subscriberDestroyed', streamId: e.stream.streamId, reason: d.reason }));
  });
  session.on('streamPropertyChanged', (e) => log.push({ type: 'streamPropertyChanged', streamId: e.stream.streamId, property: e.changedProperty, value: e.newValue }));
  session.on('connectionDestroyed', (e) => log.push({ type: 'connectionDestroyed', connectionId: e.connection.connectionId, reason: e.reason }));
  session.connect(token, (err) => resolve(err ? err.message : null));
});
// A camera of one colour from a canvas (a small square moves in a corner so frames keep coming).
window.publishColour = (r, g, b) => new Promise((resolve) => {
  const canvas = document.createElement('canvas');
  canvas.width = 640; canvas.height = 480;
  const ctx = canvas.getContext('2d');
  let n = 0;
  setInterval(() => {
    ctx.fillStyle = 'rgb(' + r + ',' + g + ',' + b + ')';
    ctx.fillRect(0, 0, 640, 480);
    ctx.fillStyle = '#fff';
    ctx.fillRect((n++ * 4) % 64, 0, 16, 16);
  }, 33);
  const track = canvas.captureStream(30).getVideoTracks()[0];
  const publisher = OT.initPublisher(document.body, { insertMode: 'append', videoSource: track, audioSource: null, width: 640, height: 480 });
  window.publishers = (window.publishers || []).concat([publisher]);
  publisher.on('streamCreated', (e) => resolve(e.stream.streamId));
  session.publish(publisher, (err) => { if (err) resolve('error: ' + err.message); });
});
window.unpublishLast = () => session.unpublish(window.publishers.pop());
// A second subscriber of a stream already running (its key in subs: streamId + ':again').
window.subscribeAgain = (streamId) => { subs[streamId + ':again'] = session.subscribe(streams[streamId], document.body, { insertMode: 'append', width: 320, height: 240 }); };
window.unsubscribeAgain = (streamId) => { session.unsubscribe(subs[streamId + ':again']); delete subs[streamId + ':again']; };
window.videoStats = async (streamId) => {
  const sub = subs[streamId];
  if (!sub) return null;
  let report;
  try { report = await sub.getRtcStatsReport(); } catch (e) { return null; }
  let out = null;
  report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') out = { framesDecoded: s.framesDecoded || 0, width: s.frameWidth || 0, height: s.frameHeight || 0 }; });
  return out;
};
</script></head><body></body></html>`;

/** Width and height from a PNG's IHDR. */
function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** The mean RGB of a 32×32 square centred at (x, y) of a picture (its middle by default), by ffmpeg. */
function colourAt(file: string, at?: { x: number; y: number }): number[] {
  const crop = at ? `crop=32:32:${at.x - 16}:${at.y - 16}` : 'crop=32:32:(iw-32)/2:(ih-32)/2';
  const rgb = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-vf', `${crop},scale=1:1:flags=area`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  return [...rgb.subarray(0, 3)];
}

const near = (colour: number[], expected: readonly number[]) => colour.every((c, i) => Math.abs(c - expected[i]!) < 40);

describe('SIP video: the phone is the stream\'s video, the phone gets the session\'s grid (baresip, VP8)', () => {
  let t: TestServer;
  let phone: Baresip;
  let securePhone: Baresip;
  let audioPhone: Baresip;
  let joined: JoinedPage;
  let tab: TestPage;
  let ot: OpenTok;
  let sessionId: string;
  // The server's log lines, printed when a call fails.
  const serverLog = capturingLogger('debug');
  const log = () => tab.page.evaluate(() => (window as any).log as Array<Record<string, any>>);
  const projectJwt = () => {
    const now = Math.floor(Date.now() / 1000);
    return signJwt({ iss: t.apiKey, ist: 'project', iat: now, exp: now + 300 }, t.apiSecret);
  };

  beforeAll(async () => {
    const dir = tempDir();
    const wav = join(dir, 'tone.wav');
    execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', wav, 'synth', '60', 'sine', '1000', 'vol', '0.5']);
    const tls = sipTlsFiles(dir);
    [phone, securePhone, audioPhone] = await Promise.all([
      Baresip.start({ dir: join(dir, 'phone'), wav, video: PHONE_CAMERA }),
      Baresip.start({ dir: join(dir, 'secure'), wav, video: PHONE_CAMERA, tls: tls.baresip, srtp: true }),
      Baresip.start({ dir: join(dir, 'audio-only'), wav }),
    ]);
    t = await startSipTestServer(tls, { logger: serverLog.logger });
    joined = await joinedPage(t, page(t.url));
    ({ tab, ot, sessionId } = joined);
    const published = await tab.page.evaluate(([r, g, b]) => (window as any).publishColour(r, g, b), PAGE_COLOUR);
    expect(published).not.toMatch(/^error/);
  }, 90_000);

  afterAll(async () => {
    if (process.env['DEBUG_SIP']) for (const b of [phone, securePhone, audioPhone]) console.log(b?.output.join('\n'));
    await joined?.close();
    await t?.close();
    await Promise.all([phone?.stop(), securePhone?.stop(), audioPhone?.stop()]);
  });

  /** Dials `phone` with video, proves video both ways, runs `more` during the call, hangs up by REST. */
  async function exerciseVideoCall(phone: Baresip, secure: boolean, more?: (call: OpenTok.SipInterconnect) => Promise<void>): Promise<void> {
    const started = Date.now();
    const call = await p<OpenTok.SipInterconnect>((cb) => ot.dial(sessionId, ot.generateToken(sessionId), phone.uri, { video: true, secure } as never, cb as never));
    await phone.waitFor(/Call established/, 20_000);
    const stats = () => t.server.sip.mediaStats(call.id)!;
    const diagnose = async (err: unknown) => {
      const inbound = await tab.page.evaluate(async (id) => {
        const sub = (window as any).subs[id];
        if (!sub) return 'no subscriber';
        const out: unknown[] = [];
        (await sub.getRtcStatsReport()).forEach((s: any) => { if (s.type === 'inbound-rtp' || s.type === 'transport' || s.type === 'candidate-pair') out.push(s); });
        return out;
      }, call.streamId).catch((e: unknown) => String(e));
      console.log(JSON.stringify(stats()), JSON.stringify(await log()), JSON.stringify(inbound), JSON.stringify(t.server.sessions.live(sessionId)?.dump()), phone.output.slice(-15).join('\n'));
      for (const line of serverLog.lines.filter((l) => (l['time'] as number) >= started)) console.log(JSON.stringify(line));
      throw err;
    };

    // The SIP participant's stream is a camera stream, and Chromium decodes the phone's picture.
    const created = await until(async () => (await log()).find((e) => e.type === 'streamCreated' && e.streamId === call.streamId), 'the SIP stream at the page', 30_000);
    expect(created).toMatchObject({ hasVideo: true, videoType: 'camera', connectionId: call.connectionId });
    const videoStats = (key: string = call.streamId) => tab.page.evaluate((id) => (window as any).videoStats(id), key) as Promise<{ framesDecoded: number; width: number; height: number } | null>;
    const first = await until(async () => {
      const s = await videoStats();
      return s && s.framesDecoded > 0 && s.width > 0 ? s : false;
    }, 'the phone\'s video decoded at the page', 30_000).catch(diagnose);
    const later = await until(async () => {
      const s = await videoStats();
      return s && s.framesDecoded >= first.framesDecoded + 15 ? s : false;
    }, 'the phone\'s video still decoding', 20_000).catch(diagnose);
    console.log(`${secure ? 'secure' : 'plain'}: page decodes the phone: ${later.framesDecoded} frames at ${later.width}x${later.height}`);
    expect(later).toMatchObject(PHONE_CAMERA);
    // A subscriber joining the running stream needs a keyframe: its request goes through the SFU
    // and our RTCP to the phone, and the phone's answer is decoded. (The first subscriber may have
    // started on the phone's first keyframe, asking nothing.)
    const requested = { fromSession: stats().video!.keyframeRequestsFromSession, toPhone: stats().video!.keyframeRequestsToPhone };
    await tab.page.evaluate((id) => (window as any).subscribeAgain(id), call.streamId);
    const again = await until(async () => {
      const s = await videoStats(`${call.streamId}:again`);
      return s && s.framesDecoded > 0 && s.width > 0 ? s : false;
    }, 'the phone\'s video decoded by a second subscriber', 30_000).catch(diagnose);
    expect(again).toMatchObject(PHONE_CAMERA);
    expect(stats().video!.keyframeRequestsFromSession).toBeGreaterThan(requested.fromSession);
    expect(stats().video!.keyframeRequestsToPhone).toBeGreaterThan(requested.toPhone);
    await tab.page.evaluate((id) => (window as any).unsubscribeAgain(id), call.streamId);
    // The stream's videoDimensions come from the phone's keyframes (the page hears the change).
    const dims = await until(async () => (await log()).find((e) => e.type === 'streamPropertyChanged' && e.streamId === call.streamId && e.property === 'videoDimensions'), 'videoDimensions of the SIP stream');
    expect(dims.value).toEqual(PHONE_CAMERA);
    const rest = await fetch(`${t.url}/v2/project/${t.apiKey}/session/${sessionId}/stream/${call.streamId}`, { headers: { 'x-opentok-auth': projectJwt() } });
    expect(await rest.json()).toMatchObject({ id: call.streamId, videoType: 'camera' });

    // baresip decodes the grid: a snapshot of a frame it decoded holds the page's colour.
    await until(() => stats().video!.gridStreams === 1 && stats().video!.packetsToPhone > 30, 'the grid reaching the phone', 30_000).catch(diagnose);
    const snapshot = await until(async () => {
      await phone.command('snapshot');
      // The next decoded frame is written; give it a moment before asking again.
      await new Promise((r) => setTimeout(r, 500));
      const files = phone.receivedSnapshots();
      // Until the page's picture is in the grid, the grid is black: wait for the colour.
      const file = files.at(-1);
      return file && near(colourAt(file), PAGE_COLOUR) ? file : false;
    }, 'baresip to decode the grid with the page in it', 30_000).catch(diagnose);
    const colour = colourAt(snapshot);
    console.log(`${secure ? 'secure' : 'plain'}: baresip decoded the grid: ${JSON.stringify(pngSize(snapshot))}, middle RGB ${colour.join(',')} (page ${PAGE_COLOUR.join(',')}); video ${JSON.stringify(stats().video)}`);
    expect(pngSize(snapshot)).toEqual({ width: 640, height: 480 });
    expect(near(colour, PAGE_COLOUR)).toBe(true);
    expect(stats().srtp).toBe(secure);
    expect(stats().video).toMatchObject({ srtpRejected: 0, gridFailure: null });

    await more?.(call);
    await p<void>((cb) => ot.forceDisconnect(sessionId, call.connectionId, cb as never));
    await until(async () => (await log()).find((e) => e.type === 'connectionDestroyed' && e.connectionId === call.connectionId), 'connectionDestroyed at the page');
    console.log(`${secure ? 'secure' : 'plain'} video call exercised in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  it('video both ways: Chromium decodes the phone, baresip decodes the grid with the page in it; a second stream joins the grid', async () => {
    await exerciseVideoCall(phone, false, async (call) => {
      // A second camera joins: the grid is two boxes side by side (bestFit), the first stream on the left.
      const second = await tab.page.evaluate(([r, g, b]) => (window as any).publishColour(r, g, b), SECOND_COLOUR);
      expect(second).not.toMatch(/^error/);
      const t0 = Date.now();
      await until(() => t.server.sip.mediaStats(call.id)!.video!.gridStreams === 2, 'two streams in the grid', 30_000);
      const both = await until(async () => {
        await phone.command('snapshot');
        await new Promise((r) => setTimeout(r, 500));
        const file = phone.receivedSnapshots().at(-1);
        return file && near(colourAt(file, { x: 160, y: 240 }), PAGE_COLOUR) && near(colourAt(file, { x: 480, y: 240 }), SECOND_COLOUR) ? file : false;
      }, 'baresip to decode the two-stream grid', 30_000);
      console.log(`plain: two-stream grid decoded by baresip ${Date.now() - t0} ms after the second stream was published: left ${colourAt(both, { x: 160, y: 240 }).join(',')}, right ${colourAt(both, { x: 480, y: 240 }).join(',')}`);
      await tab.page.evaluate(() => (window as any).unpublishLast());
    });
  }, 120_000);

  it('secure (SIP over TLS, SRTP and SRTCP): the same both ways', async () => {
    await exerciseVideoCall(securePhone, true);
  }, 120_000);

  it('a phone without video answers the video offer with audio only: the stream says it has no video', async () => {
    const call = await p<OpenTok.SipInterconnect>((cb) => ot.dial(sessionId, ot.generateToken(sessionId), audioPhone.uri, { video: true } as never, cb as never));
    await audioPhone.waitFor(/Call established/, 20_000);
    const changed = await until(async () => (await log()).find((e) => e.type === 'streamPropertyChanged' && e.streamId === call.streamId && e.property === 'hasVideo'), 'hasVideo of the SIP stream', 30_000);
    expect(changed.value).toBe(false);
    expect(t.server.sip.mediaStats(call.id)!.video).toMatchObject({ packetsFromPhone: 0, packetsToPhone: 0, gridStreams: 0 });
    await p<void>((cb) => ot.forceDisconnect(sessionId, call.connectionId, cb as never));
    await until(async () => (await log()).find((e) => e.type === 'connectionDestroyed' && e.connectionId === call.connectionId), 'connectionDestroyed at the page');
  }, 60_000);

  it('REST: a non-boolean `video` is a 400; `video` and `secure` without TLS a 400', async () => {
    const token = ot.generateToken(sessionId);
    const post = async (sip: Record<string, unknown>) => {
      const res = await fetch(`${t.url}/v2/project/${t.apiKey}/dial`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-opentok-auth': projectJwt() }, body: JSON.stringify({ sessionId, token, sip }) });
      return { status: res.status, body: (await res.json()) as { message?: string } };
    };
    const plainSecure = await post({ uri: phone.uri, secure: true, video: true });
    expect(plainSecure.status).toBe(400);
    expect(plainSecure.body.message).toMatch(/TLS/);
    expect((await post({ uri: phone.uri, video: 'yes' })).status).toBe(400);
  });
});
