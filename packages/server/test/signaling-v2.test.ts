// Signaling protocol v2 with raw `ws` clients: negotiation beside v1 clients, session-wide events
// framed once (the same bytes to everyone, numbered by `bseq`), connection events batched per turn,
// resume across both numberings (replayed once, in the original order), a slow reader cut off
// without holding up the others, the per-session connection limit and the join-rate queue.

import { CloseCodes, PROTOCOL_VERSION, PROTOCOL_VERSION_2 } from '@colloquy/protocol';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';
import { joinInOneTurn as joinStorm } from './join-storm.js';
import { sleep, WsClient, type AnyMessage } from './ws-client.js';

let t: TestServer;
let ot: OpenTok;
const clients: WsClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ COLLOQUY_RESUME_GRACE_MS: '5000', COLLOQUY_SIGNAL_BURST: '1000', COLLOQUY_SIGNAL_RATE: '1000' });
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => {
  for (const c of clients) c.kill();
  await t.close();
});

function createSession(o: OpenTok = ot): Promise<string> {
  return new Promise((resolve, reject) => o.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
}

async function joinV2(sessionId: string, extra: Record<string, unknown> = {}): Promise<WsClient> {
  const c = await WsClient.joinV2(t.url, sessionId, ot.generateToken(sessionId), extra);
  clients.push(c);
  return c;
}

async function joinV1(sessionId: string): Promise<WsClient> {
  const c = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId));
  clients.push(c);
  return c;
}

/** Connects `count` connections without sockets, in one turn (as a join storm lands). */
async function joinInOneTurn(sessionId: string, count: number): Promise<string[]> {
  return (await joinStorm(t.server.sessions, sessionId, count)).map((c) => c.id);
}

const numbered = (c: WsClient): AnyMessage[] => c.received.filter((m) => typeof m.seq === 'number' || typeof m['bseq'] === 'number');

