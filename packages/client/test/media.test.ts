// Publishing and subscribing with the browser SDK in real Chromium (fake camera and microphone)
// against a real Colloquy server, with tokens from the real `opentok` SDK. A test passes only when
// subscribers decode: getStats framesDecoded rising, frame width > 0, audio packets rising.
// One browser for the file; each test opens its pages.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenTok from 'opentok';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mediaHarness } from './media-harness.js';

interface Logged {
  type: string;
  streamId?: string;
  [key: string]: unknown;
}
interface SubStats {
  framesDecoded: number;
  width: number;
  audioPackets: number;
  error?: string;
}

let t: TestServer;
let app: Server;
let appUrl: string;
let ot: OpenTok;
let browser: TestBrowser;
let pages: TestPage[] = [];

beforeAll(async () => {
  t = await startTestServer({ COLLOQUY_QUALITY_SAMPLE_MS: '1000' });
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  app = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(mediaHarness(t.url));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/app.html`;
  browser = await launchChromium();
});
afterEach(async () => {
  for (const p of pages) expect(p.errors.filter((e) => !/OT\.(warn|info|debug)/.test(e))).toEqual([]);
  await Promise.all(pages.map((p) => p.page.close().catch(() => {})));
  pages = [];
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => app?.close(resolve));
  await t?.close();
});

function createSession(mediaMode: 'routed' | 'relayed'): Promise<string> {
  return new Promise((resolve, reject) => ot.createSession({ mediaMode }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
}

async function openPage(): Promise<TestPage> {
  const p = await browser.newPage();
  await p.page.goto(appUrl);
  pages.push(p);
  return p;
}

async function join(p: TestPage, sessionId: string, role: 'publisher' | 'subscriber' | 'moderator' | 'publisheronly' = 'publisher', data = role, options: Record<string, unknown> = {}): Promise<string> {
  const token = ot.generateToken(sessionId, { role, data });
  const result = (await p.page.evaluate(([k, s, tk, o]) => (window as any).join(k, s, tk, o), [t.apiKey, sessionId, token, options] as const)) as { connectionId?: string };
  expect(result.connectionId, JSON.stringify(result)).toBeTruthy();
  return result.connectionId!;
}

const publish = (p: TestPage, props: Record<string, unknown> = {}): Promise<{ streamId?: string; error?: { code: number; name: string; message: string } }> =>
  p.page.evaluate((o) => (window as any).publish(o), props);
const log = (p: TestPage): Promise<Logged[]> => p.page.evaluate(() => (window as any).log);
const subStats = (p: TestPage): Promise<Record<string, SubStats>> => p.page.evaluate(() => (window as any).subStats());

async function waitForLog(p: TestPage, test: (l: Logged[]) => boolean, what: string, timeoutMs = 10_000): Promise<Logged[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await log(p);
    if (test(l)) return l;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; page log: ${JSON.stringify(l).slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until every subscriber on the page (or those whose key is listed) decodes: framesDecoded
 * rising by 10+ between two reads, width > 0, audio packets rising. Returns the frames decoded.
 */
async function expectDecoding(p: TestPage, keys: string[], options: { audio?: boolean; timeoutMs?: number } = {}): Promise<Record<string, SubStats>> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let first: Record<string, SubStats> | undefined;
  let last: Record<string, SubStats> = {};
  while (Date.now() < deadline) {
    last = await subStats(p);
    const ready = keys.every((k) => (last[k]?.framesDecoded ?? 0) > 0 && (last[k]?.width ?? 0) > 0);
    if (ready) {
      first ??= last;
      const rising = keys.every((k) => {
        const video = last[k]!.framesDecoded >= first![k]!.framesDecoded + 10;
        const audio = options.audio === false || last[k]!.audioPackets > first![k]!.audioPackets;
        return video && audio;
      });
      if (rising) return last;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`not decoding on ${keys.join(', ')}: ${JSON.stringify(last)}`);
}

describe('two pages', () => {
  for (const mediaMode of ['routed', 'relayed'] as const) {
    it(`${mediaMode}: each decodes the other's video and receives its audio`, async () => {
      const sessionId = await createSession(mediaMode);
      const [a, b] = [await openPage(), await openPage()];
      await join(a, sessionId, 'publisher', 'name=Ada', { statsReportIntervalMs: 1000 });
      await join(b, sessionId, 'publisher', 'name=Bob', { statsReportIntervalMs: 1000 });
      await a.page.evaluate(() => ((window as any).autoSubscribe = true));
      await b.page.evaluate(() => ((window as any).autoSubscribe = true));
      const [pa, pb] = await Promise.all([publish(a, { name: 'Ada' }), publish(b, { name: 'Bob' })]);
      expect(pa.streamId, JSON.stringify(pa)).toBeTruthy();
      expect(pb.streamId, JSON.stringify(pb)).toBeTruthy();
      const statsA = await expectDecoding(a, [pb.streamId!]);
      const statsB = await expectDecoding(b, [pa.streamId!]);
      // Routed: the SFU's REMB lets the publisher send 640x480 at once; peer to peer, Chromium's own
      // estimate starts low and may send a scaled-down picture for the first seconds.
      if (mediaMode === 'routed') expect(statsA[pb.streamId!]!.width).toBe(640);
      console.log(`${mediaMode}: frames decoded A←B ${statsA[pb.streamId!]!.framesDecoded}, B←A ${statsB[pa.streamId!]!.framesDecoded}`);

      // What each page saw: the other's stream with its name, videoType camera; its own Publisher's streamCreated.
      const logA = await log(a);
      expect(logA.filter((e) => e.type === 'streamCreated')).toEqual([expect.objectContaining({ streamId: pb.streamId, name: 'Bob', videoType: 'camera', hasAudio: true, hasVideo: true })]);
      expect(logA.filter((e) => e.type === 'publisherStreamCreated')).toEqual([{ type: 'publisherStreamCreated', streamId: pa.streamId, videoType: 'camera' }]);
      expect(logA.map((e) => e.type)).toEqual(expect.arrayContaining(['accessAllowed', 'publisherVideoElement', 'subscriberVideoElement', 'subscribed']));

      // getStats in OpenTok's shapes.
      const shapes = await b.page.evaluate(async () => {
        const w = window as any;
        const sub = [...w.subs.values()][0];
        const subStats = await new Promise((resolve) => sub.getStats((e: unknown, s: unknown) => resolve(e ?? s)));
        const pubStats = await new Promise((resolve) => w.publisher.getStats((e: unknown, s: unknown) => resolve(e ?? s)));
        return { subStats, pubStats };
      });
      const sub = shapes.subStats as { audio: Record<string, number>; video: Record<string, number>; timestamp: number };
      expect(sub.video.packetsReceived).toBeGreaterThan(0);
      expect(sub.audio.packetsReceived).toBeGreaterThan(0);
      expect(sub.video.width).toBeGreaterThan(0);
      const pub = shapes.pubStats as Array<{ connectionId?: string; subscriberId?: string; stats: { video: { packetsSent: number } } }>;
      expect(pub).toHaveLength(1);
      expect(pub[0]!.stats.video.packetsSent).toBeGreaterThan(0);
      // Relayed: the entry names the subscriber; routed: one entry for the media server.
      if (mediaMode === 'relayed') expect(pub[0]!.connectionId).toBeTruthy();
      else expect(pub[0]!.connectionId).toBeUndefined();

      // The server: routed media went through the SFU, relayed never touched it.
      const session = t.server.sessions.live(sessionId)!;
      if (mediaMode === 'routed') expect(session.router!.transportCount).toBe(4);
      else expect(t.server.media.getRouter(sessionId)).toBeUndefined();

      // The Inspector got each client's getStats summary of what it sends and receives.
      await expect
        .poll(() => new Set(t.server.inspector.quality(sessionId, { source: 'client' }).tracks.map((tr) => `${tr.direction}/${tr.kind}`)), { timeout: 8000 })
        .toEqual(new Set(['send/audio', 'send/video', 'receive/audio', 'receive/video']));

      if (mediaMode === 'relayed') {
        // A third client: each pair gets its own peer connection (A and B now each send to two).
        const c = await openPage();
        await c.page.evaluate(() => ((window as any).autoSubscribe = true)); // before joining: streams already there arrive on connect
        await join(c, sessionId, 'subscriber', 'name=Cy');
        await expectDecoding(c, [pa.streamId!, pb.streamId!]);
        const peers = await a.page.evaluate(async () => (await (window as any).publisher.getStats()).length);
        expect(peers).toBe(2);
        return;
      }
      // audioLevelUpdated: the fake microphone's tone is heard at the subscriber.
      const level = await b.page.evaluate(
        (id) =>
          new Promise<number>((resolve) => {
            const sub = (window as any).subs.get(id);
            let max = 0;
            sub.on('audioLevelUpdated', (e: { audioLevel: number }) => (max = Math.max(max, e.audioLevel)));
            setTimeout(() => resolve(max), 1200);
          }),
        pa.streamId!,
      );
      expect(level).toBeGreaterThan(0.01);
      // setVideoSource with another track: replaced without renegotiation, still decoded; the new size reaches everyone.
      await a.page.evaluate(() => (window as any).publisher.setVideoSource((window as any).canvasTrack()));
      await waitForLog(b, (l) => l.some((e) => e.type === 'streamPropertyChanged' && e['changedProperty'] === 'videoDimensions'), 'videoDimensions change');
      await expectDecoding(b, [pa.streamId!]);
      // setAudioSource with a track of the app's own (a WebAudio tone): audio keeps arriving.
      await a.page.evaluate(() => {
        const ctx = new AudioContext();
        const osc = ctx.createOscillator();
        const dest = ctx.createMediaStreamDestination();
        osc.connect(dest);
        osc.start();
        return (window as any).publisher.setAudioSource(dest.stream.getAudioTracks()[0]);
      });
      await expectDecoding(b, [pa.streamId!]);
      // A moderator-less client cannot force-unpublish; leaving ends our stream for the other side.
      const refused = await b.page.evaluate((id) => new Promise((resolve) => (window as any).session.forceUnpublish((window as any).streams.get(id), (e: { code: number } | null) => resolve(e && e.code))), pa.streamId!);
      expect(refused).toBe(1530);
      await a.page.evaluate(() => (window as any).session.disconnect());
      await waitForLog(a, (l) => l.some((e) => e.type === 'publisherStreamDestroyed' && e['reason'] === 'clientDisconnected'), 'own stream destroyed');
      const destroyed = await waitForLog(b, (l) => l.some((e) => e.type === 'streamDestroyed'), 'streamDestroyed');
      expect(destroyed.find((e) => e.type === 'streamDestroyed')).toMatchObject({ streamId: pa.streamId, reason: 'clientDisconnected' });
      await waitForLog(b, (l) => l.some((e) => e.type === 'subscriberDestroyed' && e.streamId === pa.streamId), 'subscriber destroyed');
      await waitForLog(a, (l) => l.some((e) => e.type === 'publisherDestroyed'), 'publisher destroyed');
    });
  }
});

