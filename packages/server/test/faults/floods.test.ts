// Fault: floods and half-open connections. A socket cut off for flooding is logged once, closed
// (its close frame says why) and destroyed; what it still sends is dropped unread. One address
// cannot hold more than COLLOQUY_MAX_PENDING_CONNECTIONS_PER_IP sockets that never send a request;
// the others are served meanwhile. Nothing leaks (descriptors back to the baseline), the server
// keeps serving, and a bystander keeps receiving signals.

import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADERS_TIMEOUT_MS } from '../../src/http-limits.js';
import { capturingLogger, startTestServer, type TestServer } from '../helpers.js';
import { WsClient } from '../ws-client.js';
import { descriptors, eventually } from './leaks.js';

let t: TestServer;
let log: ReturnType<typeof capturingLogger>;
let alice: WsClient;
let bob: WsClient;

beforeAll(async () => {
  log = capturingLogger('info');
  t = await startTestServer({ COLLOQUY_MAX_PENDING_CONNECTIONS_PER_IP: '20' }, { logger: log.logger });
  const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
  alice = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId, { data: 'alice' }));
  bob = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId, { data: 'bob' }));
});
afterAll(async () => {
  alice?.kill();
  bob?.kill();
  await t?.close();
});

let probe = 0;
async function stillServing(): Promise<void> {
  expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  const data = `probe-${++probe}`;
  await alice.request({ type: 'signal', to: bob.connectionId, data });
  await bob.waitFor((m) => m.type === 'signal' && m['data'] === data, 10_000);
}

/** GET /healthz from another loopback address (127.0.0.2), as a different client. */
function healthFrom(localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.url}/healthz`, { localAddress }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('socket floods', () => {
  it('an unauthenticated socket flooding past the rate limit is logged once, closed, and the rest is dropped', async () => {
    const before = descriptors('self').fds;
    const c = await WsClient.open(t.url);
    const frame = JSON.stringify({ type: 'ping' });
    for (let i = 0; i < 20_000; i++) {
      if (c.ws.readyState !== 1) break;
      c.sendRaw(frame);
    }
    const closed = await c.waitClosed(10_000);
    expect([4003, 1006]).toContain(closed.code);
    const cutOffs = log.lines.filter((l) => l['msg'] === 'cutting off client');
    expect(cutOffs).toHaveLength(1);
    // Nothing else about that socket was logged at warn or above (before: one warning per frame).
    expect(log.lines.filter((l) => (l['level'] as number) >= 40 && l['msg'] !== 'cutting off client')).toEqual([]);
    await eventually(() => descriptors('self').fds <= before + 2, 10_000, () => `descriptors back to ${before}; now ${descriptors('self').fds}`);
    await stillServing();
  });

  it(`one address holds at most COLLOQUY_MAX_PENDING_CONNECTIONS_PER_IP silent sockets; others are served meanwhile`, async () => {
    const before = descriptors('self').fds;
    const { port } = new URL(t.url);
    const held: Socket[] = [];
    let refused = 0;
    await Promise.all(
      Array.from({ length: 60 }, () =>
        new Promise<void>((resolve) => {
          const s = connect(Number(port), '127.0.0.1');
          held.push(s);
          s.on('error', () => {});
          s.on('close', () => {
            refused++;
            resolve();
          });
          // Still open after a moment: held by the server.
          setTimeout(resolve, 1500);
        }),
      ),
    );
    expect(refused).toBeGreaterThanOrEqual(40);
    expect(held.length - refused).toBeLessThanOrEqual(20);
    expect(log.lines.filter((l) => l['msg'] === 'too many half-open connections from one address; refusing more')).toHaveLength(1);
    // Another address is served while 127.0.0.1 is at its cap.
    expect(await healthFrom('127.0.0.2')).toBe(200);
    for (const s of held) s.destroy();
    await eventually(() => descriptors('self').fds <= before + 2, 10_000, () => `descriptors back to ${before}; now ${descriptors('self').fds}`);
    await stillServing();
  });

  it('bounds how long a request head may take', () => {
    expect(t.server.app.server.headersTimeout).toBe(HEADERS_TIMEOUT_MS);
    expect(t.server.app.server.requestTimeout).toBeGreaterThan(0);
  });
});