describe('protocol v2', () => {
  it('is chosen when the client offers it; a v1 client in the same session keeps per-connection numbering', async () => {
    const sessionId = await createSession();
    const v2a = await joinV2(sessionId);
    const v1 = await joinV1(sessionId);
    const v2b = await joinV2(sessionId);
    expect(v2a.connectResult).toMatchObject({ version: PROTOCOL_VERSION_2, bseq: 0 });
    expect(v1.connectResult!.version).toBeUndefined();
    // v2b learns of v1 and v2a from its connect reply; v2a's connection events for them come batched.
    expect(v2b.connectResult!.connections.map((c) => c.connectionId).sort()).toEqual([v1.connectionId, v2a.connectionId].sort());

    expect(await v1.request({ type: 'signal', signalType: 'chat', data: 'hello' })).toMatchObject({ type: 'response' });
    const [a, b, one] = await Promise.all([v2a, v2b, v1].map((c) => c.waitFor((m) => m.type === 'signal' && m['data'] === 'hello')));
    // One frame for every v2 recipient: the very same text, numbered in the session's broadcast log.
    const textA = v2a.raw[v2a.received.indexOf(a!)];
    const textB = v2b.raw[v2b.received.indexOf(b!)];
    expect(textA).toBe(textB);
    expect(a).toMatchObject({ from: v1.connectionId, signalType: 'chat', bseq: expect.any(Number) });
    expect(a!.seq).toBeUndefined();
    // The v1 client gets it numbered per connection, as before.
    expect(one).toMatchObject({ from: v1.connectionId, signalType: 'chat', seq: expect.any(Number) });
    expect(one!['bseq']).toBeUndefined();
    // v1 saw v2b join as a plain connectionCreated.
    expect(await v1.waitFor((m) => m.type === 'connectionCreated')).toMatchObject({ connection: { connectionId: v2b.connectionId } });
    // Replies stay on the connection's own numbering.
    const reply = await v2a.request({ type: 'signal', to: v1.connectionId, data: 'direct' });
    expect(reply).toMatchObject({ type: 'response', seq: expect.any(Number) });
  });

  it('refuses a version it does not speak', async () => {
    const sessionId = await createSession();
    const c = await WsClient.open(t.url);
    clients.push(c);
    expect(await c.request({ type: 'connect', version: 3, sessionId, token: ot.generateToken(sessionId) })).toMatchObject({ type: 'error', code: 4002 });
    expect((await c.waitClosed()).code).toBe(CloseCodes.AUTH_FAILED);
  });

  it('batches the joins and leaves of one turn into one message per client, in order', async () => {
    const sessionId = await createSession();
    const observer = await joinV2(sessionId);
    const suppressed = await joinV2(sessionId, { connectionEventsSuppressed: true });
    await observer.waitFor((m) => m.type === 'connectionEvents');
    const before = observer.of('connectionEvents').length;

    const ids = await joinInOneTurn(sessionId, 6);
    const batch = await observer.next((m) => m.type === 'connectionEvents');
    expect(batch['events']).toEqual(ids.map((id) => ({ type: 'connectionCreated', connection: expect.objectContaining({ connectionId: id }) })));
    expect(observer.of('connectionEvents').length).toBe(before + 1);

    // Leaving in one turn, after a signal: the signal flushes nothing (no pending events), the leaves come as one batch.
    const session = t.server.sessions.live(sessionId)!;
    for (const id of ids.slice(0, 4)) session.getConnection(id)!.close('clientDisconnected');
    const leaves = await observer.next((m) => m.type === 'connectionEvents');
    expect(leaves['events']).toEqual(ids.slice(0, 4).map((id) => ({ type: 'connectionDestroyed', connectionId: id, reason: 'clientDisconnected' })));

    // A broadcast in the same turn as joins goes after them (the pending batch is flushed first).
    const more = await joinInOneTurn(sessionId, 2);
    session.signal(null, null, 'after', 'joins');
    const signal = await observer.waitFor((m) => m.type === 'signal' && m['data'] === 'joins');
    const joinBatch = observer.received.find((m) => m.type === 'connectionEvents' && (m['events'] as Array<{ connection?: { connectionId: string } }>)[0]?.connection?.connectionId === more[0])!;
    expect(joinBatch['bseq']).toBe((signal['bseq'] as number) - 1);
    // Numbering without gaps; the suppressed client saw the signal but no connection events.
    const bseqs = numbered(observer).filter((m) => typeof m['bseq'] === 'number').map((m) => m['bseq'] as number);
    expect(bseqs).toEqual(bseqs.map((_, i) => i + 1));
    await suppressed.waitFor((m) => m['data'] === 'joins');
    expect(suppressed.of('connectionEvents')).toEqual([]);
    expect(suppressed.of('connectionCreated')).toEqual([]);
  });

  it('in a large session, batches the joins of many turns within a short window', async () => {
    const sessionId = await createSession();
    // More than 64 clients told of connections: connection events then wait up to 50 ms, not a turn.
    const audience = [];
    for (let i = 0; i < 66; i++) audience.push(await joinV2(sessionId));
    const observer = audience[0]!;
    await observer.waitFor((m) => m.type === 'connectionEvents' && JSON.stringify(m).includes(audience[65]!.connectionId));
    const before = observer.of('connectionEvents').length;
    const ids: string[] = [];
    for (let turn = 0; turn < 10; turn++) {
      ids.push(...await joinInOneTurn(sessionId, 2));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await observer.waitFor((m) => m.type === 'connectionEvents' && JSON.stringify(m).includes(ids.at(-1)!));
    const batches = observer.of('connectionEvents').slice(before);
    const entries = batches.flatMap((m) => m['events'] as Array<{ connection: { connectionId: string } }>).map((e) => e.connection.connectionId);
    expect(entries).toEqual(ids);
    // Ten turns, far fewer messages (one unless this machine stalled for most of the window).
    expect(batches.length).toBeLessThan(5);
  }, 30_000);

  it('resumes across both numberings: the missed messages replayed once, in the order they were sent', async () => {
    const sessionId = await createSession();
    const a = await joinV2(sessionId);
    const b = await joinV2(sessionId);
    expect(await b.request({ type: 'signal', data: 'before' })).toMatchObject({ type: 'response' });
    await a.waitFor((m) => m['data'] === 'before');
    await a.waitFor((m) => m.type === 'connectionEvents'); // b's join
    const { lastBseq } = a;
    expect(await a.request({ type: 'signal', to: b.connectionId, data: 'from-a' })).toMatchObject({ type: 'response' });
    const lastSeq = a.lastSeq;
    const nextId = a.nextId();
    a.kill();
    await sleep(50);
    expect(t.server.sessions.live(sessionId)!.getConnection(a.connectionId)!.away).toBe(true);
    // Interleaved: broadcasts (bseq) and signals to a alone (seq), then a join (batched).
    const sent = ['all-0', 'to-a-0', 'all-1', 'to-a-1', 'all-2'];
    for (const data of sent) {
      const to = data.startsWith('to-a') ? { to: a.connectionId } : {};
      expect(await b.request({ type: 'signal', data, ...to })).toMatchObject({ type: 'response' });
    }
    const c = await joinV2(sessionId);
    await b.waitFor((m) => m.type === 'connectionEvents' && JSON.stringify(m).includes(c.connectionId));

    const resumed = await WsClient.open(t.url);
    clients.push(resumed);
    const reply = await resumed.request({ type: 'resume', version: PROTOCOL_VERSION_2, sessionId, connectionId: a.connectionId, resumeSecret: a.connectResult!.resumeSecret, lastSeq, lastBseq });
    expect(reply).toMatchObject({ type: 'response', result: { lastRequestId: nextId - 1, replayed: 6 } });
    await resumed.waitFor((m) => m.type === 'connectionEvents');
    const replay = numbered(resumed);
    expect(replay.map((m) => (m.type === 'signal' ? m['data'] : m.type))).toEqual([...sent, 'connectionEvents']);
    expect(replay.filter((m) => typeof m.seq === 'number').map((m) => m.seq)).toEqual([lastSeq + 1, lastSeq + 2]);
    expect(replay.filter((m) => typeof m['bseq'] === 'number').map((m) => m['bseq'])).toEqual([lastBseq + 1, lastBseq + 2, lastBseq + 3, lastBseq + 4]);
    expect(b.of('connectionEvents').some((m) => JSON.stringify(m).includes('connectionDestroyed'))).toBe(false);
    // New traffic continues both numberings.
    resumed.setNextId(nextId);
    expect(await resumed.request({ type: 'signal', data: 'back' })).toMatchObject({ type: 'response', seq: lastSeq + 3 });
    expect(await resumed.waitFor((m) => m['data'] === 'back')).toMatchObject({ bseq: lastBseq + 5 });

    // Resuming from a broadcast number never sent is refused, and ends the connection.
    resumed.kill();
    await sleep(50);
    const again = await WsClient.open(t.url);
    clients.push(again);
    expect(
      await again.request({ type: 'resume', version: PROTOCOL_VERSION_2, sessionId, connectionId: a.connectionId, resumeSecret: a.connectResult!.resumeSecret, lastSeq, lastBseq: lastBseq + 99 }),
    ).toMatchObject({ type: 'error', code: 4005 });
  });

  it('ends a connection that is away when the broadcasts it missed no longer fit the replay ring', async () => {
    const sessionId = await createSession();
    const a = await joinV2(sessionId);
    const b = await joinV2(sessionId);
    a.kill();
    const session = t.server.sessions.live(sessionId)!;
    await expect.poll(() => session.getConnection(a.connectionId)?.away).toBe(true);
    // The ring keeps 4096 broadcasts per audience; one more than that strands a.
    for (let i = 0; i <= 4096; i++) session.signal(null, null, undefined, `n${i}`);
    expect(session.getConnection(a.connectionId)).toBeUndefined();
    const gone = await b.waitFor((m) => m.type === 'connectionEvents' && JSON.stringify(m).includes('connectionDestroyed'), 10_000);
    expect(gone['events']).toEqual([{ type: 'connectionDestroyed', connectionId: a.connectionId, reason: 'networkDisconnected' }]);
    await b.waitFor((m) => m['data'] === 'n4096', 10_000);
  }, 30_000);

  it('cuts off a client that stops reading, while the others get every message in order', async () => {
    const sessionId = await createSession();
    const slow = await joinV2(sessionId, { connectionEventsSuppressed: true });
    const fast = [await joinV2(sessionId, { connectionEventsSuppressed: true }), await joinV2(sessionId, { connectionEventsSuppressed: true }), await joinV1(sessionId)];
    const slowChannelSocket = (): unknown => t.server.sessions.live(sessionId)!.getConnection(slow.connectionId)?.away;
    // The slow client's process stops reading its socket: the kernel buffers fill, then the server's.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const session = t.server.sessions.live(sessionId)!;
    const data = 'x'.repeat(8000);
    const delays: number[] = [];
    let sent = 0;
    // Bounded: at most 60 rounds of 50 signals of 8 kB (24 MB to the slow socket); it is cut off
    // once 8 MiB wait in the server's buffer for it.
    for (let round = 0; round < 60 && slowChannelSocket() !== true; round++) {
      const start = performance.now();
      for (let i = 0; i < 50; i++) session.signal(null, null, 'load', `${sent++}:${data}`);
      const last = `${sent - 1}:`;
      await Promise.all(fast.map((c) => c.waitFor((m) => typeof m['data'] === 'string' && (m['data'] as string).startsWith(last), 20_000)));
      delays.push(performance.now() - start);
    }
    expect(slowChannelSocket()).toBe(true); // the server dropped its socket (it may resume within the grace period)
    for (const c of fast) {
      const got = c.of('signal').map((m) => Number((m['data'] as string).split(':')[0]));
      expect(got).toEqual(Array.from({ length: sent }, (_, i) => i));
      expect(c.closed).toBeNull();
    }
    delays.sort((x, y) => x - y);
    console.log(`slow reader cut off after ${sent} signals of 8 kB; delivery of a round of 50 to the others: p50 ${delays[Math.floor(delays.length / 2)]!.toFixed(1)} ms, max ${delays.at(-1)!.toFixed(1)} ms`);
  }, 60_000);
});

describe('admission', () => {
  let limited: TestServer;
  let lot: OpenTok;
  beforeAll(async () => {
    limited = await startTestServer({ COLLOQUY_MAX_CONNECTIONS_PER_SESSION: '3', COLLOQUY_JOIN_RATE: '4' });
    lot = new OpenTok(limited.apiKey, limited.apiSecret, limited.url);
  });
  afterAll(async () => {
    await limited.close();
  });

  it('refuses a connection beyond the session limit with OpenTok 1027, and admits again once one leaves', async () => {
    const sessionId = await createSession(lot);
    const joined = await Promise.all([0, 1, 2].map(() => WsClient.joinV2(limited.url, sessionId, lot.generateToken(sessionId))));
    clients.push(...joined);
    const extra = await WsClient.open(limited.url);
    clients.push(extra);
    const refused = await extra.request({ type: 'connect', version: PROTOCOL_VERSION, sessionId, token: lot.generateToken(sessionId) }, 10_000);
    expect(refused).toMatchObject({ type: 'error', code: 1027, name: 'OT_CONNECTION_LIMIT_EXCEEDED' });
    expect((await extra.waitClosed()).code).toBe(CloseCodes.AUTH_FAILED);
    joined[0]!.ws.close(CloseCodes.NORMAL); // leaving
    await joined[1]!.waitFor((m) => m.type === 'connectionEvents' && JSON.stringify(m).includes('connectionDestroyed'), 10_000);
    const later = await WsClient.joinV2(limited.url, sessionId, lot.generateToken(sessionId));
    clients.push(later);
    expect(later.connectResult!.connections).toHaveLength(2);
  }, 30_000);

  it('queues joins over the join rate rather than refusing them', async () => {
    const sessions = await Promise.all([0, 1, 2, 3].map(() => createSession(lot)));
    // 12 joins at once against 4 a second (and 3 per session): every one is admitted, in turn.
    const sockets = await Promise.all(Array.from({ length: 12 }, () => WsClient.open(limited.url)));
    clients.push(...sockets);
    const replies = await Promise.all(
      sockets.map((c, i) => c.request({ type: 'connect', version: PROTOCOL_VERSION, versions: [1, 2], sessionId: sessions[i % 4], token: lot.generateToken(sessions[i % 4]!) }, 20_000)),
    );
    expect(replies.map((r) => r.type)).toEqual(replies.map(() => 'response'));
  }, 30_000);
});
