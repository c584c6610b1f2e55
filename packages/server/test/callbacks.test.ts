// Project callbacks over real HTTP: the sender's ordering, retries, timeouts, give-up and bounds
// against a receiver on loopback; then a real server POSTing session monitoring events (relayed
// session, protocol clients) and archive status events (archives recorded from the labelled test
// media source, the real `opentok` SDK starting and stopping them) in OpenTok's shapes.

import { Colloquy } from '@colloquy/sdk-node';
import { signJwt } from '@colloquy/tokens';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenTok from 'opentok';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebhookSender } from '../src/callbacks/webhook-sender.js';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { TestRtpSource } from './archiving/rtp-test-source.js';
import { TestSessions } from './archiving/test-sessions.js';
import { startTestServer, TEST_API_KEY, TEST_API_SECRET, tempDir, type TestServer } from './helpers.js';

interface Received {
  path: string;
  at: number;
  body: Record<string, any>;
  contentType: string | undefined;
}

/** An HTTP receiver that records every POST and answers what `respond` says (default 200). */
async function receiver(): Promise<{ url: string; received: Received[]; respond: (r: Received, res: ServerResponse) => void; close(): Promise<void> }> {
  const received: Received[] = [];
  const state = { respond: (_r: Received, res: ServerResponse) => void res.writeHead(200).end('ok') };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const r: Received = { path: req.url ?? '', at: Date.now(), body: text ? JSON.parse(text) : null, contentType: req.headers['content-type'] };
      received.push(r);
      state.respond(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    set respond(fn: (r: Received, res: ServerResponse) => void) {
      state.respond = fn;
    },
    get respond() {
      return state.respond;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function until(test: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const quiet = pino({ level: 'silent' });

/** A test server, a callback receiver and the protocol clients a describe block opens, all closed after it. */
function serverWithReceiver(): { t: TestServer; rx: Awaited<ReturnType<typeof receiver>>; clients: ProtocolClient[] } {
  const f = { clients: [] as ProtocolClient[] } as { t: TestServer; rx: Awaited<ReturnType<typeof receiver>>; clients: ProtocolClient[] };
  beforeAll(async () => {
    f.t = await startTestServer();
    f.rx = await receiver();
  });
  afterAll(async () => {
    await Promise.all(f.clients.map((c) => c.close()));
    await f.t.close();
    await f.rx.close();
  });
  return f;
}

describe('the callback sender', () => {
  let rx: Awaited<ReturnType<typeof receiver>>;
  let sender: WebhookSender | undefined;
  beforeAll(async () => {
    rx = await receiver();
  });
  afterEach(() => {
    sender?.close();
    rx.received.length = 0;
    rx.respond = (_r, res) => void res.writeHead(200).end();
  });
  afterAll(async () => rx.close());

  it('POSTs JSON in order per project, kind and URL, and retries a failing receiver until it answers 2xx', async () => {
    sender = new WebhookSender(quiet, { retryDelaysMs: [50, 50, 50], timeoutMs: 1000 });
    let failuresLeft = 2;
    rx.respond = (r, res) => {
      if (r.body.n === 1 && failuresLeft-- > 0) return void res.writeHead(503).end();
      res.writeHead(204).end();
    };
    for (let n = 1; n <= 5; n++) sender.send({ projectId: 'p1', kind: 'session', url: `${rx.url}/s`, body: { n } });
    await until(() => sender!.stats.delivered === 5, 'five deliveries');
    // n=1 three times (two 503s), then the rest in order: nothing overtook the failing one.
    expect(rx.received.map((r) => r.body.n)).toEqual([1, 1, 1, 2, 3, 4, 5]);
    expect(rx.received.every((r) => r.contentType === 'application/json')).toBe(true);
    expect(sender.stats).toEqual({ delivered: 5, failed: 0, dropped: 0, queued: 0 });
  });

  it('gives up after the last retry (error status, no answer in time, refused connection) and goes on', async () => {
    sender = new WebhookSender(quiet, { retryDelaysMs: [30], timeoutMs: 300 });
    rx.respond = (r, res) => {
      if (r.body.n === 2) return; // never answers
      if (r.body.n === 1) return void res.writeHead(500).end();
      res.writeHead(200).end();
    };
    sender.send({ projectId: 'p2', kind: 'archive', url: `${rx.url}/hook`, body: { n: 1 } });
    sender.send({ projectId: 'p2', kind: 'archive', url: `${rx.url}/hook`, body: { n: 2 } });
    sender.send({ projectId: 'p2', kind: 'archive', url: 'http://127.0.0.1:9/closed', body: { n: 3 } });
    sender.send({ projectId: 'p2', kind: 'archive', url: `${rx.url}/hook`, body: { n: 4 } });
    await until(() => sender!.stats.delivered === 1 && sender!.stats.queued === 0, 'the last delivery', 15_000);
    expect(sender.stats).toMatchObject({ delivered: 1, failed: 3, queued: 0 });
    // One receiver's queue keeps its order through the failures; the closed port is its own queue.
    expect(rx.received.map((r) => `${r.path}:${r.body.n}`)).toEqual(['/hook:1', '/hook:1', '/hook:2', '/hook:2', '/hook:4']);
  });

  it('keeps a bounded queue per project, kind and URL, and a slow receiver does not hold up another', async () => {
    sender = new WebhookSender(quiet, { retryDelaysMs: [], timeoutMs: 2000, maxQueued: 3 });
    rx.respond = (r, res) => {
      if (r.path === '/slow') return void setTimeout(() => res.writeHead(200).end(), 500);
      res.writeHead(200).end();
    };
    for (let n = 1; n <= 5; n++) sender.send({ projectId: 'slow', kind: 'session', url: `${rx.url}/slow`, body: { n } });
    expect(sender.stats).toMatchObject({ dropped: 2, queued: 3 });
    sender.send({ projectId: 'fast', kind: 'session', url: `${rx.url}/fast`, body: { n: 1 } });
    await until(() => rx.received.some((r) => r.path === '/fast'), 'the other project');
    expect(rx.received.filter((r) => r.path === '/slow').length).toBe(1); // still on its first
    sender.close();
    expect(sender.stats.queued).toBe(0);
  });
});

describe('session monitoring callbacks', () => {
  const f = serverWithReceiver();

  it('POSTs connectionCreated/Destroyed and streamCreated/Destroyed with reasons, in order, to the project URL', async () => {
    const { t, rx, clients } = f;
    await t.server.store.callbacks.set(t.apiKey, { session: `${rx.url}/monitor` });
    const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'relayed' });
    const alice = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'name=Alice' }));
    const bob = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'name=Bob', role: 'moderator' }));
    clients.push(alice, bob);
    const published = await alice.request({ type: 'publish', name: 'Alice cam', hasAudio: true, hasVideo: true, videoType: 'camera', videoDimensions: { width: 640, height: 480 } });
    const { streamId } = published['result'] as { streamId: string };
    await bob.request({ type: 'forceDisconnect', connectionId: alice.connectionId });
    await until(() => rx.received.length === 5, 'five callbacks');

    const events = rx.received.map((r) => r.body);
    expect(events.map((e) => e.event)).toEqual(['connectionCreated', 'connectionCreated', 'streamCreated', 'streamDestroyed', 'connectionDestroyed']);
    for (const e of events) {
      expect(e).toMatchObject({ sessionId, projectId: Number(t.apiKey) });
      expect(Math.abs(e.timestamp - Date.now())).toBeLessThan(10_000);
    }
    expect(events[0].connection).toEqual({ id: alice.connectionId, createdAt: expect.any(Number), data: 'name=Alice' });
    expect(events[2].stream).toEqual({
      id: streamId,
      connection: { id: alice.connectionId, createdAt: events[0].connection.createdAt, data: 'name=Alice' },
      createdAt: expect.any(Number),
      name: 'Alice cam',
      videoType: 'camera',
    });
    expect(events[3]).toMatchObject({ reason: 'forceDisconnected', stream: { id: streamId } });
    expect(events[4]).toMatchObject({ reason: 'forceDisconnected', connection: { id: alice.connectionId } });

    // Removing the URL stops them at once.
    await t.server.store.callbacks.set(t.apiKey, { session: null });
    const carol = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId));
    clients.push(carol);
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.received).toHaveLength(5);
  });
});

