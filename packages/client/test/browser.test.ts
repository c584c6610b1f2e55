// The browser SDK in real Chromium against a real Colloquy server, with tokens from the real
// `opentok` SDK: pages load /v2/js/opentok.js from the server (global OT), join one session, see
// each other come and go, exchange signals, get moderated, and survive a cut network.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { ProtocolClient } from '@colloquy/testing/protocol';

/** What the harness page records: every session event, in order. */
interface Logged {
  type: string;
  id?: string;
  data?: string;
  reason?: string;
  from?: string | null;
  n?: number;
  handler?: string;
}

interface JoinResult {
  connectionId?: string;
  capabilities?: Record<string, number>;
  code?: number;
  name?: string;
  message?: string;
}

/** The app's page: on its own origin, loading opentok.js from the Colloquy server (or the proxy). */
const harness = (server: string): string => `<!doctype html>
<html><head><meta charset="utf-8"><title>colloquy test</title>
<script src="${server}/v2/js/opentok.js"></script>
<script>
window.events = [];
window.exceptions = [];
OT.on('exception', (e) => exceptions.push({ code: e.code, title: e.title, message: e.message }));
const err = (e) => (e ? { code: e.code, name: e.name, message: e.message } : null);
window.join = (apiKey, sessionId, token, options) => new Promise((resolve) => {
  const session = OT.initSession(apiKey, sessionId, options || {});
  window.session = session;
  session.on({
    connectionCreated: (e) => events.push({ type: e.type, id: e.connection.connectionId, data: e.connection.data }),
    connectionDestroyed: (e) => events.push({ type: e.type, id: e.connection.connectionId, reason: e.reason }),
    sessionConnected: (e) => events.push({ type: e.type, n: e.connections.length }),
    sessionDisconnected: (e) => events.push({ type: e.type, reason: e.reason }),
    sessionReconnecting: (e) => events.push({ type: e.type }),
    sessionReconnected: (e) => events.push({ type: e.type }),
    signal: (e) => events.push({ type: e.type, data: e.data, from: e.from && e.from.connectionId, handler: 'signal' }),
  });
  session.on('signal:chat', function (e) {
    if (this !== window.chatContext) throw new Error('context argument not honoured');
    events.push({ type: e.type, data: e.data, from: e.from && e.from.connectionId, handler: 'signal:chat' });
  }, window.chatContext = {});
  session.connect(token, (e) => resolve(e ? err(e) : { connectionId: session.connection.connectionId, capabilities: { ...session.capabilities } }));
});
window.signal = (s) => new Promise((resolve) => {
  const to = s.to ? session.getConnection(s.to) || { connectionId: s.to } : undefined;
  session.signal({ type: s.type, data: s.data, to }, (e) => resolve(err(e)));
});
window.forceDisconnect = (id) => new Promise((resolve) => session.forceDisconnect(session.getConnection(id) || id, (e) => resolve(err(e))));
</script></head><body></body></html>`;

let t: TestServer;
let app: Server;
let appUrl: string;
let ot: OpenTok;
let browser: TestBrowser;
const pages: TestPage[] = [];

