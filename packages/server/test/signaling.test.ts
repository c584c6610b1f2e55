// The signaling WebSocket with raw `ws` clients and tokens from the real opentok and @vonage/video
// SDKs: joining, connection events, signals (client and REST), ordering, the rate limit,
// moderation, resume after a dropped socket, grace expiry and heartbeats.

import { CloseCodes, PROTOCOL_VERSION } from '@colloquy/protocol';
import { signJwt } from '@colloquy/tokens';
import { Video } from '@vonage/video';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModerationAction, SignalSent } from '../src/sessions/session-manager.js';
import { startTestServer, type TestServer } from './helpers.js';
import { until } from '@colloquy/testing/wait';
import { sleep, WsClient } from './ws-client.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let t: TestServer;
let ot: OpenTok;
const clients: WsClient[] = [];

beforeAll(async () => {
  // Short grace and heartbeat so expiry and silence are tested in well under a second or two.
  t = await startTestServer({ COLLOQUY_RESUME_GRACE_MS: '1500', COLLOQUY_HEARTBEAT_MS: '300', COLLOQUY_SIGNAL_BURST: '30', COLLOQUY_SIGNAL_RATE: '10' });
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => {
  for (const c of clients) c.kill();
  await t.close();
});

function createSession(): Promise<string> {
  return new Promise((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
}

function token(sessionId: string, role: 'publisher' | 'subscriber' | 'moderator' | 'publisheronly' = 'publisher', data?: string): string {
  return ot.generateToken(sessionId, { role, ...(data !== undefined ? { data } : {}) });
}

/** An HS256 token, signed correctly, that expired an hour ago (the SDKs refuse to make one). */
function expiredToken(sessionId: string): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: t.apiKey, ist: 'project', iat: now - 7200, exp: now - 3600, session_id: sessionId, role: 'publisher', scope: 'session.connect' };
  return signJwt(claims, t.apiSecret, 'HS256');
}

async function join(sessionId: string, role: Parameters<typeof token>[1] = 'publisher', data?: string): Promise<WsClient> {
  const c = await WsClient.join(t.url, sessionId, token(sessionId, role, data));
  clients.push(c);
  return c;
}

async function open(): Promise<WsClient> {
  const c = await WsClient.open(t.url);
  clients.push(c);
  return c;
}

function restSignal(sessionId: string, connectionId: string | null, payload: { type?: string; data: string }): Promise<Error | null> {
  return new Promise((resolve) => ot.signal(sessionId, connectionId, payload, (err) => resolve(err ?? null)));
}

describe('joining', () => {
  it('gives the joiner a snapshot and everyone else connectionCreated with the token data', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId, 'publisher', 'name=Ada');
    const result = a.connectResult!;
    expect(result.connection.connectionId).toMatch(UUID);
    expect(Math.abs(result.connection.creationTime - Date.now())).toBeLessThan(5000);
    expect(result.connection.data).toBe('name=Ada');
    expect(result.connections).toEqual([]);
    expect(result.streams).toEqual([]);
    expect(result.capabilities).toEqual({ publish: 1, subscribe: 1, forceDisconnect: 0, forceUnpublish: 0, forceMute: 0 });
    expect(result.session).toEqual({ sessionId, mediaMode: 'routed', e2ee: false });
    expect(result.resumeSecret.length).toBeGreaterThanOrEqual(32);

    const b = await join(sessionId, 'moderator', 'name=Bob');
    expect(b.connectResult!.connections).toEqual([result.connection]);
    expect(b.connectResult!.capabilities).toEqual({ publish: 1, subscribe: 1, forceDisconnect: 1, forceUnpublish: 1, forceMute: 1 });
    const created = await a.waitFor((m) => m.type === 'connectionCreated');
    expect(created['connection']).toEqual(b.connectResult!.connection);
    expect(created['seq']).toBe(1);
    expect(b.connectionId).not.toBe(a.connectionId);

    const sub = await join(sessionId, 'subscriber');
    expect(sub.connectResult!.capabilities).toEqual({ publish: 0, subscribe: 1, forceDisconnect: 0, forceUnpublish: 0, forceMute: 0 });
    expect(sub.connectResult!.connections.map((c) => c.connectionId)).toEqual([a.connectionId, b.connectionId]);
  });

  it('accepts all three token kinds: T1, HS256 JWT and RS256 application JWT', async () => {
    const sessionId = await createSession();
    const t1 = ot.generateToken(sessionId, { role: 'publisher', data: 'kind=t1' }, true);
    expect(t1.startsWith('T1==')).toBe(true);
    const c1 = await WsClient.join(t.url, sessionId, t1);
    clients.push(c1);
    expect(c1.connectResult!.connection.data).toBe('kind=t1');

    const video = new Video({ applicationId: t.applicationId, privateKey: t.privateKey }, { videoHost: t.url });
    const appSession = await video.createSession({});
    const appToken = video.generateClientToken(appSession.sessionId, { role: 'moderator', data: 'kind=app' } as never);
    const c2 = await WsClient.join(t.url, appSession.sessionId, appToken);
    clients.push(c2);
    expect(c2.connectResult!.connection.data).toBe('kind=app');
    expect(c2.connectResult!.capabilities.forceDisconnect).toBe(1);
  });

  it('refuses bad tokens with 1004 and bad session ids with 1005, then closes the socket', async () => {
    const sessionId = await createSession();
    const other = await createSession();
    const cases: Array<{ sessionId: string; token: string; apiKey?: string; code: number }> = [
      { sessionId, token: 'not-a-token', code: 1004 },
      { sessionId, token: token(other), code: 1004 }, // a token for another session
      { sessionId, token: new OpenTok(t.apiKey, 'x'.repeat(40), t.url).generateToken(sessionId), code: 1004 }, // wrong secret
      { sessionId, token: expiredToken(sessionId), code: 1004 },
      { sessionId, token: token(sessionId), apiKey: '12345', code: 1004 },
      { sessionId: 'garbage', token: token(sessionId), code: 1005 },
      { sessionId: '1_MX40NzAwMDAwMX5-MTcwMDAwMDAwMDAwMH5ub3RoZXJlfn4', token: token(sessionId), code: 1005 }, // well formed, unknown
    ];
    for (const c of cases) {
      const client = await open();
      const reply = await client.request({ type: 'connect', version: PROTOCOL_VERSION, sessionId: c.sessionId, token: c.token, ...(c.apiKey ? { apiKey: c.apiKey } : {}) });
      expect(reply, JSON.stringify(c)).toMatchObject({ type: 'error', code: c.code, name: c.code === 1004 ? 'OT_AUTHENTICATION_ERROR' : 'OT_INVALID_SESSION_ID' });
      expect((await client.waitClosed()).code).toBe(CloseCodes.AUTH_FAILED);
    }
    expect(t.server.sessions.live(sessionId)).toBeUndefined();
  });

  it('tells the others connectionDestroyed clientDisconnected when a client leaves', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    const b = await join(sessionId);
    const reply = await b.request({ type: 'disconnect' });
    expect(reply).toMatchObject({ type: 'response', result: {} });
    expect((await b.waitClosed()).code).toBe(CloseCodes.NORMAL);
    const destroyed = await a.waitFor((m) => m.type === 'connectionDestroyed');
    expect(destroyed).toMatchObject({ connectionId: b.connectionId, reason: 'clientDisconnected' });
    // Closing the socket without a word is a network drop, not a leave: it waits for a resume first.
    a.close();
    // Waits for the server to see the socket close (a fixed 50 ms failed once on a loaded machine).
    await until(() => (t.server.sessions.live(sessionId)?.getConnection(a.connectionId)?.away ? true : undefined), 'the connection marked away', 10_000);
  });

  it('a client closing its socket with 1001 (a tab closed or reloaded) or 1000 leaves at once: clientDisconnected, no grace period', async () => {
    const sessionId = await createSession();
    const watcher = await join(sessionId);
    for (const code of [1001, 1000]) {
      const leaver = await join(sessionId);
      leaver.ws.close(code);
      const destroyed = await watcher.waitFor((m) => m.type === 'connectionDestroyed' && m['connectionId'] === leaver.connectionId);
      // A grace period running out would say networkDisconnected: this one never waited for a resume.
      expect(destroyed, `close code ${code}`).toMatchObject({ reason: 'clientDisconnected' });
      expect(t.server.sessions.live(sessionId)?.getConnection(leaver.connectionId)).toBeUndefined();
    }
  });
});

