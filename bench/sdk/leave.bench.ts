// Through the real browser SDK and server: time from a tab closing (Playwright page.close()) to
// `connectionDestroyed` and `streamDestroyed` at another participant, median of LEAVES closes, for
// a routed and a relayed session. The closing tab publishes and the watcher subscribes to it, so
// the leave also ends a live subscription. The server keeps its default 20 s resume grace period:
// a figure near 20 000 ms would mean the tab's leave was taken for a network drop.
//   LEAVES=10 npm run sdk:leave -w @colloquy/bench
//
// One Chromium (fake camera), loopback. Both timestamps are Date.now() on the same machine (the
// watcher page logs its events with Date.now(); the close time is taken in Node).

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { startSdkApp } from '../lib/sdk-app.js';
import { envInt, median, table } from '../lib/stats.js';

const LEAVES = envInt('LEAVES', 10);

const page = (server: string) => `<!doctype html><html><head><meta charset="utf-8"><script src="${server}/v2/js/opentok.js"></script><script>
window.left = [];
window.watch = (apiKey, sessionId, token) => new Promise((resolve, reject) => {
  const session = OT.initSession(apiKey, sessionId, { statsReportIntervalMs: 0 });
  session.on('streamCreated', (e) => session.subscribe(e.stream, document.body, { insertMode: 'append', width: 80, height: 60 }));
  session.on('connectionDestroyed', (e) => left.push({ type: 'connection', id: e.connection.connectionId, reason: e.reason, at: Date.now() }));
  session.on('streamDestroyed', (e) => left.push({ type: 'stream', id: e.stream.connection.connectionId, reason: e.reason, at: Date.now() }));
  session.connect(token, (e) => (e ? reject(e.message) : resolve()));
});
window.publish = (apiKey, sessionId, token) => new Promise((resolve, reject) => {
  const session = OT.initSession(apiKey, sessionId, { statsReportIntervalMs: 0 });
  session.connect(token, (e) => {
    if (e) return reject(e.message);
    const publisher = OT.initPublisher(document.body, { insertMode: 'append', resolution: '320x240', width: 80, height: 60 });
    session.publish(publisher, (err) => (err ? reject(err.message) : resolve(session.connection.connectionId)));
  });
});
</script></head><body></body></html>`;

interface Leave {
  connectionMs: number;
  streamMs: number;
  reason: string;
}

async function run(browser: TestBrowser, mediaMode: 'routed' | 'relayed'): Promise<Leave[]> {
  const { t, sdk, url, close } = await startSdkApp(page, { COLLOQUY_RESUME_GRACE_MS: '20000' });
  try {
    const { sessionId } = await sdk.createSession({ mediaMode });
    const watcher = await browser.newPage();
    await watcher.page.goto(url);
    await watcher.page.evaluate(([k, s, tk]) => (window as any).watch(k, s, tk), [t.apiKey, sessionId, sdk.generateToken(sessionId)] as const);
    const leaves: Leave[] = [];
    for (let i = 0; i < LEAVES; i++) {
      const tab = await browser.newPage();
      await tab.page.goto(url);
      const connectionId = (await tab.page.evaluate(([k, s, tk]) => (window as any).publish(k, s, tk), [t.apiKey, sessionId, sdk.generateToken(sessionId)] as const)) as string;
      // Let the watcher's subscription connect before the tab goes.
      await new Promise((r) => setTimeout(r, 1000));
      const closedAt = Date.now();
      await tab.page.close();
      const deadline = Date.now() + 30_000;
      let seen: Array<{ type: string; id: string; reason: string; at: number }> = [];
      while (Date.now() < deadline) {
        seen = ((await watcher.page.evaluate(() => (window as any).left)) as typeof seen).filter((e) => e.id === connectionId);
        if (seen.some((e) => e.type === 'connection') && seen.some((e) => e.type === 'stream')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const connection = seen.find((e) => e.type === 'connection');
      const stream = seen.find((e) => e.type === 'stream');
      leaves.push({ connectionMs: connection ? connection.at - closedAt : NaN, streamMs: stream ? stream.at - closedAt : NaN, reason: connection?.reason ?? 'not seen in 30 s' });
    }
    await watcher.page.close();
    return leaves;
  } finally {
    await close();
  }
}

const rows: (string | number)[][] = [['session', 'closes', 'connectionDestroyed median ms', 'min', 'max', 'streamDestroyed median ms', 'reasons']];
for (const mediaMode of ['routed', 'relayed'] as const) {
  const browser = await launchChromium();
  try {
    const leaves = await run(browser, mediaMode);
    const c = leaves.map((l) => l.connectionMs);
    rows.push([
      mediaMode,
      leaves.length,
      Math.round(median(c)),
      Math.round(Math.min(...c)),
      Math.round(Math.max(...c)),
      Math.round(median(leaves.map((l) => l.streamMs))),
      [...new Set(leaves.map((l) => l.reason))].join(','),
    ]);
  } finally {
    await browser.close();
  }
}
console.log('tab close → connectionDestroyed / streamDestroyed at another participant (server resume grace 20 s)');
console.log(table(rows));
