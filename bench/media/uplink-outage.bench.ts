// A publisher's recovery after an outage of what it receives (issue 15: "the publisher's uplink").
//
// One Chromium inside a network namespace publishes the fake camera at 1280x720 through the real
// server, SFU and browser SDK (simulcast: 320, 640, 1280 px); one load-tool client subscribes to it
// and wants the top layer. Once the SFU receives the top layer, everything towards the publisher is
// dropped for OUTAGE_MS (4000) ms: our transport feedback, receiver reports and STUN answers never
// reach it, as on a Wi-Fi roam or a stalled home router. Chromium's estimator reads the missing
// feedback as a round trip over 3 s and cuts its estimate by a fifth each second (libwebrtc's
// "RTT backoff"); once feedback comes back it must climb again while sending little. Each second,
// from the outage's start for RECOVER_SECONDS (40), we print the publisher's own estimate and what
// it sends per layer, and what the SFU receives and asks for; per run, how long after the outage
// the SFU received the top layer again (held 3 s).
//
//   RUNS=3 OUTAGE_MS=4000 RECOVER_SECONDS=40 npm run media:uplink-outage -w @colloquy/bench   (root: namespaces)

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { chromiumInNamespace, createVethNamespace, type VethNamespace } from '@colloquy/testing/netem';
import { startSdkApp, type SdkApp } from '../lib/sdk-app.js';
import { envInt, median } from '../lib/stats.js';
import { LoadSubscribers } from './impairment-load-subscribers.js';
import { impairmentPage, publisherSeconds, type PubRow } from './impairment-page.js';

const RUNS = envInt('RUNS', 3);
const OUTAGE_MS = envInt('OUTAGE_MS', 4000);
const RECOVER_SECONDS = envInt('RECOVER_SECONDS', 40);
const WARMUP_SECONDS = envInt('WARMUP_SECONDS', 60);
/** The top layer counts as back once the SFU has received it for this long without a break. */
const HELD_MS = 3000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runOnce(run: number): Promise<number | null> {
  let ns: VethNamespace | undefined;
  let wrapper: { path: string; remove(): void } | undefined;
  let app: SdkApp | undefined;
  let browser: TestBrowser | undefined;
  let subscribers: LoadSubscribers | undefined;
  try {
    ns = createVethNamespace('outage');
    wrapper = chromiumInNamespace(ns);
    const host = ns.hostAddress;
    app = await startSdkApp(impairmentPage, { HOST: host, COLLOQUY_ANNOUNCED_IP: host, COLLOQUY_RTC_LISTEN_IP: host }, host);
    browser = await launchChromium({ executablePath: wrapper.path, args: [`--unsafely-treat-insecure-origin-as-secure=${new URL(app.url).origin},${new URL(app.t.url).origin}`] });
    const { sessionId } = await app.sdk.createSession({ mediaMode: 'routed' });
    const { page } = await browser.newPage();
    await page.goto(app.url);
    await page.evaluate(([k, s, t]) => (window as any).join(k, s, t), [app.t.apiKey, sessionId, app.sdk.generateToken(sessionId)] as const);
    const streamId = (await page.evaluate(() => (window as any).publish())) as string;
    await page.evaluate(() => (window as any).pubSample());
    subscribers = await LoadSubscribers.start({ kind: 'colloquy', url: app.t.url, apiKey: app.t.apiKey, apiSecret: app.t.apiSecret }, host);
    await subscribers.join(sessionId, 'viewer', [streamId]);
    const producer = () => app!.t.server.sessions.live(sessionId)?.streams.get(streamId)?.transport?.producers.find((p) => p.kind === 'video');
    const topFlowing = (): boolean => {
      const p = producer();
      return p !== undefined && p.layerCount > 1 && p.layerFlowing(p.layerCount - 1);
    };
    // Warm-up: the SFU receives the top layer, held 3 s.
    const warmupEnd = Date.now() + WARMUP_SECONDS * 1000;
    let heldSince: number | null = null;
    while (Date.now() < warmupEnd && (heldSince === null || Date.now() - heldSince < HELD_MS)) {
      heldSince = topFlowing() ? (heldSince ?? Date.now()) : null;
      await sleep(100);
    }
    if (heldSince === null || Date.now() - heldSince < HELD_MS) throw new Error(`run ${run}: the SFU never received the top layer for ${HELD_MS} ms in ${WARMUP_SECONDS} s`);
    await page.evaluate(() => (window as any).pubRows()); // drop the warm-up's rows
    const outageAt = Date.now();
    await ns.impairAsync('down', { lossPercent: 100 });
    await sleep(OUTAGE_MS);
    await ns.impairAsync('down', {});
    const liftedAt = Date.now();
    // Once a second: what the SFU receives per layer (kbps) and which layers it asks for.
    const sfu: { at: number; layers: string }[] = [];
    let back: number | null = null;
    heldSince = null;
    const end = liftedAt + RECOVER_SECONDS * 1000;
    while (Date.now() < end) {
      const p = producer();
      if (p) sfu.push({ at: Date.now(), layers: p.layers.map((l) => `${l.active ? '' : 'p'}${Math.round(l.bitrate / 1000)}`).join(',') });
      heldSince = topFlowing() ? (heldSince ?? Date.now()) : null;
      if (back === null && heldSince !== null && Date.now() - heldSince >= HELD_MS) back = heldSince - liftedAt;
      if (back !== null && Date.now() - liftedAt > back + 10_000) break; // ten seconds of it back are enough to see
      await sleep(1000);
    }
    const rows = (await page.evaluate(() => (window as any).pubRows())) as PubRow[];
    const s = (at: number): string => ((at - outageAt) / 1000).toFixed(0);
    const seconds = publisherSeconds(rows, s);
    console.log(`run ${run}: publisher's own view once a second (s from the outage's start: its estimate kbps / kbps it sent per layer q,h,f; p paused, b limited by bandwidth, c by CPU): ${seconds.join(' ')}`);
    console.log(`run ${run}: the SFU once a second (received kbps per layer q,h,f; p not asked for): ${sfu.map((x) => `${s(x.at)}:${x.layers}`).join(' ')}`);
    console.log(`run ${run}: top layer back at the SFU ${back === null ? `never (${RECOVER_SECONDS} s)` : `${(back / 1000).toFixed(1)} s after the outage`}`);
    return back;
  } finally {
    await subscribers?.close();
    await browser?.close();
    await app?.close();
    wrapper?.remove();
    ns?.remove();
  }
}

const backs: (number | null)[] = [];
for (let run = 1; run <= RUNS; run++) backs.push(await runOnce(run));
const got = backs.filter((b): b is number => b !== null);
console.log(`\nsummary: ${OUTAGE_MS} ms outage towards the publisher; top layer back at the SFU: ${backs.map((b) => (b === null ? 'never' : `${(b / 1000).toFixed(1)} s`)).join(', ')}${got.length ? ` (median ${(median(got) / 1000).toFixed(1)} s)` : ''}`);