describe('connectionEventsSuppressed', () => {
  it('a suppressing client gets no connection list and no connection events, while streams still name their connection', async () => {
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'relayed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
    const host = await join(sessionId, 'publisher', 'name=Host');
    const published = await host.request({ type: 'publish', name: 'stage', hasAudio: true, hasVideo: true, videoType: 'camera', videoDimensions: { width: 640, height: 480 } });
    const streamId = (published['result'] as { streamId: string }).streamId;

    const viewer = await WsClient.open(t.url);
    clients.push(viewer);
    const reply = await viewer.request({ type: 'connect', version: PROTOCOL_VERSION, sessionId, token: token(sessionId, 'subscriber', 'name=Viewer'), connectionEventsSuppressed: true });
    const result = reply['result'] as { connection: { connectionId: string }; connections: unknown[]; streams: Array<Record<string, unknown>> };
    expect(result.connections).toEqual([]);
    expect(result.streams).toEqual([expect.objectContaining({ streamId, connection: host.connectResult!.connection })]);

    // Others still see the viewer come and go; the viewer sees nobody, but signals and streams reach it.
    await host.waitFor((m) => m.type === 'connectionCreated' && (m['connection'] as { connectionId: string }).connectionId === result.connection.connectionId);
    const other = await join(sessionId, 'publisher', 'name=Other');
    other.close();
    await host.waitFor((m) => m.type === 'connectionDestroyed' && m['connectionId'] === other.connectionId);
    expect(await host.request({ type: 'signal', signalType: 'hello', data: 'all' })).toMatchObject({ type: 'response' });
    await viewer.waitFor((m) => m.type === 'signal' && m['data'] === 'all');
    expect(viewer.of('connectionCreated')).toEqual([]);
    expect(viewer.of('connectionDestroyed')).toEqual([]);
  });
});

