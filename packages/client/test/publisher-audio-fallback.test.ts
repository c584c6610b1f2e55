// Publisher audio fallback in real Chromium: the PUBLISHER runs in its own network namespace
// (packages/testing netem harness) and publishes with audioFallback: {publisher: true}; a
// subscriber on this machine's side watches. The publisher's uplink is limited by tbf to
// PUBLISHER_UPLINK_KBPS: the Publisher fires videoDisableWarning, then videoDisabled (reason
// 'quality') and stops sending video; the subscriber gets videoDisabled (reason 'quality'), its
// stream's hasVideo stays true, and its audio keeps flowing (packets counted, gaps measured in the
// page). Lifted: the publisher's probe finds the uplink carries video again, videoEnabled (reason
// 'quality') on both sides, and the subscriber decodes frames again. Timings are printed, not
// asserted. Needs root for the namespace: without it the test fails, it does not skip.
//
// Run on its own (`npm run test:audio-fallback -w @colloquy/client`): like adaptive-quality.test.ts
// it depends on Chromium's bandwidth estimate under a loaded machine and is kept out of `npm test`.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { chromiumInNamespace, createVethNamespace, type VethNamespace } from '@colloquy/testing/netem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { log, MediaApp, subStats, waitForLog, waitForStats, type Logged } from './media-app.js';

const PUBLISHER_UPLINK_KBPS = Number(process.env['COLLOQUY_FALLBACK_KBPS'] ?? 90);
/** How long the video stays off under the limit before it is lifted (probes fail meanwhile). */
const HOLD_OFF_MS = Number(process.env['COLLOQUY_FALLBACK_HOLD_MS'] ?? 8000);

let ns: VethNamespace;
let wrapper: { path: string; remove(): void };
let m: MediaApp;
let pubBrowser: TestBrowser;

beforeAll(async () => {
  ns = createVethNamespace('pubfb');
  wrapper = chromiumInNamespace(ns);
  m = await MediaApp.start({ HOST: ns.hostAddress, COLLOQUY_ANNOUNCED_IP: ns.hostAddress, COLLOQUY_RTC_LISTEN_IP: ns.hostAddress }, {}, ns.hostAddress);
  const origins = `${new URL(m.appUrl).origin},${m.t.url}`;
  pubBrowser = await launchChromium({ executablePath: wrapper.path, args: [`--unsafely-treat-insecure-origin-as-secure=${origins}`] });
});
afterAll(async () => {
  await pubBrowser?.close();
  await m?.close();
  wrapper?.remove();
  ns?.remove();
});

/** The publisher's fallback state and last uplink sample (Publisher._audioFallback). */
const fallbackState = (p: TestPage): Promise<unknown> => p.page.evaluate(() => (window as any).publisher._audioFallback());

const decoded = async (p: TestPage, key: string): Promise<number> => (await subStats(p))[key]?.framesDecoded ?? 0;