describe('archive status callbacks', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let media: TestRtpSource;
  let sessions: TestSessions;
  let rx: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    media = new TestRtpSource('none');
    sessions = new TestSessions();
    rx = await receiver();
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', COLLOQUY_RTC_PORT: '0', COLLOQUY_DATA_DIR: tempDir(), COLLOQUY_API_KEY: TEST_API_KEY, COLLOQUY_API_SECRET: TEST_API_SECRET });
    server = await startServer(config, { logger: quiet, archiving: { media, sessions } });
  });
  afterAll(async () => {
    await server.close();
    await media.close();
    await rx.close();
  });

  it('POSTs the archive JSON with event "archive" at started, stopped and available; the url downloads', async () => {
    await server.store.callbacks.set(TEST_API_KEY, { archive: `${rx.url}/archive` });
    const ot = new OpenTok(TEST_API_KEY, TEST_API_SECRET, server.url);
    const p = <T>(fn: (cb: (err: Error | null, value?: T) => void) => void) => new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));
    // A URL registered through opentok-node's registerCallback gets the same bodies.
    await p((cb) => (ot as any).registerCallback({ group: 'archive', event: 'status', url: `${rx.url}/registered` }, cb));
    const session = await p<OpenTok.Session>((cb) => ot.createSession({ mediaMode: 'routed' }, cb));
    sessions.setConnections(session.sessionId, 1);
    const stream = await media.addStream({ streamId: 'cb-stream', sessionId: session.sessionId, seconds: 10 });
    sessions.streamAdded(session.sessionId, stream);
    try {
      const archive = await p<OpenTok.Archive>((cb) => ot.startArchive(session.sessionId, { name: 'hooked', outputMode: 'individual' }, cb));
      await media.waitForMedia(stream.streamId, 1500);
      await p<OpenTok.Archive>((cb) => ot.stopArchive(archive.id, cb));
      expect((await server.archives.whenSettled(archive.id)).status).toBe('available');
      await until(() => rx.received.filter((r) => r.body.status === 'available').length === 2, 'the available callbacks');

      const registered = rx.received.filter((r) => r.path === '/registered').map((r) => r.body);
      const bodies = rx.received.filter((r) => r.path === '/archive').map((r) => r.body);
      expect(registered).toEqual(bodies);
      expect(bodies.map((b) => b.status)).toEqual(['started', 'stopped', 'available']);
      for (const b of bodies) expect(b).toMatchObject({ event: 'archive', id: archive.id, sessionId: session.sessionId, name: 'hooked', partnerId: Number(TEST_API_KEY), projectId: Number(TEST_API_KEY), outputMode: 'individual' });
      expect(bodies[0].url).toBeNull();
      const available = bodies[2];
      expect(available.size).toBeGreaterThan(0);
      expect(available.url).toMatch(new RegExp(`^${server.url}/`));
      const download = await fetch(available.url);
      expect(download.status).toBe(200);
      expect((await download.arrayBuffer()).byteLength).toBe(available.size);
    } finally {
      await media.removeStream(stream.streamId);
    }
  });
});