describe('signals', () => {
  it('reaches everyone (the sender too) or one connection, once each, in order', async () => {
    const sessionId = await createSession();
    const [a, b, c] = [await join(sessionId), await join(sessionId), await join(sessionId)];
    for (let i = 0; i < 20; i++) {
      const reply = await a.request({ type: 'signal', signalType: 'chat', data: `m${i}` });
      expect(reply.type).toBe('response');
    }
    expect(await b.request({ type: 'signal', to: c.connectionId, signalType: 'dm', data: 'psst' })).toMatchObject({ type: 'response' });
    expect(await b.request({ type: 'signal', data: 'untyped' })).toMatchObject({ type: 'response' });
    for (const client of [a, b, c]) {
      await client.waitFor((m) => m.type === 'signal' && m['data'] === 'untyped');
      const chats = client.of('signal').filter((m) => m['signalType'] === 'chat');
      expect(chats.map((m) => m['data'])).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      expect(chats.every((m) => m['from'] === a.connectionId)).toBe(true);
      const untyped = client.of('signal').find((m) => m['data'] === 'untyped')!;
      expect(untyped['signalType']).toBeUndefined();
      expect(untyped['from']).toBe(b.connectionId);
    }
    await sleep(50);
    expect(c.of('signal').filter((m) => m['signalType'] === 'dm')).toHaveLength(1);
    expect(a.of('signal').filter((m) => m['signalType'] === 'dm')).toHaveLength(0);
    expect(b.of('signal').filter((m) => m['signalType'] === 'dm')).toHaveLength(0);
    // Sequence numbers on each client are gapless and increasing.
    for (const client of [a, b, c]) {
      const seqs = client.received.filter((m) => typeof m.seq === 'number').map((m) => m.seq!);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    }
  });

  it('answers bad signals with OpenTok’s codes: 400 bad type, 413 too long, 404 unknown target', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    expect(await a.request({ type: 'signal', signalType: 'bad type!', data: 'x' })).toMatchObject({ type: 'error', code: 400, name: 'OT_INVALID_PARAMETER' });
    expect(await a.request({ type: 'signal', signalType: 't'.repeat(129), data: 'x' })).toMatchObject({ type: 'error', code: 413 });
    expect(await a.request({ type: 'signal', data: 'é'.repeat(4097) })).toMatchObject({ type: 'error', code: 413 });
    expect(await a.request({ type: 'signal', data: 'x'.repeat(8192) })).toMatchObject({ type: 'response' });
    expect(await a.request({ type: 'signal', to: '00000000-0000-4000-8000-000000000000', data: 'x' })).toMatchObject({ type: 'error', code: 404, name: 'OT_NOT_FOUND' });
  });

  it('delivers REST signals (opentok SDK) to every connection and to one, with from null; 404 when absent', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    const b = await join(sessionId);
    expect(await restSignal(sessionId, null, { type: 'news', data: 'to all' })).toBeNull();
    expect(await restSignal(sessionId, b.connectionId, { type: 'news', data: 'to b' })).toBeNull();
    for (const c of [a, b]) {
      expect(await c.waitFor((m) => m.type === 'signal' && m['data'] === 'to all')).toMatchObject({ from: null, signalType: 'news' });
    }
    await b.waitFor((m) => m['data'] === 'to b');
    await sleep(50);
    expect(a.received.some((m) => m['data'] === 'to b')).toBe(false);
    const missing = await restSignal(sessionId, '00000000-0000-4000-8000-000000000000', { data: 'x' });
    expect(missing?.message).toMatch(/not found/i);
  });

  it('rate-limits a connection’s signals with OT_RATE_LIMIT_EXCEEDED, and not REST signals', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    const sent = Array.from({ length: 40 }, () => a.nextId());
    const replies = sent.map((id) => a.waitFor((m) => m['re'] === id));
    for (const id of sent) a.send({ type: 'signal', id, data: 'spam' });
    const answers = await Promise.all(replies);
    const ok = answers.filter((m) => m.type === 'response').length;
    const limited = answers.filter((m) => m.type === 'error');
    // Burst 30 at 10/s: the first 30 pass (a few more if refilled while they arrive), the rest are refused.
    expect(ok).toBeGreaterThanOrEqual(30);
    expect(ok).toBeLessThan(36);
    expect(limited.length).toBe(40 - ok);
    expect(limited[0]).toMatchObject({ code: 429, name: 'OT_RATE_LIMIT_EXCEEDED' });
    for (let i = 0; i < 5; i++) expect(await restSignal(sessionId, null, { data: `rest${i}` })).toBeNull();
    await a.waitFor((m) => m['data'] === 'rest4');
    // The socket is still fine after being limited.
    await sleep(200);
    expect(await a.request({ type: 'signal', data: 'later' })).toMatchObject({ type: 'response' });
  });
});