describe('publisher audio fallback (uplink limited by tbf)', () => {
  it(`at ${PUBLISHER_UPLINK_KBPS} kbps up: warning, video off at the publisher and its subscriber, audio goes on; lifted: video back`, async () => {
    const sessionId = await m.createSession('routed');
    const pub: TestPage = await pubBrowser.newPage();
    await pub.page.goto(m.appUrl);
    const sub = await m.openPage();
    const joined = await pub.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk, {}), [m.t.apiKey, sessionId, m.token(sessionId, 'publisher', 'ada')] as const);
    expect(joined.connectionId).toBeTruthy();
    await m.join(sub, sessionId, 'subscriber', 'bob');
    const { streamId } = await pub.page.evaluate(
      (o) => (window as any).publish(o),
      { name: 'Ada', resolution: '640x480', frameRate: 30, audioFallback: { publisher: true, subscriber: true } } as Record<string, unknown>,
    );
    expect(streamId).toBeTruthy();
    // The publisher's fallback events, into the page's log (the harness logs the subscriber's).
    await pub.page.evaluate(() => {
      const w = window as any;
      for (const type of ['videoDisableWarning', 'videoDisableWarningLifted', 'videoDisabled', 'videoEnabled']) {
        w.publisher.on(type, (e: any) => w.log.push({ type: `publisher:${type}`, reason: e.reason, at: Date.now() }));
      }
    });

    await sub.page.waitForFunction((id) => (window as any).streams.has(id), streamId);
    await sub.page.evaluate((id) => (window as any).subscribeTo(id, {}), streamId!);
    const key = streamId!;
    const first = await waitForStats(sub, (s) => (s[key]?.width ?? 0) > 0 && (s[key]?.framesDecoded ?? 0) > 0, 'subscriber decoding', 60_000);
    await waitForStats(sub, (s) => s[key]!.framesDecoded >= first[key]!.framesDecoded + 10, 'subscriber decoding (frames rising)', 30_000);
    console.log(`publisher fallback: before the limit ${JSON.stringify(await fallbackState(pub))}`);

    // The publisher's uplink limited: warning, then video off, on both sides.
    await sub.page.evaluate((k) => (window as any).watchAudio(k), key);
    ns.impair('up', { rateKbps: PUBLISHER_UPLINK_KBPS });
    const limitedAt = Date.now();
    const pl = await waitForLog(pub, (l) => l.some((e) => e.type === 'publisher:videoDisabled'), 'publisher videoDisabled', 90_000);
    const pubWarnMs = (pl.find((e) => e.type === 'publisher:videoDisableWarning')?.['at'] as number) - limitedAt;
    const pubOffMs = (pl.find((e) => e.type === 'publisher:videoDisabled')!['at'] as number) - limitedAt;
    expect(pl.find((e) => e.type === 'publisher:videoDisabled')!['reason']).toBe('quality');
    // The warning came first.
    expect(pl.findIndex((e) => e.type === 'publisher:videoDisableWarning')).toBeGreaterThanOrEqual(0);
    expect(pl.findIndex((e) => e.type === 'publisher:videoDisableWarning')).toBeLessThan(pl.findIndex((e) => e.type === 'publisher:videoDisabled'));
    const sl = await waitForLog(sub, (l) => l.some((e) => e.type === 'videoDisabled' && e['reason'] === 'quality'), 'subscriber videoDisabled (quality)', 30_000);
    const subOffMs = Date.now() - limitedAt;
    console.log(`publisher fallback: ${PUBLISHER_UPLINK_KBPS} kbps: warning ${pubWarnMs} ms, publisher off ${pubOffMs} ms, subscriber off by ${subOffMs} ms after the limit; ${JSON.stringify(await fallbackState(pub))}`);
    // hasVideo is the publisher's choice, not the network's: no streamPropertyChanged.
    expect(sl.filter((e) => e.type === 'streamPropertyChanged')).toEqual([]);
    expect(await sub.page.evaluate((id) => (window as any).streams.get(id).hasVideo, key)).toBe(true);

    // Audio keeps flowing at the subscriber with the video off: HOLD_OFF_MS more of packets (gaps measured
    // apart from the seconds before the video went off, when video still crowded the uplink).
    const audioUntilOff = await sub.page.evaluate(() => (window as any).stopAudioWatch());
    await sub.page.evaluate((k) => (window as any).watchAudio(k), key);
    const audioBefore = (await subStats(sub))[key]!.audioPackets;
    const framesAtOff = await decoded(sub, key);
    // The publisher's view meanwhile (state, its estimate in kbps, the loss it hears of), once a second.
    const timeline: string[] = [];
    const watchFrom = Date.now();
    while (Date.now() - watchFrom < HOLD_OFF_MS) {
      const f = (await fallbackState(pub)) as { state: string; sample: { availableOutgoingBitrate?: number; lossFraction?: number } | null } | null;
      timeline.push(`${((Date.now() - watchFrom) / 1000).toFixed(1)}s ${f?.state} ${Math.round((f?.sample?.availableOutgoingBitrate ?? 0) / 1000)}k ${Math.round((f?.sample?.lossFraction ?? 0) * 100)}%`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const audioAfter = (await subStats(sub))[key]!.audioPackets;
    const audio = await sub.page.evaluate(() => (window as any).stopAudioWatch());
    console.log(
      `publisher fallback: audio from the limit to the subscriber's videoDisabled ${JSON.stringify(audioUntilOff)}; then ${HOLD_OFF_MS / 1000} s with the video off ${JSON.stringify(audio)} (${audioAfter - audioBefore} packets); frames decoded meanwhile (probes): ${(await decoded(sub, key)) - framesAtOff}; publisher: ${timeline.join(', ')}`,
    );
    // Opus sends 50 packets a second, but Chromium's audio network adaptor goes to 60 ms frames
    // (about 17 a second) on a constrained uplink (seen: 131 packets in 8 s, none more than 73 ms apart).
    expect(audioAfter - audioBefore).toBeGreaterThan((HOLD_OFF_MS / 1000) * 5);
    expect(audio.packets).toBeGreaterThan(0);
    // No probe mistook the still-limited uplink for a recovered one.
    expect((await log(pub)).filter((e) => e.type === 'publisher:videoEnabled')).toEqual([]);

    // Lifted: a probe shows the uplink carries video, and it comes back by itself.
    ns.impair('up', {});
    const liftedAt = Date.now();
    const pl2 = await waitForLog(pub, (l) => l.some((e) => e.type === 'publisher:videoEnabled'), 'publisher videoEnabled', 90_000);
    const pubOnMs = (pl2.find((e) => e.type === 'publisher:videoEnabled')!['at'] as number) - liftedAt;
    expect(pl2.find((e) => e.type === 'publisher:videoEnabled')!['reason']).toBe('quality');
    await waitForLog(sub, (l) => l.some((e) => e.type === 'videoEnabled' && e['reason'] === 'quality'), 'subscriber videoEnabled (quality)', 30_000);
    const subOnMs = Date.now() - liftedAt;
    const n = await decoded(sub, key);
    await waitForStats(sub, (s) => (s[key]?.width ?? 0) > 0 && s[key]!.framesDecoded >= n + 10, 'subscriber decoding again (frames rising)', 60_000);
    const decodingMs = Date.now() - liftedAt;
    const events = (l: Logged[]) => l.filter((e) => /video/.test(e.type)).map((e) => `${e.type}${e['reason'] ? `(${String(e['reason'])})` : ''}`);
    console.log(
      `publisher fallback: lifted: publisher videoEnabled ${pubOnMs} ms, subscriber videoEnabled by ${subOnMs} ms, decoding by ${decodingMs} ms; publisher events ${JSON.stringify(events(await log(pub)))}; subscriber events ${JSON.stringify(events(await log(sub)))}`,
    );
    console.log(`PUBFB-FIGURES ${JSON.stringify({ kbps: PUBLISHER_UPLINK_KBPS, pubWarnMs, pubOffMs, subOffMs, holdOffMs: HOLD_OFF_MS, audioPacketsOff: audioAfter - audioBefore, audioGapUntilOffMs: audioUntilOff.longestPacketGapMs, audioGapWhileOffMs: audio.longestPacketGapMs, audioConcealedWhileOffMs: audio.concealedMs, pubOnMs, subOnMs, decodingMs })}`);
    expect((await log(sub)).filter((e) => e.type === 'videoDisabled').every((e) => e['reason'] === 'quality')).toBe(true);
    await pub.page.close();
  }, 330_000);
});
