// Adaptive quality on an impaired downlink, in real Chromium: a 720p simulcast publisher and a
// subscriber on this machine, and a second subscriber in its own network namespace behind a tbf
// rate limit (packages/testing netem harness). The SFU's downlink estimate (transport-cc feedback
// from the weak subscriber's browser) puts it on a low layer at 300 kbps while the other keeps
// 1280 px; at 100 kbps it switches the weak one's video off (videoDisabled, reason quality) while
// audio goes on (packet gaps measured in the page); lifted, the video returns (videoEnabled) and
// climbs back to 1280 px. The publisher's top layer keeps flowing throughout. It prints the
// figures of each run on one line ("adaptive: figures"): videoDisabled after the 100 kbps limit,
// the longest audio packet gap and audible gap (concealment) from the limit on (with the video off) and while the video comes
// back, videoEnabled and 1280 px after the lift. Needs root for the namespace (CI runs as root):
// without it the test fails, it does not skip.

import { longestAudibleGapMs, type ConcealmentReading } from '@colloquy/testing/audio-gaps';
import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { chromiumInNamespace, createVethNamespace, type VethNamespace } from '@colloquy/testing/netem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { log, MediaApp, publish, subStats, waitForLog, waitForStats, type SubStats } from './media-app.js';

let ns: VethNamespace;
let wrapper: { path: string; remove(): void };
let m: MediaApp;
let weakBrowser: TestBrowser;

beforeAll(async () => {
  ns = createVethNamespace('adaptq');
  wrapper = chromiumInNamespace(ns);
  // COLLOQUY_UPLINK_ESTIMATION in the environment: the publisher's uplink mode, to compare (default: the server's).
  const uplink = process.env['COLLOQUY_UPLINK_ESTIMATION'];
  m = await MediaApp.start({ HOST: ns.hostAddress, COLLOQUY_ANNOUNCED_IP: ns.hostAddress, COLLOQUY_RTC_LISTEN_IP: ns.hostAddress, ...(uplink ? { COLLOQUY_UPLINK_ESTIMATION: uplink } : {}) }, {}, ns.hostAddress);
  const origins = `${new URL(m.appUrl).origin},${m.t.url}`;
  weakBrowser = await launchChromium({ executablePath: wrapper.path, args: [`--unsafely-treat-insecure-origin-as-secure=${origins}`] });
});
afterAll(async () => {
  await weakBrowser?.close();
  await m?.close();
  wrapper?.remove();
  ns?.remove();
});

/** Waits until the subscriber decodes at `width` with frames rising by 10+; `reachedAt`: when that width was first seen decoding. */
async function decodesAt(p: TestPage, key: string, accept: (width: number) => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<SubStats & { reachedAt: number }> {
  const first = await waitForStats(p, async (s) => (s[key]?.framesDecoded ?? 0) > 0 && (await accept(s[key]?.width ?? 0)), what, timeoutMs);
  const reachedAt = Date.now();
  const n = first[key]!.framesDecoded;
  return { ...(await waitForStats(p, async (s) => s[key]!.framesDecoded >= n + 10 && (await accept(s[key]?.width ?? 0)), `${what} (frames rising)`, timeoutMs))[key]!, reachedAt };
}

/** Bytes the publisher's top layer (rid f) has sent. */
const topLayerBytes = (p: TestPage): Promise<number> =>
  p.page.evaluate(async () => {
    const reports = await (window as any).publisher.getRtcStatsReport();
    let bytes = 0;
    reports[0].rtcStatsReport.forEach((s: any) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid === 'f') bytes = s.bytesSent ?? 0;
    });
    return bytes;
  });

/** The publisher's own view: its estimate (availableOutgoingBitrate) and, per rid, frame rate, encoder target and what limits it. */
const publisherView = (p: TestPage): Promise<Record<string, unknown>> =>
  p.page.evaluate(async () => {
    const reports = await (window as any).publisher.getRtcStatsReport();
    const view: Record<string, unknown> = {};
    reports[0].rtcStatsReport.forEach((s: any) => {
      if (s.type === 'candidate-pair' && s.nominated && typeof s.availableOutgoingBitrate === 'number') view['estimate'] = s.availableOutgoingBitrate;
      if (s.type === 'outbound-rtp' && s.kind === 'video') view[s.rid ?? '-'] = { fps: s.framesPerSecond ?? 0, target: s.targetBitrate ?? 0, limited: s.qualityLimitationReason ?? '', width: s.frameWidth ?? 0 };
    });
    return view;
  });