describe('moderation', () => {
  it('REST force disconnect (opentok SDK): 204, the target is told forceDisconnected, the others connectionDestroyed', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId, 'publisher', 'who=a');
    const b = await join(sessionId, 'publisher', 'who=b');
    const actions: ModerationAction[] = [];
    t.server.sessions.on('moderation', (m) => actions.push(m));
    const listed = await t.server.sessions.listConnections(t.server.store.projects.get(t.apiKey)!, sessionId);
    expect(listed.map((c) => c.connectionId)).toEqual([a.connectionId, b.connectionId]);
    expect(listed[0]).toMatchObject({ connectionState: 'Connected', createdAt: a.connectResult!.connection.creationTime });

    const err = await new Promise<Error | null>((resolve) => ot.forceDisconnect(sessionId, b.connectionId, (e) => resolve(e ?? null)));
    expect(err).toBeNull();
    expect(await b.waitFor((m) => m.type === 'disconnected')).toMatchObject({ reason: 'forceDisconnected' });
    expect((await b.waitClosed()).code).toBe(CloseCodes.FORCE_DISCONNECTED);
    expect(await a.waitFor((m) => m.type === 'connectionDestroyed')).toMatchObject({ connectionId: b.connectionId, reason: 'forceDisconnected' });
    expect(actions).toMatchObject([{ action: 'forceDisconnect', sessionId, connectionId: b.connectionId, by: { origin: 'rest' } }]);
    const again = await new Promise<Error | null>((resolve) => ot.forceDisconnect(sessionId, b.connectionId, (e) => resolve(e ?? null)));
    expect(again?.message).toMatch(/not found|404/i);
  });

  it('lets a moderator force-disconnect from the client; refuses publishers and subscribers with 1520', async () => {
    const sessionId = await createSession();
    const mod = await join(sessionId, 'moderator');
    const pub = await join(sessionId, 'publisher');
    const sub = await join(sessionId, 'subscriber');
    for (const client of [pub, sub]) {
      expect(await client.request({ type: 'forceDisconnect', connectionId: mod.connectionId })).toMatchObject({
        type: 'error',
        code: 1520,
        name: 'OT_PERMISSION_DENIED',
      });
    }
    // A subscriber may still signal (OpenTok lets every connected client signal).
    expect(await sub.request({ type: 'signal', data: 'hi' })).toMatchObject({ type: 'response' });
    const actions: ModerationAction[] = [];
    t.server.sessions.on('moderation', (m) => actions.push(m));
    expect(await mod.request({ type: 'forceDisconnect', connectionId: pub.connectionId })).toMatchObject({ type: 'response' });
    expect(await pub.waitFor((m) => m.type === 'disconnected')).toMatchObject({ reason: 'forceDisconnected' });
    expect(await sub.waitFor((m) => m.type === 'connectionDestroyed')).toMatchObject({ connectionId: pub.connectionId, reason: 'forceDisconnected' });
    expect(actions).toMatchObject([{ connectionId: pub.connectionId, by: { origin: 'client', connectionId: mod.connectionId } }]);
    expect(await mod.request({ type: 'forceDisconnect', connectionId: pub.connectionId })).toMatchObject({ type: 'error', code: 404 });
  });
});