describe('groups', () => {
  it('four pages each decode the three others; then one stream has eight subscribers, all decoding', async () => {
    const sessionId = await createSession('routed');
    const four = await Promise.all([openPage(), openPage(), openPage(), openPage()]);
    for (const [i, p] of four.entries()) {
      await join(p, sessionId, 'publisher', `user=${i}`);
      await p.page.evaluate(() => ((window as any).autoSubscribe = true));
    }
    // 320x240 keeps four encoders and twelve decoders within two CPU cores.
    const streams: string[] = [];
    for (const p of four) {
      const r = await publish(p, { resolution: '320x240', frameRate: 15 });
      expect(r.streamId, JSON.stringify(r)).toBeTruthy();
      streams.push(r.streamId!);
    }
    const decoded: number[] = [];
    for (const [i, p] of four.entries()) {
      const others = streams.filter((_, j) => j !== i);
      const stats = await expectDecoding(p, others, { timeoutMs: 30_000 });
      for (const id of others) decoded.push(stats[id]!.framesDecoded);
    }
    console.log(`four pages: 12 subscribers decoding; frames decoded ${decoded.join(' ')}`);

    // One to many: five more Subscribers of page 0's stream (three already), on the other pages.
    const extra: Array<[TestPage, string]> = [];
    for (let k = 0; k < 5; k++) {
      const p = four[1 + (k % 3)]!;
      await p.page.evaluate(([id, key]) => (window as any).subscribeTo(id, { key }), [streams[0]!, `x${k}`] as const);
      extra.push([p, `${streams[0]}:x${k}`]);
    }
    for (const p of four.slice(1)) {
      const keys = extra.filter(([q]) => q === p).map(([, key]) => key);
      await expectDecoding(p, [streams[0]!, ...keys], { timeoutMs: 30_000 });
    }
    const video = t.server.sessions.live(sessionId)!.streams.get(streams[0]!)!.producer('video')!;
    expect(video.getStats().consumers).toBe(8);
  });
});

