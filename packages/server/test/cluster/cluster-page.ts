// The app page of the cluster tests (a Chromium page running opentok.js from the node it connects
// to) and the waits they share: a page's event log, its subscribers' decode stats, and a condition
// wait that prints the pages' logs when it times out.

import type { TestPage } from '@colloquy/testing/browser';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Serves PAGE on loopback (Chromium cannot reach 127.0.0.1 from a page Playwright fulfils itself). */
export async function servePage(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/app.html` };
}

/** The app page: loads opentok.js from the node given in `?node=`, and connects there. */
export const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>cluster</title>
<script>
const node = new URLSearchParams(location.search).get('node');
document.write('<script src="' + node + '/v2/js/opentok.js"><\\/script>');
</script>
<script>
window.log = [];
window.subs = new Map();
const err = (e) => (e ? { code: e.code, name: e.name, message: e.message } : null);
window.join = (apiKey, sessionId, token) => new Promise((resolve) => {
  const session = OT.initSession(apiKey, sessionId, { serverUrl: node });
  window.session = session;
  session.on({
    streamCreated: (e) => {
      log.push({ type: 'streamCreated', streamId: e.stream.streamId, at: Date.now() });
      const sub = session.subscribe(e.stream, document.body, { insertMode: 'append', width: 160, height: 120 }, (x) => log.push({ type: 'subscribed', streamId: e.stream.streamId, error: err(x) }));
      sub.on('disconnected', () => log.push({ type: 'subscriberDisconnected', streamId: e.stream.streamId, at: Date.now() }));
      sub.on('connected', () => log.push({ type: 'subscriberConnected', streamId: e.stream.streamId, at: Date.now() }));
      window.subs.set(e.stream.streamId, sub);
    },
    streamDestroyed: (e) => { log.push({ type: 'streamDestroyed', streamId: e.stream.streamId, reason: e.reason, at: Date.now() }); window.subs.delete(e.stream.streamId); },
    signal: (e) => log.push({ type: 'signal', signalType: e.type, data: e.data, at: Date.now() }),
    sessionReconnecting: () => log.push({ type: 'sessionReconnecting', at: Date.now() }),
    sessionReconnected: () => log.push({ type: 'sessionReconnected', at: Date.now() }),
    sessionDisconnected: (e) => log.push({ type: 'sessionDisconnected', reason: e.reason, at: Date.now() }),
  });
  session.connect(token, (e) => resolve(e ? err(e) : { connectionId: session.connection.connectionId }));
});
window.publish = () => new Promise((resolve) => {
  const publisher = OT.initPublisher(document.body, { insertMode: 'append', width: 160, height: 120 });
  window.publisher = publisher;
  session.publish(publisher, (e) => resolve(e ? { error: err(e) } : { streamId: publisher.stream.streamId }));
});
window.subStats = async () => {
  const out = {};
  for (const [id, sub] of window.subs) {
    let report;
    try { report = await sub.getRtcStatsReport(); } catch (e) { continue; }
    report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') out[id] = { framesDecoded: s.framesDecoded || 0, width: s.frameWidth || 0 }; });
  }
  return out;
};
</script></head><body></body></html>`;

export interface LogEntry {
  type: string;
  streamId?: string;
  signalType?: string;
  data?: string;
  reason?: string;
  at?: number;
}

export const logOf = (p: TestPage): Promise<LogEntry[]> => p.page.evaluate(() => (window as unknown as { log: LogEntry[] }).log);
export const statsOf = (p: TestPage): Promise<Record<string, { framesDecoded: number; width: number }>> =>
  p.page.evaluate(() => (window as unknown as { subStats: () => Promise<Record<string, { framesDecoded: number; width: number }>> }).subStats());

export async function until<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs: number, page?: TestPage[]): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const logs = page ? await Promise.all(page.map((p) => logOf(p).catch(() => []))) : [];
      throw new Error(`timed out (${timeoutMs} ms) waiting for ${what}; page logs ${JSON.stringify(logs).slice(-1500)}; errors ${page?.flatMap((p) => p.errors).join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Resolves once `page` decodes `streamId` (width > 0) with framesDecoded rising by `frames`. */
export async function decoding(page: TestPage, streamId: string, frames: number, timeoutMs: number, pages: TestPage[]): Promise<void> {
  let first: number | null = null;
  await until(
    async () => {
      const s = (await statsOf(page))[streamId];
      if (!s || s.width === 0 || s.framesDecoded === 0) return false;
      first ??= s.framesDecoded;
      return s.framesDecoded >= first + frames;
    },
    `decoding of ${streamId}`,
    timeoutMs,
    pages,
  );
}