beforeAll(async () => {
  t = await startTestServer({ COLLOQUY_RESUME_GRACE_MS: '3000', COLLOQUY_HEARTBEAT_MS: '1000' });
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  // A stand-in for the app's own web server, on another origin than Colloquy's.
  app = createServer((request, response) => {
    const server = new URL(request.url ?? '/', 'http://app').searchParams.get('server') ?? '';
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(harness(server));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => app?.close(resolve));
  await t?.close();
});

function createSession(): Promise<string> {
  return new Promise((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
}

/** Opens the app page, which loads the SDK from `server` (Colloquy itself, or the proxy in front of it). */
async function openPage(server = t.url): Promise<TestPage> {
  const p = await browser.newPage();
  await p.page.goto(`${appUrl}/colloquy-test.html?server=${encodeURIComponent(server)}`);
  pages.push(p);
  return p;
}

async function join(p: TestPage, sessionId: string, token: string, options?: Record<string, unknown>): Promise<JoinResult> {
  return p.page.evaluate(([k, s, tk, o]) => (window as never as { join: Function }).join(k, s, tk, o), [t.apiKey, sessionId, token, options] as const);
}

async function joinAs(p: TestPage, sessionId: string, role: 'publisher' | 'moderator' | 'subscriber', data: string): Promise<string> {
  const result = await join(p, sessionId, ot.generateToken(sessionId, { role, data }));
  expect(result.connectionId, JSON.stringify(result)).toBeTruthy();
  return result.connectionId!;
}

const events = (p: TestPage): Promise<Logged[]> => p.page.evaluate(() => (window as never as { events: Logged[] }).events);

async function waitForEvents(p: TestPage, test: (events: Logged[]) => boolean, timeoutMs = 5000): Promise<Logged[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await events(p);
    if (test(list)) return list;
    if (Date.now() > deadline) throw new Error(`timed out; page events: ${JSON.stringify(list)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const signal = (p: TestPage, s: { type?: string; data?: string; to?: string }): Promise<{ code: number; name: string } | null> =>
  p.page.evaluate((x) => (window as never as { signal: Function }).signal(x), s);

function restSignal(sessionId: string, connectionId: string | null, payload: { type?: string; data: string }): Promise<Error | null> {
  return new Promise((resolve) => ot.signal(sessionId, connectionId, payload, (err) => resolve(err ?? null)));
}

describe('the script', () => {
  it('is served at /v2/js/opentok.js and .min.js and defines the OT global', async () => {
    for (const file of ['opentok.js', 'opentok.min.js']) {
      const response = await fetch(`${t.url}/v2/js/${file}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/javascript/);
      expect((await response.text()).length).toBeGreaterThan(5000);
    }
    const p = await openPage();
    const ot = await p.page.evaluate(() => {
      const OT = (window as never as { OT: Record<string, unknown> & { checkSystemRequirements(): number; ExceptionCodes: Record<string, number> } }).OT;
      return { requirements: OT.checkSystemRequirements(), codes: OT.ExceptionCodes, version: OT['version'], init: typeof OT['initSession'] };
    });
    expect(ot).toMatchObject({ requirements: 1, version: '0.1.0', init: 'function' });
    expect(ot.codes).toMatchObject({ AUTHENTICATION_ERROR: 1004, INVALID_SESSION_ID: 1005, CONNECT_FAILED: 1006, NOT_CONNECTED: 1010, INVALID_PARAMETER: 1011, UNABLE_TO_FORCE_DISCONNECT: 1520 });
    expect(p.errors).toEqual([]);
  });
});