describe('screen sharing', () => {
  it("videoSource 'screen' and a canvas track published as screen arrive with videoType screen and decode; ending the capture ends the stream (mediaStopped)", async () => {
    const sessionId = await createSession('routed');
    const [a, b] = [await openPage(), await openPage()];
    await join(a, sessionId);
    await join(b, sessionId);
    await b.page.evaluate(() => ((window as any).autoSubscribe = true));
    // getDisplayMedia: headless Chromium with the fake media UI shares its (virtual) screen.
    const screen = await publish(a, { videoSource: 'screen', audioSource: null, name: 'desktop' });
    expect(screen.streamId, JSON.stringify(screen)).toBeTruthy();
    const canvas = (await a.page.evaluate(
      () =>
        new Promise((resolve) => {
          const w = window as any;
          const publisher = w.OT.initPublisher(document.getElementById('box'), { insertMode: 'append', videoSource: w.canvasTrack(), videoType: 'screen', audioSource: null, name: 'slides' });
          w.canvasPublisher = publisher;
          w.session.publish(publisher, (e: { name: string } | null) => resolve(e ? { error: e.name } : { streamId: publisher.stream.streamId }));
        }),
    )) as { streamId?: string };
    expect(canvas.streamId, JSON.stringify(canvas)).toBeTruthy();
    const created = (await waitForLog(b, (l) => l.filter((e) => e.type === 'streamCreated').length === 2, 'two streamCreated')).filter((e) => e.type === 'streamCreated');
    expect(created.map((e) => [e['name'], e['videoType'], e['hasAudio'], e['hasVideo']]).sort()).toEqual([
      ['desktop', 'screen', false, true],
      ['slides', 'screen', false, true],
    ]);
    await expectDecoding(b, [screen.streamId!, canvas.streamId!], { audio: false });
    const rest = await new Promise<Array<{ id: string; videoType: string }>>((resolve, reject) =>
      ot.listStreams(sessionId, (err, list) => (err ? reject(err) : resolve(list as unknown as Array<{ id: string; videoType: string }>))),
    );
    expect(rest.map((s) => s.videoType)).toEqual(['screen', 'screen']);

    // The browser's "Stop sharing" ends the track: mediaStopped, and the stream ends with that reason.
    await a.page.evaluate(() => (window as any).publisher.getVideoSource().track.dispatchEvent(new Event('ended')));
    const destroyed = await waitForLog(b, (l) => l.some((e) => e.type === 'streamDestroyed'), 'streamDestroyed');
    expect(destroyed.find((e) => e.type === 'streamDestroyed')).toMatchObject({ streamId: screen.streamId, reason: 'mediaStopped' });
  });
});