describe('resume', () => {
  it('keeps the connection through a dropped socket and replays exactly what was missed', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    const b = await join(sessionId);
    await a.waitFor((m) => m.type === 'connectionCreated');
    expect(await a.request({ type: 'signal', data: 'before' })).toMatchObject({ type: 'response' });
    await a.waitFor((m) => m['data'] === 'before');
    const lastSeq = a.lastSeq;
    const nextId = a.nextId();
    a.kill();
    await sleep(50);
    expect(t.server.sessions.live(sessionId)!.getConnection(a.connectionId)!.away).toBe(true);
    for (let i = 0; i < 5; i++) expect(await b.request({ type: 'signal', data: `while-away-${i}` })).toMatchObject({ type: 'response' });
    const c = await join(sessionId); // someone joins while a is away

    const resumed = await WsClient.open(t.url);
    clients.push(resumed);
    const reply = await resumed.request({
      type: 'resume',
      version: PROTOCOL_VERSION,
      sessionId,
      connectionId: a.connectionId,
      resumeSecret: a.connectResult!.resumeSecret,
      lastSeq,
    });
    expect(reply).toMatchObject({ type: 'response', result: { lastRequestId: nextId - 1, replayed: 6 } });
    await resumed.waitFor((m) => m['data'] === 'while-away-4');
    const replay = resumed.received.filter((m) => typeof m.seq === 'number');
    expect(replay.map((m) => m.seq)).toEqual([lastSeq + 1, lastSeq + 2, lastSeq + 3, lastSeq + 4, lastSeq + 5, lastSeq + 6]);
    expect(replay.map((m) => (m.type === 'signal' ? m['data'] : m.type))).toEqual([
      'while-away-0',
      'while-away-1',
      'while-away-2',
      'while-away-3',
      'while-away-4',
      'connectionCreated',
    ]);
    expect(b.of('connectionDestroyed')).toEqual([]);
    expect(t.server.sessions.live(sessionId)!.getConnection(a.connectionId)!.away).toBe(false);
    // Same connection, and new traffic continues the numbering.
    resumed.setNextId(nextId);
    expect(await resumed.request({ type: 'signal', to: c.connectionId, data: 'back' })).toMatchObject({ type: 'response', seq: lastSeq + 7 });
    expect(await c.waitFor((m) => m['data'] === 'back')).toMatchObject({ from: a.connectionId });
  });

  it('answers a request whose reply was lost from the replay, and refuses to run it twice', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    const b = await join(sessionId);
    const id = a.nextId();
    a.send({ type: 'signal', id, data: 'once' });
    await b.waitFor((m) => m['data'] === 'once');
    a.kill(); // the reply may or may not have reached a; a acts as if it did not.
    const resumed = await WsClient.open(t.url);
    clients.push(resumed);
    const reply = await resumed.request({ type: 'resume', version: PROTOCOL_VERSION, sessionId, connectionId: a.connectionId, resumeSecret: a.connectResult!.resumeSecret, lastSeq: 0 });
    expect(reply['result']).toMatchObject({ lastRequestId: id });
    expect(await resumed.waitFor((m) => m.type === 'response' && m['re'] === id)).toBeTruthy();
    // A buggy client that resends anyway is refused, and nothing is delivered twice.
    expect(await resumed.request({ type: 'signal', id, data: 'once' })).toMatchObject({ type: 'error', code: 4003 });
    await sleep(50);
    expect(b.of('signal').filter((m) => m['data'] === 'once')).toHaveLength(1);
  });

  it('refuses a wrong secret or an unknown connection, and takes over from a stale socket', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    const attempts = [
      { connectionId: a.connectionId, resumeSecret: 'x'.repeat(32), lastSeq: 0 },
      { connectionId: '00000000-0000-4000-8000-000000000000', resumeSecret: a.connectResult!.resumeSecret, lastSeq: 0 },
      { connectionId: a.connectionId, resumeSecret: a.connectResult!.resumeSecret, lastSeq: 999 }, // claims messages never sent
    ];
    for (const attempt of attempts.slice(0, 2)) {
      const c = await open();
      expect(await c.request({ type: 'resume', version: PROTOCOL_VERSION, sessionId, ...attempt })).toMatchObject({ type: 'error', code: 4005 });
      expect((await c.waitClosed()).code).toBe(CloseCodes.RESUME_FAILED);
    }
    // The real owner's socket is still open; a resume with the secret replaces it.
    const c = await open();
    expect(await c.request({ type: 'resume', version: PROTOCOL_VERSION, sessionId, connectionId: a.connectionId, resumeSecret: a.connectResult!.resumeSecret, lastSeq: 0 })).toMatchObject({ type: 'response' });
    expect((await a.waitClosed()).code).toBe(CloseCodes.REPLACED);
    expect(t.server.sessions.live(sessionId)!.getConnection(a.connectionId)).toBeDefined();
    // A resume claiming messages that were never sent ends the connection: it cannot be brought up to date.
    const d = await open();
    expect(await d.request({ type: 'resume', version: PROTOCOL_VERSION, sessionId, ...attempts[2] })).toMatchObject({ type: 'error', code: 4005 });
    await sleep(50);
    expect(t.server.sessions.live(sessionId)).toBeUndefined();
  });

  it('destroys the connection (networkDisconnected) when the grace period passes without a resume', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    const b = await join(sessionId);
    const started = Date.now();
    a.kill();
    const destroyed = await b.waitFor((m) => m.type === 'connectionDestroyed', 4000);
    expect(destroyed).toMatchObject({ connectionId: a.connectionId, reason: 'networkDisconnected' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    const c = await open();
    expect(await c.request({ type: 'resume', version: PROTOCOL_VERSION, sessionId, connectionId: a.connectionId, resumeSecret: a.connectResult!.resumeSecret, lastSeq: 0 })).toMatchObject({ type: 'error', code: 4005 });
  });

  it('drops a socket that stops answering heartbeats, and the client can still resume', async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    a.autoPong = false;
    // Heartbeat 300 ms: silence for 900 ms is a dead socket (checked every 300 ms). Waited for:
    // a loaded machine runs the check late.
    const deadline = Date.now() + 15_000;
    while (a.closed === null && Date.now() < deadline) await sleep(50);
    expect(a.closed).not.toBeNull();
    expect(t.server.sessions.live(sessionId)!.getConnection(a.connectionId)!.away).toBe(true);
    const c = await open();
    expect(await c.request({ type: 'resume', version: PROTOCOL_VERSION, sessionId, connectionId: a.connectionId, resumeSecret: a.connectResult!.resumeSecret, lastSeq: a.lastSeq })).toMatchObject({ type: 'response' });
    // c answers pings: it stays through four heartbeats, longer than the 900 ms a silent one lasts.
    const until = Date.now() + 15_000;
    while (c.of('ping').length < 4 && c.closed === null && Date.now() < until) await sleep(50);
    expect(c.of('ping').length).toBeGreaterThanOrEqual(4);
    expect(c.closed).toBeNull();
  });

  it("does not cut clients for the server's own stall (a blocked event loop is not client silence)", async () => {
    const sessionId = await createSession();
    const a = await join(sessionId);
    // Block this process (server and client alike) for 2 s, over twice the 900 ms timeout, as a
    // long GC or a heap snapshot does. The sweep then runs before the sockets' pongs are read.
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      /* busy */
    }
    const pingsAfter = a.of('ping').length;
    const deadline = Date.now() + 15_000;
    while (a.of('ping').length < pingsAfter + 4 && a.closed === null && Date.now() < deadline) await sleep(50);
    expect(a.closed).toBeNull();
    expect(a.of('ping').length).toBeGreaterThanOrEqual(pingsAfter + 4);
    expect(t.server.sessions.live(sessionId)!.getConnection(a.connectionId)!.away).toBe(false);
  });
});