describe('joining', () => {
  it('two pages: each sees itself and the other with the token data; capabilities follow the role', async () => {
    const sessionId = await createSession();
    const [a, b] = [await openPage(), await openPage()];
    const idA = await joinAs(a, sessionId, 'publisher', 'name=Ada');
    const joinB = await join(b, sessionId, ot.generateToken(sessionId, { role: 'moderator', data: 'name=Bob' }));
    const idB = joinB.connectionId!;
    expect(joinB.capabilities).toEqual({ publish: 1, subscribe: 1, forceDisconnect: 1, forceUnpublish: 1, forceMute: 1 });
    const eventsA = await waitForEvents(a, (l) => l.filter((e) => e.type === 'connectionCreated').length === 2);
    expect(eventsA.slice(0, 3)).toEqual([
      { type: 'connectionCreated', id: idA, data: 'name=Ada' },
      { type: 'sessionConnected', n: 1 },
      { type: 'connectionCreated', id: idB, data: 'name=Bob' },
    ]);
    expect(await events(b)).toEqual([
      { type: 'connectionCreated', id: idA, data: 'name=Ada' },
      { type: 'connectionCreated', id: idB, data: 'name=Bob' },
      { type: 'sessionConnected', n: 2 },
    ]);
    const capsA = await a.page.evaluate(() => (window as never as { session: { capabilities: Record<string, unknown> & { permittedTo(a: string): boolean } } }).session.capabilities.permittedTo('forceDisconnect'));
    expect(capsA).toBe(false);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('five pages: everyone sees everyone once with the right data; a leaver is seen leaving', async () => {
    const sessionId = await createSession();
    const five = await Promise.all(Array.from({ length: 5 }, () => openPage()));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await joinAs(five[i]!, sessionId, 'publisher', `user=${i}`));
    for (const p of five) {
      const list = await waitForEvents(p, (l) => l.filter((e) => e.type === 'connectionCreated').length === 5);
      const created = list.filter((e) => e.type === 'connectionCreated');
      expect(created.map((e) => e.id).sort()).toEqual([...ids].sort());
      for (const e of created) expect(e.data).toBe(`user=${ids.indexOf(e.id!)}`);
    }
    await five[2]!.page.evaluate(() => (window as never as { session: { disconnect(): void } }).session.disconnect());
    expect(await waitForEvents(five[2]!, (l) => l.some((e) => e.type === 'sessionDisconnected'))).toContainEqual({ type: 'sessionDisconnected', reason: 'clientDisconnected' });
    for (const i of [0, 1, 3, 4]) {
      const list = await waitForEvents(five[i]!, (l) => l.some((e) => e.type === 'connectionDestroyed'));
      expect(list.filter((e) => e.type === 'connectionDestroyed')).toEqual([{ type: 'connectionDestroyed', id: ids[2], reason: 'clientDisconnected' }]);
    }
    const listed = await t.server.sessions.listConnections(t.server.store.projects.get(t.apiKey)!, sessionId);
    expect(listed.map((c) => c.connectionId).sort()).toEqual([ids[0], ids[1], ids[3], ids[4]].sort());
  });
});

describe('protocol v2 connection events', () => {
  it('joins and leaves of one turn come batched and unbatch to one OpenTok event per connection, in order', async () => {
    const sessionId = await createSession();
    const p = await openPage();
    const own = await joinAs(p, sessionId, 'publisher', 'name=Watcher');
    // Ten connections join in one turn of the server's event loop (a class starting), with data.
    const record = (await t.server.sessions.find(sessionId))!;
    const claims = { kind: 'jwt', projectId: record.projectId, sessionId, role: 'publisher', expireTime: Math.floor(Date.now() / 1000) + 3600, initialLayoutClassList: [] };
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const { connection } = t.server.sessions.join(record, { ...claims, connectionData: `n=${i}` } as never, { userAgent: 'test', ip: '127.0.0.1', sdk: null });
      ids.push(connection.id);
    }
    const created = (await waitForEvents(p, (l) => l.filter((e) => e.type === 'connectionCreated').length === 11)).filter((e) => e.type === 'connectionCreated');
    expect(created).toEqual([{ type: 'connectionCreated', id: own, data: 'name=Watcher' }, ...ids.map((id, i) => ({ type: 'connectionCreated', id, data: `n=${i}` }))]);
    // They leave in one turn too, in another order.
    const session = t.server.sessions.live(sessionId)!;
    const leaving = [...ids].reverse();
    for (const id of leaving) session.getConnection(id)!.close('networkDisconnected');
    const destroyed = (await waitForEvents(p, (l) => l.filter((e) => e.type === 'connectionDestroyed').length === 10)).filter((e) => e.type === 'connectionDestroyed');
    expect(destroyed).toEqual(leaving.map((id) => ({ type: 'connectionDestroyed', id, reason: 'networkDisconnected' })));
  });
});

describe('connectionEventsSuppressed', () => {
  it('a large-session viewer hears of no other connection, yet its streams carry their connection data', async () => {
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'relayed' }, (e, s) => (e ? reject(e) : resolve(s!.sessionId))));
    const host = await ProtocolClient.join(t.url, sessionId, ot.generateToken(sessionId, { data: 'name=Host' }));
    await host.request({ type: 'publish', name: 'stage', hasAudio: true, hasVideo: true, videoType: 'camera', videoDimensions: { width: 640, height: 480 } });
    const p = await openPage();
    const seen = p.page.evaluate(
      async ([apiKey, sid, tk]) => {
        const OT = (window as any).OT;
        const session = OT.initSession(apiKey, sid, { connectionEventsSuppressed: true });
        const log: string[] = [];
        session.on('connectionCreated', (e: any) => log.push(`connectionCreated ${e.connection.data}`));
        session.on('connectionDestroyed', (e: any) => log.push(`connectionDestroyed ${e.connection.data}`));
        session.on('streamCreated', (e: any) => log.push(`streamCreated ${e.stream.name} by ${e.stream.connection.data}`));
        session.on('signal', (e: any) => log.push(`signal ${e.data}`));
        await new Promise<void>((resolve, reject) => session.connect(tk, (err: unknown) => (err ? reject(err) : resolve())));
        (window as any).suppressedLog = log;
        return log.slice();
      },
      [t.apiKey, sessionId, ot.generateToken(sessionId, { role: 'subscriber', data: 'name=Viewer' })] as const,
    );
    expect(await seen).toEqual(['connectionCreated name=Viewer', 'streamCreated stage by name=Host']);
    // Someone joins and leaves, then a signal: only the signal reaches the viewer.
    const passer = await ProtocolClient.join(t.url, sessionId, ot.generateToken(sessionId, { data: 'name=Passer' }));
    await passer.close();
    await host.request({ type: 'signal', signalType: 'news', data: 'hello all' });
    await expect.poll(() => p.page.evaluate(() => (window as any).suppressedLog.slice())).toEqual(['connectionCreated name=Viewer', 'streamCreated stage by name=Host', 'signal hello all']);
    await host.close();
  });
});