describe('mute', () => {
  it('publishVideo(false) raises streamPropertyChanged for everyone and videoDisabled; forceMuteAll mutes', async () => {
    const sessionId = await createSession('routed');
    const [a, b, mod] = [await openPage(), await openPage(), await openPage()];
    await join(a, sessionId);
    await join(b, sessionId);
    await join(mod, sessionId, 'moderator');
    await b.page.evaluate(() => ((window as any).autoSubscribe = true));
    const { streamId } = await publish(a);
    await expectDecoding(b, [streamId!]);

    await a.page.evaluate(() => (window as any).publisher.publishVideo(false));
    for (const p of [a, b, mod]) {
      const l = await waitForLog(p, (x) => x.some((e) => e.type === 'streamPropertyChanged'), 'streamPropertyChanged');
      expect(l.find((e) => e.type === 'streamPropertyChanged')).toMatchObject({ streamId, changedProperty: 'hasVideo', oldValue: true, newValue: false, streamHasVideo: false });
    }
    await waitForLog(b, (x) => x.some((e) => e.type === 'videoDisabled' && e['reason'] === 'publishVideo'), 'videoDisabled');
    await a.page.evaluate(() => (window as any).publisher.publishVideo(true));
    await waitForLog(b, (x) => x.some((e) => e.type === 'videoEnabled' && e['reason'] === 'publishVideo'), 'videoEnabled');

    // subscribeToVideo(false) on the subscriber: videoDisabled with that reason, and the SFU stops sending.
    await b.page.evaluate((id) => (window as any).subs.get(id).subscribeToVideo(false), streamId!);
    await waitForLog(b, (x) => x.some((e) => e.type === 'videoDisabled' && e['reason'] === 'subscribeToVideo'), 'videoDisabled subscribeToVideo');
    await new Promise((r) => setTimeout(r, 300));
    const paused = t.server.sessions.live(sessionId)!.subscriptions.values().next().value!.consumers.find((c) => c.kind === 'video')!;
    expect(paused.paused).toBe(true);
    await b.page.evaluate((id) => (window as any).subs.get(id).subscribeToVideo(true), streamId!);
    await expectDecoding(b, [streamId!]);

    // A moderator mutes everyone: sessions hear muteForced, the publisher its own, hasAudio goes false.
    const result = await mod.page.evaluate(() => new Promise((resolve) => (window as any).session.forceMuteAll([], (e: { name: string } | null) => resolve(e ? e.name : 'ok'))));
    expect(result).toBe('ok');
    await waitForLog(a, (x) => x.some((e) => e.type === 'publisherMuteForced'), 'publisher muteForced');
    for (const p of [a, b, mod]) await waitForLog(p, (x) => x.some((e) => e.type === 'sessionMuteForced' && e['active'] === true), 'session muteForced');
    await waitForLog(b, (x) => x.some((e) => e.type === 'streamPropertyChanged' && e['changedProperty'] === 'hasAudio' && e['newValue'] === false), 'hasAudio false');
    const audioEnabled = await a.page.evaluate(() => (window as any).publisher.getAudioSource().enabled);
    expect(audioEnabled).toBe(false);
    // A non-moderator cannot (1540, OpenTok's name).
    const refused = await b.page.evaluate(() => new Promise((resolve) => (window as any).session.forceMuteAll([], (e: { code: number; name: string } | null) => resolve(e && { code: e.code, name: e.name }))));
    expect(refused).toEqual({ code: 1540, name: 'OT_PERMISSION_DENIED' });

    // Archiving's broadcast becomes OpenTok.js's archiveStarted event.
    t.server.sessions.broadcastArchive(sessionId, { type: 'archiveStarted', archiveId: 'b2a4b6c8-0000-4000-8000-000000000001', name: 'lesson' });
    expect((await waitForLog(b, (x) => x.some((e) => e.type === 'archiveStarted'), 'archiveStarted')).find((e) => e.type === 'archiveStarted')).toMatchObject({ id: 'b2a4b6c8-0000-4000-8000-000000000001', name: 'lesson' });

    // The moderator unpublishes the stream: forceUnpublished for the publisher and everyone.
    const unpublished = await mod.page.evaluate((id) => new Promise((resolve) => (window as any).session.forceUnpublish((window as any).streams.get(id), (e: { name: string } | null) => resolve(e ? e.name : 'ok'))), streamId!);
    expect(unpublished).toBe('ok');
    await waitForLog(a, (x) => x.some((e) => e.type === 'publisherStreamDestroyed' && e['reason'] === 'forceUnpublished'), 'publisher forceUnpublished');
    await waitForLog(b, (x) => x.some((e) => e.type === 'streamDestroyed' && e['reason'] === 'forceUnpublished'), 'session forceUnpublished');
  });
});

