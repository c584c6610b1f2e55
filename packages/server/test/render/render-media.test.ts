// Experience Composer with real parts end to end: the `opentok` SDK starts a render of a page served
// by a loopback HTTP server (a counter that changes every frame and a WebAudio tone); the server's
// own headless Chromium opens it at 640x480 and publishes it. A subscriber page in another Chromium
// must decode the render's stream at 640x480 (framesDecoded rising), see its name, and hear the
// page's tone; the status goes starting → started (callbacks in order). DELETE ends the stream
// (streamDestroyed at the subscriber) and the status is stopped; no Chromium is left running. A page
// whose renderer crashes, and a URL that does not load, end `failed` with a reason.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';
import { p, until } from '../sip/helpers.js';

const TONE_HZ = 660;

/** The app's page the render shows: a frame counter on a moving bar, and a tone. */
const APP_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>counter</title></head>
<body style="margin:0;background:#123;color:#fff;font:120px sans-serif;overflow:hidden">
<div id="bar" style="position:absolute;top:0;left:0;width:40px;height:100%;background:#f80"></div>
<div id="count" style="position:absolute;top:140px;left:80px">0</div>
<script>
let n = 0;
const tick = () => { n++; count.textContent = n; bar.style.left = (n * 7) % (innerWidth - 40) + 'px'; requestAnimationFrame(tick); };
requestAnimationFrame(tick);
const ctx = new AudioContext();
const osc = ctx.createOscillator();
osc.frequency.value = ${TONE_HZ};
const gain = ctx.createGain();
gain.gain.value = 0.5;
osc.connect(gain).connect(ctx.destination);
osc.start();
window.pageReady = true;
</script></body></html>`;

/** The subscriber: joins, subscribes to everything, reports what it decodes and hears. */
const subscriberPage = (server: string) => `<!doctype html><html><head><meta charset="utf-8">
<script src="${server}/v2/js/opentok.js"></script>
<script>
window.log = [];
window.subs = {};
window.join = (apiKey, sessionId, token) => new Promise((resolve) => {
  const session = OT.initSession(apiKey, sessionId);
  session.on('streamCreated', (e) => {
    log.push({ type: 'streamCreated', streamId: e.stream.streamId, name: e.stream.name, hasAudio: e.stream.hasAudio, hasVideo: e.stream.hasVideo, dims: e.stream.videoDimensions });
    const sub = session.subscribe(e.stream, document.body, { insertMode: 'append', width: 640, height: 480 });
    subs[e.stream.streamId] = sub;
    sub.on('videoElementCreated', (ev) => { sub.el = ev.element; });
  });
  session.on('streamDestroyed', (e) => log.push({ type: 'streamDestroyed', streamId: e.stream.streamId, reason: e.reason }));
  session.connect(token, (err) => resolve(err ? err.message : null));
});
window.videoStats = async (streamId) => {
  const sub = subs[streamId];
  if (!sub) return null;
  let report;
  try { report = await sub.getRtcStatsReport(); } catch (e) { return null; } // not connected yet
  let out = null;
  report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') out = { framesDecoded: s.framesDecoded || 0, width: s.frameWidth || 0, height: s.frameHeight || 0 }; });
  return out;
};
// The loudest frequency the subscriber plays (an AnalyserNode on its MediaStream).
window.loudest = (streamId) => {
  const sub = subs[streamId];
  const el = sub && sub.el;
  if (!el || !el.srcObject || el.srcObject.getAudioTracks().length === 0) return null;
  if (!sub.analyser) {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    try { ctx.createMediaStreamSource(el.srcObject).connect(analyser); } catch (e) { ctx.close(); return null; }
    sub.analyser = analyser;
    sub.rate = ctx.sampleRate;
  }
  const bins = new Float32Array(sub.analyser.frequencyBinCount);
  sub.analyser.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return { hz: (best * sub.rate) / sub.analyser.fftSize, db: bins[best] };
};
</script></head><body></body></html>`;

/** Render Chromiums this process started (its children with the render flag): none may outlive a render. */
function renderBrowsers(): number {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-f', '--', '--auto-accept-this-tab-capture']).toString().trim().split('\n').filter(Boolean).length;
  } catch {
    return 0; // pgrep exits 1 when nothing matches
  }
}

interface RenderJson {
  id: string;
  status: string;
  streamId?: string;
  reason?: string;
  resolution: string;
  sessionId: string;
  url: string;
}

describe('Experience Composer: a page rendered into a session', () => {
  let t: TestServer;
  let ot: OpenTok;
  let web: Server;
  let webUrl: string;
  let browser: TestBrowser;
  let tab: TestPage;
  let sessionId: string;
  const callbacks: Array<{ id: string; status: string; reason?: string; name?: string }> = [];

  beforeAll(async () => {
    t = await startTestServer();
    ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    web = createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/render-status') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          callbacks.push(JSON.parse(body) as (typeof callbacks)[number]);
          res.writeHead(200).end();
        });
        return;
      }
      if (req.url === '/subscriber') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(subscriberPage(t.url));
      if (req.url === '/app') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(APP_PAGE);
      // A page that forbids being framed, as many sites do.
      if (req.url === '/app-no-framing') {
        return void res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'x-frame-options': 'DENY', 'content-security-policy': "frame-ancestors 'none'; script-src 'unsafe-inline'" })
          .end(APP_PAGE);
      }
      res.writeHead(404).end('no such page');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    sessionId = (await p<{ sessionId: string }>((cb) => ot.createSession({ mediaMode: 'routed' }, cb))).sessionId;
    browser = await launchChromium();
    tab = await browser.newPage();
    await tab.page.goto(`${webUrl}/subscriber`);
    expect(await tab.page.evaluate(([k, s, tok]) => (window as any).join(k, s, tok), [t.apiKey, sessionId, ot.generateToken(sessionId, { role: 'subscriber' })])).toBeNull();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await new Promise((r) => web?.close(r));
  });

  it('publishes the page at the requested size with its audio; DELETE ends the stream', async () => {
    const before = renderBrowsers();
    const started = await p<RenderJson>((cb) =>
      ot.startRender(
        { sessionId, token: ot.generateToken(sessionId, { role: 'publisher' }), url: `${webUrl}/app`, resolution: '640x480', maxDuration: 120, statusCallbackUrl: `${webUrl}/render-status`, properties: { name: 'Composed view' } } as never,
        cb,
      ),
    );
    expect(started).toMatchObject({ status: 'starting', sessionId, url: `${webUrl}/app`, resolution: '640x480' });
    expect(started.id).toMatch(/^[0-9a-f]{32}$/);

    // opentok-node does not send properties.name: the name comes from a second render below. Here
    // the stream is named '' and the render reaches `started` with its stream id.
    const live = await until(async () => {
      const r = await p<RenderJson>((cb) => ot.getRender(started.id, cb));
      if (r.status === 'failed') throw new Error(`render failed: ${r.reason}`);
      return r.status === 'started' ? r : undefined;
    }, 'the render to start', 60_000);
    expect(live.streamId).toMatch(/.+/);

    const created = await until(async () => ((await tab.page.evaluate(() => (window as any).log)) as Array<{ type: string; streamId: string; name: string; hasAudio: boolean }>).find((e) => e.type === 'streamCreated' && e.streamId === live.streamId), 'streamCreated at the subscriber');
    expect(created.hasAudio).toBe(true);

    // Decoded at the requested size, frames rising.
    const first = await until(async () => {
      const s = (await tab.page.evaluate((id) => (window as any).videoStats(id), live.streamId)) as { framesDecoded: number; width: number; height: number } | null;
      return s && s.framesDecoded > 0 && s.width > 0 ? s : undefined;
    }, 'the first decoded frame', 30_000);
    const later = await until(async () => {
      const s = (await tab.page.evaluate((id) => (window as any).videoStats(id), live.streamId)) as { framesDecoded: number; width: number; height: number };
      return s.framesDecoded >= first.framesDecoded + 20 ? s : undefined;
    }, 'frames to keep coming', 30_000);
    expect({ width: later.width, height: later.height }).toEqual({ width: 640, height: 480 });

    // The page's own audio (its WebAudio tone) is in the stream.
    const heard = await until(async () => {
      const l = (await tab.page.evaluate((id) => (window as any).loudest(id), live.streamId)) as { hz: number; db: number } | null;
      return l && Math.abs(l.hz - TONE_HZ) < 15 && l.db > -70 ? l : undefined;
    }, `the page's ${TONE_HZ} Hz tone at the subscriber`, 20_000);
    expect(Math.abs(heard.hz - TONE_HZ)).toBeLessThan(15);
    expect(renderBrowsers()).toBeGreaterThan(before);

    // DELETE: the stream ends at the subscriber, the status is stopped, the browser is gone.
    const stopped = await p<RenderJson>((cb) => ot.stopRender(started.id, cb));
    expect(stopped).toMatchObject({ id: started.id, status: 'stopped', reason: 'Stop requested' });
    await until(async () => ((await tab.page.evaluate(() => (window as any).log)) as Array<{ type: string; streamId: string }>).some((e) => e.type === 'streamDestroyed' && e.streamId === live.streamId), 'streamDestroyed at the subscriber', 15_000);
    expect((await p<RenderJson>((cb) => ot.getRender(started.id, cb))).status).toBe('stopped');
    expect(renderBrowsers()).toBe(before);
    await until(() => callbacks.filter((c) => c.id === started.id).length >= 3, 'three status callbacks');
    expect(callbacks.filter((c) => c.id === started.id).map((c) => c.status)).toEqual(['starting', 'started', 'stopped']);
  }, 180_000);

  it('names the stream as asked (properties.name), renders a page that forbids framing, lists the renders', async () => {
    const res = await fetch(`${t.url}/v2/project/${t.apiKey}/render`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-opentok-auth': restJwt(t.apiKey, t.apiSecret) },
      body: JSON.stringify({ sessionId, token: ot.generateToken(sessionId, { role: 'publisher' }), url: `${webUrl}/app-no-framing`, resolution: '480x640', properties: { name: 'Composed view' } }),
    });
    expect(res.status).toBe(202);
    const render = (await res.json()) as RenderJson;
    const live = await until(async () => {
      const r = await p<RenderJson>((cb) => ot.getRender(render.id, cb));
      if (r.status === 'failed') throw new Error(`render failed: ${r.reason}`);
      return r.status === 'started' ? r : undefined;
    }, 'the render to start', 60_000);
    const created = await until(async () => ((await tab.page.evaluate(() => (window as any).log)) as Array<{ type: string; streamId: string; name: string }>).find((e) => e.type === 'streamCreated' && e.streamId === live.streamId), 'streamCreated');
    expect(created.name).toBe('Composed view');
    const portrait = await until(async () => {
      const s = (await tab.page.evaluate((id) => (window as any).videoStats(id), live.streamId)) as { framesDecoded: number; width: number; height: number } | null;
      return s && s.framesDecoded > 5 ? s : undefined;
    }, 'portrait frames', 30_000);
    expect({ width: portrait.width, height: portrait.height }).toEqual({ width: 480, height: 640 });
    const list = await p<{ count: number; items: RenderJson[] } | RenderJson[]>((cb) => ot.listRenders({ count: 10 } as never, cb as never));
    const items = Array.isArray(list) ? list : list.items;
    expect(items.map((r) => r.id)).toContain(render.id);
    await p((cb) => ot.stopRender(render.id, cb));
  }, 180_000);

  it('a page that crashes ends failed with a reason; its stream ends and its browser is closed', async () => {
    const before = renderBrowsers();
    const started = await p<RenderJson>((cb) => ot.startRender({ sessionId, token: ot.generateToken(sessionId), url: `${webUrl}/app`, resolution: '640x480' } as never, cb));
    const live = await until(async () => {
      const r = await p<RenderJson>((cb) => ot.getRender(started.id, cb));
      if (r.status === 'failed') throw new Error(`render failed: ${r.reason}`);
      return r.status === 'started' ? r : undefined;
    }, 'the render to start', 60_000);
    await until(async () => ((await tab.page.evaluate(() => (window as any).log)) as Array<{ type: string; streamId: string }>).some((e) => e.type === 'streamCreated' && e.streamId === live.streamId), 'streamCreated');
    // Chromium's renderer process of the page dies (as on an out-of-memory kill or a renderer bug).
    const page = t.server.renders.composer(started.id)!.page!;
    const cdp = await page.context().newCDPSession(page);
    void cdp.send('Page.crash').catch(() => {});
    const failed = await until(async () => {
      const r = await p<RenderJson>((cb) => ot.getRender(started.id, cb));
      return r.status === 'failed' ? r : undefined;
    }, 'the render to fail', 30_000);
    expect(failed.reason).toBe('The page crashed');
    await until(async () => ((await tab.page.evaluate(() => (window as any).log)) as Array<{ type: string; streamId: string }>).some((e) => e.type === 'streamDestroyed' && e.streamId === live.streamId), 'streamDestroyed at the subscriber', 15_000);
    await until(() => t.server.renders.running === 0, 'the render to be gone');
    expect(renderBrowsers()).toBe(before);
  }, 120_000);

  it('a page that does not load ends failed with a reason, and its browser is closed', async () => {
    const before = renderBrowsers();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const started = await p<RenderJson>((cb) => ot.startRender({ sessionId, token: ot.generateToken(sessionId), url: `http://127.0.0.1:${deadPort}/`, resolution: '640x480' } as never, cb));
    const failed = await until(async () => {
      const r = await p<RenderJson>((cb) => ot.getRender(started.id, cb));
      return r.status === 'failed' ? r : undefined;
    }, 'the render to fail', 60_000);
    expect(failed.reason).toMatch(/did not load: net::ERR_CONNECTION_REFUSED/);
    expect(failed.streamId).toBeUndefined();
    await until(() => t.server.renders.running === 0, 'the render to be gone');
    expect(renderBrowsers()).toBe(before);

    // An HTTP error page is not a page to render either.
    const notFound = await p<RenderJson>((cb) => ot.startRender({ sessionId, token: ot.generateToken(sessionId), url: `${webUrl}/missing` } as never, cb));
    const failed404 = await until(async () => {
      const r = await p<RenderJson>((cb) => ot.getRender(notFound.id, cb));
      return r.status === 'failed' ? r : undefined;
    }, 'the 404 render to fail', 60_000);
    expect(failed404.reason).toBe('The page did not load: HTTP 404');
  }, 120_000);

  it('a server that shuts down stops its running render and closes its Chromium', async () => {
    const other = await startTestServer();
    const before = renderBrowsers();
    const otx = new OpenTok(other.apiKey, other.apiSecret, other.url);
    const sid = (await p<{ sessionId: string }>((cb) => otx.createSession({ mediaMode: 'routed' }, cb))).sessionId;
    const started = await p<RenderJson>((cb) => otx.startRender({ sessionId: sid, token: otx.generateToken(sid), url: `${webUrl}/app`, resolution: '640x480' } as never, cb));
    await until(async () => (await other.server.renders.renders.get(other.apiKey, started.id))?.status === 'started', 'the render to start', 60_000);
    expect(renderBrowsers()).toBe(before + 1);
    const renders = other.server.renders.renders;
    const closing = other.server.close();
    // The status is written before the store closes.
    await until(async () => (await renders.get(other.apiKey, started.id))?.status === 'stopped', 'stopped at shutdown', 10_000);
    expect((await renders.get(other.apiKey, started.id))?.reason).toBe('The server stopped');
    await closing;
    expect(renderBrowsers()).toBe(before);
  }, 120_000);
});

function restJwt(apiKey: string, secret: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: apiKey, ist: 'project', iat: now, exp: now + 300 })}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}