describe('signals', () => {
  it('to all and to one arrive once each, in order; signal:TYPE and signal handlers both run', async () => {
    const sessionId = await createSession();
    const three = await Promise.all([openPage(), openPage(), openPage()]);
    const ids: string[] = [];
    for (const [i, p] of three.entries()) ids.push(await joinAs(p, sessionId, 'publisher', `p${i}`));
    const results = await three[0]!.page.evaluate(async () => {
      const w = window as never as { signal: Function };
      const out = [];
      for (let i = 0; i < 10; i++) out.push(w.signal({ type: 'chat', data: `m${i}` }));
      return Promise.all(out);
    });
    expect(results).toEqual(Array(10).fill(null));
    expect(await signal(three[1]!, { type: 'dm', data: 'only for p2', to: ids[2] })).toBeNull();
    const expected = Array.from({ length: 10 }, (_, i) => `m${i}`);
    for (const p of three) {
      const list = await waitForEvents(p, (l) => l.filter((e) => e.handler === 'signal' && e.type === 'signal:chat').length === 10);
      const chats = list.filter((e) => e.type === 'signal:chat');
      expect(chats.filter((e) => e.handler === 'signal:chat').map((e) => e.data)).toEqual(expected);
      expect(chats.filter((e) => e.handler === 'signal').map((e) => e.data)).toEqual(expected);
      expect(chats.every((e) => e.from === ids[0])).toBe(true);
    }
    const dm = await waitForEvents(three[2]!, (l) => l.some((e) => e.type === 'signal:dm'));
    expect(dm.filter((e) => e.type === 'signal:dm')).toEqual([{ type: 'signal:dm', data: 'only for p2', from: ids[1], handler: 'signal' }]);
    await new Promise((r) => setTimeout(r, 100));
    for (const p of [three[0]!, three[1]!]) expect((await events(p)).some((e) => e.type === 'signal:dm')).toBe(false);
    for (const p of three) expect(p.errors).toEqual([]);
  });

  it('a REST signal (opentok SDK) reaches every page, from null', async () => {
    const sessionId = await createSession();
    const two = await Promise.all([openPage(), openPage()]);
    for (const p of two) await joinAs(p, sessionId, 'subscriber', 'viewer');
    expect(await restSignal(sessionId, null, { type: 'news', data: 'from the app server' })).toBeNull();
    for (const p of two) {
      const list = await waitForEvents(p, (l) => l.some((e) => e.type === 'signal:news'));
      expect(list.filter((e) => e.type === 'signal:news')).toEqual([{ type: 'signal:news', data: 'from the app server', from: null, handler: 'signal' }]);
    }
  });

  it('reports OpenTok errors: not connected (1010), bad type (400), too long (413), gone target (404)', async () => {
    const sessionId = await createSession();
    const p = await openPage();
    const early = await p.page.evaluate(async (s) => {
      const OT = (window as never as { OT: { initSession(k: string, s: string): { signal(o: object, cb: (e: unknown) => void): void } } }).OT;
      const session = OT.initSession('k', s);
      return new Promise((resolve) => session.signal({ data: 'x' }, (e) => resolve(e && { code: (e as { code: number }).code, name: (e as { name: string }).name })));
    }, sessionId);
    expect(early).toEqual({ code: 1010, name: 'OT_NOT_CONNECTED' });
    await joinAs(p, sessionId, 'publisher', 'x');
    expect(await signal(p, { type: 'no spaces', data: 'x' })).toMatchObject({ code: 400, name: 'OT_INVALID_PARAMETER' });
    expect(await signal(p, { type: 't'.repeat(129), data: 'x' })).toMatchObject({ code: 413, name: 'OT_INVALID_PARAMETER' });
    expect(await signal(p, { data: 'x'.repeat(8193) })).toMatchObject({ code: 413 });
    expect(await signal(p, { data: 'x', to: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ code: 404, name: 'OT_NOT_FOUND' });
  });
});

describe('moderation', () => {
  it('a moderator’s forceDisconnect removes a page; a publisher’s is refused with 1520', async () => {
    const sessionId = await createSession();
    const [mod, pub, other] = [await openPage(), await openPage(), await openPage()];
    const idMod = await joinAs(mod, sessionId, 'moderator', 'mod');
    const idPub = await joinAs(pub, sessionId, 'publisher', 'pub');
    const idOther = await joinAs(other, sessionId, 'publisher', 'other');
    expect(await pub.page.evaluate((id) => (window as never as { forceDisconnect: Function }).forceDisconnect(id), idMod)).toMatchObject({
      code: 1520,
      name: 'OT_PERMISSION_DENIED',
    });
    expect(await mod.page.evaluate((id) => (window as never as { forceDisconnect: Function }).forceDisconnect(id), idOther)).toBeNull();
    expect(await waitForEvents(other, (l) => l.some((e) => e.type === 'sessionDisconnected'))).toContainEqual({ type: 'sessionDisconnected', reason: 'forceDisconnected' });
    for (const p of [mod, pub]) {
      const list = await waitForEvents(p, (l) => l.some((e) => e.type === 'connectionDestroyed'));
      expect(list.filter((e) => e.type === 'connectionDestroyed')).toEqual([{ type: 'connectionDestroyed', id: idOther, reason: 'forceDisconnected' }]);
    }
    expect(t.server.sessions.live(sessionId)!.getConnection(idPub)).toBeDefined();
  });
});

describe('connect errors', () => {
  it('1004 for a bad or foreign token, 1005 for a bad session id, 1006 for an unreachable server; exceptions too', async () => {
    const sessionId = await createSession();
    const other = await createSession();
    const p = await openPage();
    expect(await join(p, sessionId, 'T1==garbage')).toMatchObject({ code: 1004, name: 'OT_AUTHENTICATION_ERROR' });
    expect(await join(p, sessionId, ot.generateToken(other))).toMatchObject({ code: 1004, name: 'OT_AUTHENTICATION_ERROR' });
    expect(await join(p, 'not-a-session', ot.generateToken(sessionId))).toMatchObject({ code: 1005, name: 'OT_INVALID_SESSION_ID' });
    expect(await join(p, sessionId, ot.generateToken(sessionId), { serverUrl: 'http://127.0.0.1:9' })).toMatchObject({ code: 1006, name: 'OT_CONNECT_FAILED' });
    const exceptions = await p.page.evaluate(() => (window as never as { exceptions: Array<{ code: number }> }).exceptions.map((e) => e.code));
    expect(exceptions).toEqual([1004, 1004, 1005, 1006]);
    // disconnect() while connecting settles the connect with an error instead of leaving it hanging.
    const aborted = await p.page.evaluate(
      ([k, s, tk]) =>
        new Promise((resolve) => {
          const OT = (window as never as { OT: { initSession(k: string, s: string): { connect(t: string, cb: (e?: { code: number }) => void): void; disconnect(): void } } }).OT;
          const session = OT.initSession(k!, s!);
          session.connect(tk!, (e) => resolve(e ? e.code : 'connected'));
          session.disconnect();
        }),
      [t.apiKey, sessionId, ot.generateToken(sessionId)],
    );
    expect(aborted).toBe(1006);
  });
});

describe('a cut network', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy(t.url);
  });
  afterAll(async () => proxy.close());

  it('OT.setProxyUrl: later sessions of a page served by the server itself go through the proxy', async () => {
    const sessionId = await createSession();
    const p = await openPage();
    const refused = await p.page.evaluate(() => {
      try {
        (window as any).OT.setProxyUrl('not a url');
        return null;
      } catch (e) {
        return { code: (e as { code: number }).code, name: (e as Error).name };
      }
    });
    expect(refused).toEqual({ code: 1011, name: 'OT_INVALID_PARAMETER' });
    await p.page.evaluate((url) => (window as any).OT.setProxyUrl(url), proxy.url);
    await joinAs(p, sessionId, 'publisher', 'proxied');
    // Cutting the proxy's connections is felt by the page: its WebSocket went through it.
    proxy.cut();
    await waitForEvents(p, (l) => l.some((e) => e.type === 'sessionReconnecting'));
    await waitForEvents(p, (l) => l.some((e) => e.type === 'sessionReconnected'), 15_000);
  });

  it('resumes with the same connection id and gets the signals sent while it was away, once', async () => {
    const sessionId = await createSession();
    const away = await openPage(proxy.url); // script and WebSocket both go through the proxy
    const stay = await openPage();
    const idAway = await joinAs(away, sessionId, 'publisher', 'away');
    const idStay = await joinAs(stay, sessionId, 'publisher', 'stay');
    await waitForEvents(away, (l) => l.some((e) => e.type === 'connectionCreated' && e.id === idStay));

    proxy.setBlocked(true);
    proxy.cut();
    await waitForEvents(away, (l) => l.some((e) => e.type === 'sessionReconnecting'));
    for (let i = 0; i < 3; i++) expect(await signal(stay, { type: 'chat', data: `missed-${i}`, to: idAway })).toBeNull();
    // Sent by the cut page while reconnecting: queued, delivered after the resume (retryAfterReconnect).
    const queued = away.page.evaluate(() => (window as never as { signal: Function }).signal({ type: 'chat', data: 'queued', to: undefined }));
    await new Promise((r) => setTimeout(r, 300));
    proxy.setBlocked(false);

    const list = await waitForEvents(away, (l) => l.some((e) => e.type === 'sessionReconnected'));
    expect(await queued).toBeNull();
    const after = await waitForEvents(away, (l) => l.filter((e) => e.type === 'signal:chat' && e.handler === 'signal').length === 4);
    expect(after.filter((e) => e.type === 'signal:chat' && e.handler === 'signal:chat').map((e) => e.data)).toEqual(['missed-0', 'missed-1', 'missed-2', 'queued']);
    expect(list.filter((e) => e.type === 'sessionDisconnected')).toEqual([]);
    expect(await away.page.evaluate(() => (window as never as { session: { connection: { connectionId: string } } }).session.connection.connectionId)).toBe(idAway);
    const stayEvents = await waitForEvents(stay, (l) => l.some((e) => e.data === 'queued'));
    expect(stayEvents.filter((e) => e.type === 'connectionDestroyed')).toEqual([]);
    expect(stayEvents.filter((e) => e.data === 'queued' && e.handler === 'signal')).toHaveLength(1);
  });

  it('notices a silent network by heartbeat, and resumes', async () => {
    const sessionId = await createSession();
    const away = await openPage(proxy.url);
    const stay = await openPage();
    const idAway = await joinAs(away, sessionId, 'publisher', 'away');
    await joinAs(stay, sessionId, 'publisher', 'stay');
    // Nothing closes: the page only learns from missing heartbeats (1 s interval, 3 s timeout here).
    proxy.freeze();
    const started = Date.now();
    expect(await signal(stay, { type: 'chat', data: 'during-silence', to: idAway })).toBeNull();
    await waitForEvents(away, (l) => l.some((e) => e.type === 'sessionReconnecting'), 8000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    const list = await waitForEvents(away, (l) => l.some((e) => e.type === 'sessionReconnected') && l.some((e) => e.data === 'during-silence'), 8000);
    expect(list.filter((e) => e.data === 'during-silence' && e.handler === 'signal')).toHaveLength(1);
    expect(list.filter((e) => e.type === 'sessionDisconnected')).toEqual([]);
    expect((await events(stay)).filter((e) => e.type === 'connectionDestroyed')).toEqual([]);
    // Frozen sockets include idle HTTP keep-alive ones Chromium would reuse for the next page.
    await away.page.close();
    proxy.cut();
  });

  it('ends with sessionDisconnected networkDisconnected when it cannot come back within the grace period', async () => {
    const sessionId = await createSession();
    const away = await openPage(proxy.url);
    const stay = await openPage();
    const idAway = await joinAs(away, sessionId, 'publisher', 'away');
    await joinAs(stay, sessionId, 'publisher', 'stay');
    proxy.setBlocked(true);
    proxy.cut();
    try {
      const list = await waitForEvents(away, (l) => l.some((e) => e.type === 'sessionDisconnected'), 8000);
      expect(list.filter((e) => e.type.startsWith('session'))).toEqual([
        { type: 'sessionConnected', n: 1 },
        { type: 'sessionReconnecting' },
        { type: 'sessionDisconnected', reason: 'networkDisconnected' },
      ]);
      const seen = await waitForEvents(stay, (l) => l.some((e) => e.type === 'connectionDestroyed'), 8000);
      expect(seen.filter((e) => e.type === 'connectionDestroyed')).toEqual([{ type: 'connectionDestroyed', id: idAway, reason: 'networkDisconnected' }]);
    } finally {
      proxy.setBlocked(false);
    }
  });
});