describe('roles and errors', () => {
  it("a subscriber-role page cannot publish: OpenTok's error", async () => {
    const sessionId = await createSession('routed');
    const p = await openPage();
    await join(p, sessionId, 'subscriber');
    const result = await publish(p);
    expect(result.error).toMatchObject({ code: 1500, name: 'OT_PERMISSION_DENIED' });
    expect(result.error!.message).toMatch(/does not allow publishing/);
    // The server recorded the client's error for the Inspector.
    await expect.poll(() => t.server.inspector.events(sessionId, { errorsOnly: true }).items.map((e) => e.details['name'])).toContain('OT_PERMISSION_DENIED');
  });

  it('capture errors are OpenTok errors (accessDenied, OT_USER_MEDIA_ACCESS_DENIED); OT.getDevices lists the fake devices', async () => {
    const p = await openPage();
    const out = await p.page.evaluate(async () => {
      const OT = (window as any).OT;
      const devices = await new Promise((resolve) => OT.getDevices((e: unknown, d: unknown) => resolve(e ?? d)));
      // What a browser does when the user clicks "Block".
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
      const events: string[] = [];
      const error = await new Promise((resolve) => {
        const pub = OT.initPublisher(undefined, { insertDefaultUI: false }, (e: { code: number; name: string } | null) => resolve(e && { code: e.code, name: e.name }));
        pub.on('accessDenied', () => events.push('accessDenied'));
      });
      return { devices, error, events };
    });
    expect(out.error).toEqual({ code: 1500, name: 'OT_USER_MEDIA_ACCESS_DENIED' });
    // The SDK logs the failure (OT.error), as OpenTok.js does; that line is expected here.
    expect(p.errors).toEqual([expect.stringMatching(/OT\.error initPublisher: OT_USER_MEDIA_ACCESS_DENIED/)]);
    p.errors.length = 0;
    expect(out.events).toEqual(['accessDenied']);
    const kinds = (out.devices as Array<{ kind: string }>).map((d) => d.kind);
    expect(kinds).toContain('videoInput');
    expect(kinds).toContain('audioInput');
  });

  it('DOM: insertMode, the 264x198 default size, the name label; destroy removes it', async () => {
    const p = await openPage();
    const dom = await p.page.evaluate(async () => {
      const OT = (window as any).OT;
      const box = document.getElementById('box')!;
      box.innerHTML = '<span id="old">old</span>';
      const pub = await new Promise<any>((resolve) => {
        const x = OT.initPublisher('box', { name: 'Ada Lovelace' }, () => resolve(x));
      });
      const el = pub.element as HTMLElement;
      const replaced = box.children.length === 1 && box.firstElementChild === el;
      const size = [el.style.width, el.style.height];
      const label = el.querySelector('.OT_name')!.textContent;
      const after = await new Promise<any>((resolve) => {
        const x = OT.initPublisher('box', { insertMode: 'after', width: '50%', height: 100, audioSource: null }, () => resolve(x));
      });
      const placedAfter = box.nextElementSibling === after.element;
      pub.destroy();
      after.destroy();
      return { replaced, size, label, placedAfter, gone: !document.querySelector('.OT_publisher'), afterSize: [after.element === undefined] };
    });
    expect(dom).toEqual({ replaced: true, size: ['264px', '198px'], label: 'Ada Lovelace', placedAfter: true, gone: true, afterSize: [true] });
  });
});