/** The widest layer the publisher sends now (a frame rate above 0), from its own stats; 0 when none. */
async function publisherTopWidth(p: TestPage): Promise<number> {
  let top = 0;
  for (const v of Object.values(await publisherView(p))) {
    const layer = v as { fps?: number; width?: number };
    if (typeof layer === 'object' && (layer.fps ?? 0) > 0) top = Math.max(top, layer.width ?? 0);
  }
  return top;
}

/** Ends the page's audio watch (watchAudio): its packet gap and concealed audio, and the longest audible gap from its concealment readings. */
async function stopAudioWatch(p: TestPage): Promise<{ longestPacketGapMs: number; concealedMs: number; longestAudibleGapMs: number }> {
  const { concealment, ...watched } = (await p.page.evaluate(() => (window as any).stopAudioWatch())) as { longestPacketGapMs: number; concealedMs: number; concealment: ConcealmentReading[] };
  return { ...watched, longestAudibleGapMs: longestAudibleGapMs(concealment) };
}

describe('adaptive quality on an impaired downlink', () => {
  it('300 kbps: a low layer for the weak subscriber while the other keeps 720p; 100 kbps: video off with audio going on; lifted: video back', async () => {
    const sessionId = await m.createSession('routed');
    const pub = await m.openPage();
    const strongPage = await m.openPage();
    const weak: TestPage = await weakBrowser.newPage();
    await weak.page.goto(m.appUrl);
    await m.join(pub, sessionId, 'publisher', 'name=Ada');
    await m.join(strongPage, sessionId, 'subscriber', 'strong');
    const joined = await weak.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk, {}), [m.t.apiKey, sessionId, m.token(sessionId, 'subscriber', 'weak')] as const);
    expect(joined.connectionId).toBeTruthy();
    const { streamId } = await publish(pub, { name: 'Ada', resolution: '1280x720', frameRate: 30 });
    expect(streamId).toBeTruthy();
    const subscriber = m.t.server.sessions.live(sessionId)!;

    // The strong subscriber is on this machine's side (no limit).
    await strongPage.page.waitForFunction((id) => (window as any).streams.has(id), streamId);
    await strongPage.page.evaluate((id) => (window as any).subscribeTo(id, { key: 'strong' }), streamId!);
    const strong = `${streamId}:strong`;
    await weak.page.waitForFunction((id) => (window as any).streams.has(id), streamId);
    await weak.page.evaluate((id) => (window as any).subscribeTo(id, {}), streamId!);
    const weakKey = streamId!;
    const downlinks = (): { weak: Record<string, unknown>; strong: Record<string, unknown> } => {
      const subs = [...subscriber.subscriptions.values()];
      const of = (conn: string): Record<string, unknown> => {
        const s = subs.find((x) => x.connection.id === conn)!;
        const video = s.consumers.find((c) => c.kind === 'video')!.getStats();
        return { ...s.transport!.getStats().downlink, layer: video.currentLayer, cap: video.bandwidthLayer, off: video.qualityDisabled, padding: video.paddingPackets };
      };
      return { weak: of(joined.connectionId), strong: of(subs.find((x) => x.connection.id !== joined.connectionId)!.connection.id) };
    };
    // The run's figures as they come (printed on one line at the end, or with a failure).
    const figures: Record<string, number> = {};
    // What the SFU saw, should a wait time out.
    const explain = <T>(p: Promise<T>): Promise<T> =>
      p.catch(async (err: unknown) => {
        console.log(`adaptive: figures (incomplete) ${JSON.stringify(figures)}`);
        const video = [...subscriber.subscriptions.values()][0]?.consumers.find((c) => c.kind === 'video');
        console.log(`adaptive: failed: ${JSON.stringify(downlinks())}; publisher layers ${JSON.stringify(video?.producer.getStats().layers ?? null)}; publisher ${JSON.stringify(await publisherView(pub).catch(() => null))}`);
        throw err;
      });
    await explain(decodesAt(strongPage, strong, (w) => w === 1280, 'strong subscriber at 1280', 60_000));
    // Unlimited, the weak one gets the top layer too (after a probe, if a false alarm lowered it).
    await explain(decodesAt(weak, weakKey, (w) => w === 1280, 'weak subscriber at 1280 before the limit', 60_000));
    console.log(`adaptive: before the limit ${JSON.stringify(downlinks())}; publisher ${JSON.stringify(await publisherView(pub))}`);

    // 300 kbps towards the weak subscriber: it settles on the lowest layer (320 px); the other keeps 1280.
    // The server runs in this process: each limit goes in place without holding its event loop
    // (impairAsync), timed from when the change began.
    const limitedAt = Date.now();
    await ns.impairAsync('down', { rateKbps: 300 });
    // A low layer decoded, and the SFU's cap under the top layer: a loaded publisher's own uplink
    // estimate can drop its top layer for a while (716 kbps, rid f off, in a paired run of two test
    // suites), and the weak subscriber then decodes 640 px before its downlink has been judged.
    const low = await explain(decodesAt(weak, weakKey, (w) => w > 0 && w <= 640 && (downlinks().weak['cap'] as number) < 2, 'weak subscriber on a low layer at 300 kbps, capped by the SFU', 45_000));
    expect(downlinks().weak['cap']).toBeLessThan(2);
    const settleMs = Date.now() - limitedAt;
    const strongStats = await explain(decodesAt(strongPage, strong, (w) => w === 1280, 'strong subscriber still at 1280'));
    console.log(`adaptive: 300 kbps: weak decodes ${low.width} px ${settleMs} ms after the limit; strong ${strongStats.width} px; ${JSON.stringify(downlinks())}`);
    expect(low.width).toBeLessThanOrEqual(640);

    // 100 kbps: not even the lowest layer fits; the SFU warns, then switches the video off; audio goes on.
    await weak.page.evaluate((key) => (window as any).watchAudio(key), weakKey);
    const topBefore = await topLayerBytes(pub);
    // Only events from here on count (at 300 kbps the video may have gone off and on already);
    // if it is off at this moment, the figure is 0.
    const logged100 = (await log(weak)).length;
    const offAlready = downlinks().weak['off'] === true;
    const offAt = Date.now();
    await ns.impairAsync('down', { rateKbps: 100 });
    // The weak downlink every 250 ms from here to the lift, printed if the video comes back on while limited.
    const trace: string[] = [];
    const tracer = setInterval(() => {
      const w = downlinks().weak as { estimate: number; ackedBitrate: number | null; capacity: number | null; usage: string; off: boolean; probes: number; probesSucceeded: number };
      trace.push(`${((Date.now() - offAt) / 1000).toFixed(2)}s ${Math.round(w.estimate / 1000)}k a${Math.round((w.ackedBitrate ?? 0) / 1000)} c${w.capacity === null ? '-' : Math.round(w.capacity / 1000)} ${w.usage[0]}${w.off ? ' off' : ''} p${w.probes}/${w.probesSucceeded}`);
    }, 250);
    const l1 = await explain(waitForLog(weak, (l) => offAlready || l.slice(logged100).some((e) => e.type === 'videoDisabled' && e['reason'] === 'quality'), 'videoDisabled (quality)', 45_000));
    const disabledMs = offAlready ? 0 : Date.now() - offAt;
    figures['videoDisabledMs'] = disabledMs;
    console.log(`adaptive: 100 kbps: videoDisabled ${disabledMs} ms after the limit; events ${JSON.stringify(l1.filter((e) => /video/.test(e.type)).map((e) => e.type))}; ${JSON.stringify(downlinks())}`);
    expect(l1.some((e) => e.type === 'videoDisableWarning')).toBe(true);
    // The warning always comes first.
    expect(l1.findIndex((e) => e.type === 'videoDisableWarning')).toBeLessThan(l1.findIndex((e) => e.type === 'videoDisabled'));
    // Audio for 8 s more with the video off: packets keep arriving.
    const audioBefore = (await subStats(weak))[weakKey]!.audioPackets;
    await new Promise((r) => setTimeout(r, 8000));
    const audio = await stopAudioWatch(weak);
    figures['audioGapLimitedMs'] = audio.longestPacketGapMs;
    figures['audibleGapLimitedMs'] = audio.longestAudibleGapMs;
    const audioAfter = (await subStats(weak))[weakKey]!.audioPackets;
    console.log(`adaptive: audio at 100 kbps (from the limit on): ${JSON.stringify(audio)}; ${audioAfter - audioBefore} packets in the last 8 s`);
    expect(audioAfter - audioBefore).toBeGreaterThan(200); // 50 packets a second of Opus
    // Off while the limit holds: the probes every 2.5 s must not bring it back on (a probe that
    // fitted in the limiter's token bucket once read as 243 kbps, and the video flapped on and off).
    const limitedLog = (await log(weak)).slice(logged100);
    const offIndex = limitedLog.findIndex((e) => e.type === 'videoDisabled');
    expect(offAlready || offIndex >= 0).toBe(true);
    const backOnWhileLimited = limitedLog.slice(offIndex + 1).filter((e) => e.type === 'videoEnabled');
    if (backOnWhileLimited.length > 0) console.log(`adaptive: back on while limited: ${JSON.stringify(limitedLog)}; ${JSON.stringify(downlinks())}; every 250 ms: ${trace.join(', ')}`);
    expect(backOnWhileLimited).toEqual([]);
    // The publisher's uplink is untouched: its top layer kept flowing for the strong subscriber.
    expect(await topLayerBytes(pub)).toBeGreaterThan(topBefore + 200_000);
    await explain(decodesAt(strongPage, strong, (w) => w === 1280, 'strong subscriber at 1280 during the weak one’s fallback'));

    // Lifted: the video comes back by itself. With only audio flowing, only a padding probe can
    // show that the link carries video again: while the video is off the SFU probes every 2.5 s,
    // then climbs a layer at a time, each step after a probe.
    await weak.page.evaluate((key) => (window as any).watchAudio(key), weakKey);
    const loggedLift = (await log(weak)).length;
    clearInterval(tracer);
    const liftedAt = Date.now();
    await ns.impairAsync('down', {});
    const l2 = await explain(waitForLog(weak, (l) => l.slice(loggedLift).some((e) => e.type === 'videoEnabled' && e['reason'] === 'quality'), 'videoEnabled (quality) after the lift', 120_000));
    const enabledMs = Date.now() - liftedAt;
    figures['videoEnabledMs'] = enabledMs;
    // The allocator may take the video off again while the estimate settles (seen once under load:
    // videoEnabled, then no frames for 30 s); what must hold is that it comes back and stays.
    const back = await explain(decodesAt(weak, weakKey, (w) => w > 0, 'weak subscriber decoding again', 90_000));
    console.log(`adaptive: lifted: videoEnabled ${Date.now() - liftedAt} ms after; decoding ${back.width} px; events ${JSON.stringify(l2.filter((e) => /video/.test(e.type)).map((e) => e.type))}; ${JSON.stringify(downlinks())}`);
    // The warning is lifted with the video (the SFU sends both in one round; they reach the page
    // as two events, which a poll of the log can fall between).
    const lifted = await explain(waitForLog(weak, (l) => l.slice(loggedLift).some((e) => e.type === 'videoDisableWarningLifted'), 'videoDisableWarningLifted after the lift', 30_000));
    expect(lifted.slice(loggedLift).some((e) => e.type === 'videoDisableWarningLifted')).toBe(true);
    // And back to the top layer (the strong subscriber keeps it flowing at the publisher): the
    // widest layer the publisher sends, read at each poll, which is 1280 px while its uplink carries
    // it. On a starved machine (two test suites at once) the publisher's own estimate (Chromium's,
    // its uplink on loopback) once sat at 84 kbps after the lift, its 320 px layer the only one it
    // sent, until the test timed out waiting for 1280 px.
    let publisherTop = 0;
    const atPublisherTop = async (w: number): Promise<boolean> => (publisherTop = await publisherTopWidth(pub)) > 0 && w >= publisherTop;
    const top = await explain(decodesAt(weak, weakKey, atPublisherTop, 'weak subscriber back at the publisher’s top layer', 90_000));
    const topMs = top.reachedAt - liftedAt;
    if (publisherTop !== 1280) console.log(`adaptive: the publisher sent ${publisherTop} px at most when the weak subscriber got back to it: ${JSON.stringify(await publisherView(pub))}`);
    const recovery = await stopAudioWatch(weak);
    console.log(
      `adaptive: figures videoDisabled ${disabledMs} ms; audio gap (limit on) ${audio.longestPacketGapMs} ms, audible ${audio.longestAudibleGapMs} ms; videoEnabled ${enabledMs} ms; ${top.width} px ${topMs} ms; audio gap (recovery) ${recovery.longestPacketGapMs} ms, audible ${recovery.longestAudibleGapMs} ms; ${JSON.stringify(downlinks())}`,
    );
    expect((await log(weak)).filter((e) => e.type === 'videoDisabled').every((e) => e['reason'] === 'quality')).toBe(true);
    await weak.page.close();
  }, 330_000);
});
