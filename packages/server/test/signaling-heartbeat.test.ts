// The signaling heartbeat in slices (signaling-server.ts #sweep): every socket is still pinged
// about once a period, but the sockets of a session are not all pinged in the same turn — with
// 15,000 sockets that burst held up every signal arriving during it. The ping is one frame built
// once; clients parse it as the same `{"type":"ping"}`.

import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';
import { sleep, WsClient } from './ws-client.js';

const HEARTBEAT_MS = 1000;
let t: TestServer;
let ot: OpenTok;
const clients: WsClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ COLLOQUY_HEARTBEAT_MS: String(HEARTBEAT_MS) });
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => {
  for (const c of clients) c.kill();
  await t.close();
});

describe('heartbeat', () => {
  it('pings each socket once a period, the sockets spread over the period rather than all at once', async () => {
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
    for (let i = 0; i < 20; i++) clients.push(await WsClient.join(t.url, sessionId, ot.generateToken(sessionId)));
    // When each client saw each of its pings (polled every 5 ms).
    const seen = clients.map(() => [] as number[]);
    const started = Date.now();
    const periods = 3;
    while (Date.now() - started < periods * HEARTBEAT_MS + 500) {
      clients.forEach((c, i) => {
        while (seen[i]!.length < c.of('ping').length) seen[i]!.push(Date.now() - started);
      });
      await sleep(5);
    }
    for (const [i, times] of seen.entries()) {
      // About one a period (a loaded machine may run a slice late, never skip a socket for long).
      expect(times.length, `client ${i}: pings at ${times.join(', ')} ms`).toBeGreaterThanOrEqual(periods - 1);
      expect(times.length).toBeLessThanOrEqual(periods + 1);
      expect(clients[i]!.closed).toBeNull();
    }
    // The first pings of the 20 sockets fall in several slices, spread over most of a period.
    const firsts = seen.map((times) => times[0]!);
    const spread = Math.max(...firsts) - Math.min(...firsts);
    expect(new Set(firsts.map((f) => Math.round(f / 50))).size, `first pings at ${firsts.join(', ')} ms`).toBeGreaterThanOrEqual(4);
    expect(spread).toBeGreaterThanOrEqual(HEARTBEAT_MS / 3);
    expect(clients[0]!.raw.find((text) => text.includes('"ping"'))).toBe('{"type":"ping"}');
  });
});