describe('the callback registration API, driven by the real opentok SDK', () => {
  const f = serverWithReceiver();
  // opentok-node's callback methods take a node-style callback and have no typings.
  const call = <T>(fn: (cb: (err: Error | null, value?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));

  it('registers, lists and unregisters; a registered URL receives its events and only those', async () => {
    const { t, rx, clients } = f;
    const ot: any = new OpenTok(t.apiKey, t.apiSecret, t.url);
    const created: any = await call((cb) => ot.registerCallback({ group: 'connection', event: 'created', url: `${rx.url}/conn-created` }, cb));
    expect(created).toMatchObject({ id: expect.any(String), group: 'connection', event: 'created', url: `${rx.url}/conn-created`, createdAt: expect.any(Number) });
    const streams: any = await call((cb) => ot.registerCallback({ group: 'stream', event: 'created', url: `${rx.url}/stream-created` }, cb));
    const archives: any = await call((cb) => ot.registerCallback({ group: 'archive', event: 'status', url: `${rx.url}/archive` }, cb));
    // The same registration again is the same one.
    const again: any = await call((cb) => ot.registerCallback({ group: 'connection', event: 'created', url: `${rx.url}/conn-created` }, cb));
    expect(again.id).toBe(created.id);

    const listed: any[] = await call((cb) => ot.listCallbacks(cb));
    expect(listed.map((c) => c.id).sort()).toEqual([created.id, streams.id, archives.id].sort());
    expect(listed.find((c) => c.id === streams.id)).toMatchObject({ group: 'stream', event: 'created', url: `${rx.url}/stream-created` });

    const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'relayed' });
    const alice = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'name=Alice' }));
    clients.push(alice);
    const published = await alice.request({ type: 'publish', name: 'Alice cam', hasAudio: true, hasVideo: true, videoType: 'camera', videoDimensions: { width: 640, height: 480 } });
    const { streamId } = published['result'] as { streamId: string };
    await until(() => rx.received.length === 2, 'two callbacks');
    const byPath = Object.fromEntries(rx.received.map((r) => [r.path, r.body]));
    expect(byPath['/conn-created']).toMatchObject({ sessionId, event: 'connectionCreated', projectId: Number(t.apiKey), connection: { id: alice.connectionId, data: 'name=Alice' } });
    expect(byPath['/stream-created']).toMatchObject({ sessionId, event: 'streamCreated', stream: { id: streamId, name: 'Alice cam' } });

    // Unregistered by id: no more deliveries there. (opentok-node's Callback#unregister calls a
    // function its module does not export, so apps use unregisterCallback.)
    await call((cb) => ot.unregisterCallback(created.id, cb));
    await call((cb) => ot.unregisterCallback(streams.id, cb));
    expect((await call<any[]>((cb) => ot.listCallbacks(cb))).map((c) => c.id)).toEqual([archives.id]);
    const bob = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'name=Bob' }));
    clients.push(bob);
    await bob.request({ type: 'publish', name: 'Bob cam', hasAudio: true, hasVideo: false, videoType: 'camera' });
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.received).toHaveLength(2);
  });

  it('refuses bad registrations with 400 and unknown ids with 404, as OpenTok errors the SDK reports', async () => {
    const { t, rx } = f;
    const ot: any = new OpenTok(t.apiKey, t.apiSecret, t.url);
    await expect(call((cb) => ot.registerCallback({ group: 'session', event: 'created', url: `${rx.url}/x` }, cb))).rejects.toThrow(/group must be one of connection, stream, archive/);
    await expect(call((cb) => ot.registerCallback({ group: 'archive', event: 'created', url: `${rx.url}/x` }, cb))).rejects.toThrow(/event of group archive must be one of status/);
    await expect(call((cb) => ot.registerCallback({ group: 'stream', event: 'destroyed', url: 'ftp://example.com/' }, cb))).rejects.toThrow(/http or https/);
    await expect(call((cb) => ot.registerCallback({ group: 'stream', event: 'destroyed' }, cb))).rejects.toThrow(/url is required/);
    await expect(call((cb) => ot.unregisterCallback('no-such-id', cb))).rejects.toThrow('Not Found');
    // The raw answers: statuses and OpenTok's error body; another project's key in the path is refused.
    const now = Math.floor(Date.now() / 1000);
    const auth = signJwt({ iss: t.apiKey, ist: 'project', iat: now, exp: now + 300 }, t.apiSecret);
    const bad = await fetch(`${t.url}/v2/project/${t.apiKey}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-opentok-auth': auth },
      body: JSON.stringify({ group: 'connection', event: 'gone', url: 'http://127.0.0.1:9/' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ code: 400, message: 'event of group connection must be one of created, destroyed' });
    const wrongProject = await fetch(`${t.url}/v2/project/00000000/callback`, { headers: { 'x-opentok-auth': auth } });
    expect(wrongProject.status).toBe(403);
  });
});