describe('events for the Inspector', () => {
  it('emits connection events with user agent and address, and signal events with the type only', async () => {
    const sessionId = await createSession();
    const seen: string[] = [];
    const signals: SignalSent[] = [];
    const onCreated = (_s: unknown, c: { userAgent: string; ip: string; data: string }) => seen.push(`created ${c.userAgent} ${c.ip} ${c.data}`);
    const onDestroyed = (_s: unknown, _c: unknown, reason: string) => seen.push(`destroyed ${reason}`);
    const onSignal = (s: SignalSent) => signals.push(s);
    const unobserve = t.server.sessions.observeSessions({ connectionCreated: onCreated, connectionDestroyed: onDestroyed });
    t.server.sessions.on('signalSent', onSignal);
    const a = await WsClient.join(t.url, sessionId, token(sessionId, 'publisher', 'x=1'), { 'user-agent': 'TestAgent/1.0' });
    clients.push(a);
    await a.request({ type: 'signal', signalType: 'secret-type', data: 'secret-data' });
    await a.request({ type: 'disconnect' });
    await a.waitClosed();
    unobserve();
    t.server.sessions.off('signalSent', onSignal);
    expect(seen).toEqual(['created TestAgent/1.0 127.0.0.1 x=1', 'destroyed clientDisconnected']);
    expect(signals).toMatchObject([{ sessionId, origin: 'client', from: a.connectionId, to: null, type: 'secret-type', recipients: 1 }]);
    expect(JSON.stringify(signals)).not.toContain('secret-data');
  });
});
