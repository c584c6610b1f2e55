// The logging URL (`POST /logging/ClientEvent`) that OpenTok.js-style clients and pre-call network
// tests post to: events naming one of our sessions reach its Inspector log as `clientEvent`; the
// endpoint is unauthenticated, so bad bodies are 400, large ones 413, floods 429, and nothing a
// body claims (another project, a connection that is not there) is believed.

import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';
import { WsClient } from './ws-client.js';

let t: TestServer;
let ot: OpenTok;

beforeAll(async () => {
  t = await startTestServer();
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => t.close());

const post = (body: unknown, contentType = 'application/json') =>
  fetch(`${t.url}/logging/ClientEvent`, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function clientEvents(sessionId: string): Promise<Array<Record<string, unknown>>> {
  await t.server.inspector.flush();
  return (await t.server.inspector.events(sessionId, { types: ['clientEvent'] })).items as unknown as Array<Record<string, unknown>>;
}

describe('POST /logging/ClientEvent', () => {
  it('records events of our sessions in the Inspector (a live connection kept, a made-up one and another project dropped), answers CORS', async () => {
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (e, s) => (e ? reject(e) : resolve(s!.sessionId))));
    const client = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId));
    try {
      const response = await post([
        { action: 'ConnectivityTest', variation: 'Success', sessionId, partnerId: t.apiKey, connectionId: client.connectionId, clientVersion: 'js-2.27', payload: { bandwidth: 1200 } },
        { action: 'Forged', sessionId, connectionId: 'not-a-connection-of-this-session' },
        { action: 'OtherProject', sessionId, partnerId: '999999' },
        { action: 'NoSession' },
      ]);
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(await response.json()).toEqual({ received: 4, recorded: 2 });
      const events = await clientEvents(sessionId);
      expect(events.map((e) => (e['details'] as { action: string }).action).sort()).toEqual(['ConnectivityTest', 'Forged']);
      const good = events.find((e) => (e['details'] as { action: string }).action === 'ConnectivityTest')!;
      expect(good['connectionId']).toBe(client.connectionId);
      expect(good['details']).toMatchObject({ variation: 'Success', clientVersion: 'js-2.27', payload: '{"bandwidth":1200}' });
      // The forged connection id is not believed: the event is the session's, nobody's in particular.
      expect(events.find((e) => (e['details'] as { action: string }).action === 'Forged')!['connectionId']).toBeNull();

      // text/plain (no preflight) is JSON too; the preflight itself is answered.
      expect((await post({ action: 'Plain', sessionId }, 'text/plain')).status).toBe(200);
      const preflight = await fetch(`${t.url}/logging/ClientEvent`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-headers')).toContain('content-type');
    } finally {
      client.close();
    }
  });

  it('refuses what is not a client event: bad JSON and fields 400, over 16 KiB 413, more than 20 events 400', async () => {
    expect((await post('{not json')).status).toBe(400);
    expect((await post({ variation: 'no action' })).status).toBe(400);
    expect((await post({ action: 'has spaces and <script>' })).status).toBe(400);
    expect((await post({ action: 'A', sessionId: 'x'.repeat(300) })).status).toBe(400);
    expect((await post(Array.from({ length: 21 }, () => ({ action: 'A' })))).status).toBe(400);
    const big = await post({ action: 'Big', payload: 'x'.repeat(20_000) });
    expect(big.status).toBe(413);
    expect(big.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('rate-limits a flood from one address with 429, while bounded in count', async () => {
    const statuses: number[] = [];
    // 30 in a burst, then 5 a second: 60 posts in a tight loop must meet the limit.
    for (let i = 0; i < 60; i++) statuses.push((await post({ action: 'Flood' })).status);
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 200).length).toBeLessThan(60);
  });
});
