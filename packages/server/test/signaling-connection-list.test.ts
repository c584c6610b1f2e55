// The connect reply's connection list (signaling/connection-list.ts): serialized from each
// connection's cached info JSON and spliced into the reply without parsing; in protocol v2 shared by
// the joins of one coalescing window and rebuilt when the announced set changes. Checked against
// what a client decodes: every other connection exactly once, its data intact (quotes, backslashes,
// NUL and a copy of the splice marker's text in it), none whose connectionCreated is still pending.

import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../src/sessions/session-manager.js';
import { SessionBroadcast, batchIsDue, coalesceWindowMs } from '../src/signaling/broadcast-log.js';
import { connectionListJson, withConnectionList } from '../src/signaling/connection-list.js';
import { startTestServer, type TestServer } from './helpers.js';
import { joinInOneTurn as joinStorm } from './join-storm.js';
import { WsClient } from './ws-client.js';

let t: TestServer;
let ot: OpenTok;
const clients: WsClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => {
  for (const c of clients) c.kill();
  await t.close();
});

function createSession(): Promise<string> {
  return new Promise((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
}

/** Data that a careless splice would break: quotes, a backslash, NUL, the marker's own words. */
const AWKWARD = 'say "hi" \\ \u0000colloquy-connection-list\u0000 "connections":[] end';

/** Joins connections without sockets, in one turn (as a join storm lands). */
function joinInOneTurn(sessionId: string, count: number, data = ''): Promise<Connection[]> {
  return joinStorm(t.server.sessions, sessionId, count, data);
}

describe('connect reply connection list', () => {
  it('lists every other connection once with its data intact, for v1 and v2 joiners', async () => {
    const sessionId = await createSession();
    const first = await WsClient.joinV2(t.url, sessionId, ot.generateToken(sessionId, { data: AWKWARD }));
    const second = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId, { data: 'plain' }));
    clients.push(first, second);
    const v2 = await WsClient.joinV2(t.url, sessionId, ot.generateToken(sessionId));
    const v1 = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId));
    clients.push(v2, v1);
    const byId = (list: { connectionId: string; data: string }[]): Record<string, string> => Object.fromEntries(list.map((c) => [c.connectionId, c.data]));
    expect(byId(v2.connectResult!.connections)).toEqual({ [first.connectionId]: AWKWARD, [second.connectionId]: 'plain' });
    expect(v1.connectResult!.connections).toHaveLength(3);
    expect(byId(v1.connectResult!.connections)).toEqual({ [first.connectionId]: AWKWARD, [second.connectionId]: 'plain', [v2.connectionId]: '' });
    // The rest of the reply is untouched by the splice.
    expect(v2.connectResult).toMatchObject({ connection: { connectionId: v2.connectionId }, streams: [], version: 2 });
  });

  it('v2: leaves out pending creations, shares the list within a window, rebuilds it after a batch or a leave', async () => {
    const sessionId = await createSession();
    const [resident] = await joinInOneTurn(sessionId, 1, AWKWARD);
    const session = t.server.sessions.live(sessionId)!;
    const broadcast = new SessionBroadcast(session, { maxBufferedMessages: 100, maxBufferedBytes: 1 << 20 }, () => {});
    try {
      const ids = (json: string): string[] => (JSON.parse(json) as { connectionId: string }[]).map((c) => c.connectionId).sort();
      // The resident joined before the broadcast existed: announced (to v1 clients), so listed.
      const storm = await joinInOneTurn(sessionId, 20);
      const a = broadcast.connectionListFor(storm[0]!);
      expect(ids(a)).toEqual([resident!.id]);
      expect(broadcast.connectionListFor(storm[19]!)).toBe(a); // the same string: built once for the window
      broadcast.flush();
      const afterBatch = broadcast.connectionListFor((await joinInOneTurn(sessionId, 1))[0]!);
      expect(ids(afterBatch)).toEqual([resident!.id, ...storm.map((c) => c.id)].sort());
      expect(JSON.parse(afterBatch).find((c: { connectionId: string }) => c.connectionId === resident!.id).data).toBe(AWKWARD);
      storm[3]!.close('clientDisconnected');
      const afterLeave = broadcast.connectionListFor((await joinInOneTurn(sessionId, 1))[0]!);
      expect(ids(afterLeave)).not.toContain(storm[3]!.id);
      expect(ids(afterLeave)).toHaveLength(20); // resident + 19 of the storm; the two newest are pending
      // A joiner whose creation the broadcast never saw is left out of its own list.
      expect(ids(broadcast.connectionListFor(resident!))).not.toContain(resident!.id);
      expect(connectionListJson(session, resident!, () => true)).toBe('[]');
    } finally {
      broadcast.dispose();
      for (const c of [...session.connections.values()]) c.close('clientDisconnected');
    }
  });

  it('splices a list into a message without parsing it', () => {
    const text = withConnectionList((list) => ({ type: 'response', note: AWKWARD, result: { connections: list, after: '"x"' } }), '[{"connectionId":"c1"}]');
    expect(JSON.parse(text)).toEqual({ type: 'response', note: AWKWARD, result: { connections: [{ connectionId: 'c1' }], after: '"x"' } });
    expect(() => withConnectionList(() => ({ type: 'response' }), '[]')).toThrow(/marker/);
  });

  it('widens the coalescing window with the audience, up to 250 ms', () => {
    expect(coalesceWindowMs(65)).toBe(50);
    expect(coalesceWindowMs(1000)).toBe(50);
    expect(coalesceWindowMs(3000)).toBe(150);
    expect(coalesceWindowMs(15_000)).toBe(250);
  });

  it('in a large session, holds a thin batch past its window (one event per 20 clients told) for at most 1 s', () => {
    expect(batchIsDue(250, 249, 5000)).toBe(false); // within the window
    expect(batchIsDue(250, 250, 5000)).toBe(true); // 250 events for 5,000 clients: due with the window
    expect(batchIsDue(100, 600, 5000)).toBe(false); // thin: waits
    expect(batchIsDue(100, 1000, 5000)).toBe(true); // but never past 1 s
    expect(batchIsDue(1, 50, 1000)).toBe(true); // up to 1,000 clients: the 50 ms window alone
    expect(batchIsDue(1, 49, 1000)).toBe(false);
  });
});
