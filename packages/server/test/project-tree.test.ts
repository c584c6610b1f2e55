// The /v2/project/{key}/… tree with nobody connected: answers as OpenTok gives them, and input
// validated at the boundary with the right status.

import { Colloquy } from '@colloquy/sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let sdk: Colloquy;
let routed: string;
let relayed: string;
beforeAll(async () => {
  t = await startTestServer();
  sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  routed = (await sdk.createSession({ mediaMode: 'routed' })).sessionId;
  relayed = (await sdk.createSession({ mediaMode: 'relayed' })).sessionId;
});
afterAll(async () => t.close());

async function call(method: string, path: string, body?: unknown) {
  try {
    const { status, data } = await sdk.client.request<unknown>(method, path, body);
    return { status, data };
  } catch (err) {
    const e = err as { status: number; code?: number; message: string };
    return { status: e.status, data: { code: e.code, message: e.message } };
  }
}

describe('signals', () => {
  it('404s a signal to a session with nobody connected, with OpenTok’s message', async () => {
    expect(await call('POST', `session/${routed}/signal`, { type: 'chat', data: 'hi' })).toEqual({
      status: 404,
      data: { code: 404, message: 'Not found. No clients are actively connected to the OpenTok session.' },
    });
  });

  it('404s a signal to a connection that is not there', async () => {
    expect((await call('POST', `session/${routed}/connection/abc/signal`, { data: 'hi' })).status).toBe(404);
  });

  it('400s a bad type, a missing data, a non-object body; 413s oversized type or data', async () => {
    expect(await call('POST', `session/${routed}/signal`, { type: 'no spaces', data: 'x' })).toMatchObject({ status: 400 });
    expect(await call('POST', `session/${routed}/signal`, { type: 'ok' })).toMatchObject({ status: 400, data: { code: 15202 } });
    expect(await call('POST', `session/${routed}/signal`, ['x'])).toMatchObject({ status: 400 });
    expect(await call('POST', `session/${routed}/signal`, { type: 1, data: 'x' })).toMatchObject({ status: 400 });
    expect(await call('POST', `session/${routed}/signal`, { type: 't'.repeat(129), data: 'x' })).toMatchObject({ status: 413 });
    expect(await call('POST', `session/${routed}/signal`, { data: 'é'.repeat(4097) })).toMatchObject({ status: 413 });
  });

  it('404s a signal to an unknown or malformed session ID', async () => {
    expect((await call('POST', `session/not-a-session/signal`, { data: 'x' })).status).toBe(404);
    expect((await call('POST', `session/1_MX4xMjM0fn5-MTIzfnh4eH5-/signal`, { data: 'x' })).status).toBe(404);
  });
});

describe('connections and streams', () => {
  it('lists no connections', async () => {
    expect(await call('GET', `session/${routed}/connection/`)).toEqual({
      status: 200,
      data: { count: 0, projectId: t.apiKey, sessionId: routed, items: [] },
    });
  });

  it('404s a force disconnect of a connection that is not there', async () => {
    expect((await call('DELETE', `session/${routed}/connection/abc`)).status).toBe(404);
  });

  it('lists no streams and 404s a stream or its mute', async () => {
    expect(await call('GET', `session/${routed}/stream/`)).toEqual({ status: 200, data: { count: 0, items: [] } });
    expect((await call('GET', `session/${routed}/stream/s1`)).status).toBe(404);
    expect((await call('POST', `session/${routed}/stream/s1/mute`, {})).status).toBe(404);
  });

  it('accepts mute-all in both SDK spellings and refuses a malformed body', async () => {
    expect((await call('POST', `session/${routed}/mute`, { active: true, excludedStreamIds: ['a'] })).status).toBe(200);
    expect((await call('POST', `session/${routed}/mute`, { active: true, excludedStreams: ['a'] })).status).toBe(200);
    expect(t.server.sessions.isMutedOnPublish(routed, 'b')).toBe(true);
    expect(t.server.sessions.isMutedOnPublish(routed, 'a')).toBe(false);
    expect((await call('POST', `session/${routed}/mute`, { active: false })).status).toBe(200);
    expect(t.server.sessions.isMutedOnPublish(routed, 'b')).toBe(false);
    expect((await call('POST', `session/${routed}/mute`, { active: 'yes' })).status).toBe(400);
  });
});

describe('archives', () => {
  it('lists none, and validates list parameters', async () => {
    expect(await call('GET', 'archive?offset=0&count=10')).toEqual({ status: 200, data: { count: 0, items: [] } });
    expect((await call('GET', 'archive?count=5000')).status).toBe(400);
    expect((await call('GET', 'archive?offset=-1')).status).toBe(400);
  });

  it('answers start with 404 for an unknown session, 409 for relayed and for nobody connected', async () => {
    expect((await call('POST', 'archive', { sessionId: '1_MX4xMjM0fn5-MTIzfnh4eH5-' })).status).toBe(404);
    expect((await call('POST', 'archive', { sessionId: relayed })).status).toBe(409);
    expect((await call('POST', 'archive', { sessionId: routed })).status).toBe(409);
    expect((await call('POST', 'archive', {})).status).toBe(400);
  });

  it('404s an unknown archive', async () => {
    expect((await call('GET', 'archive/3c1e9f2a-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await call('POST', 'archive/3c1e9f2a-0000-4000-8000-000000000000/stop', {})).status).toBe(404);
  });
});

describe('features this server does not provide', () => {
  it('answers 501 with a plain message, and empty lists', async () => {
    // Broadcasts are provided now (test/broadcast/): a start without outputs is a 400.
    expect(await call('POST', 'broadcast/', { sessionId: routed })).toMatchObject({ status: 400 });
    // SIP is provided now (test/sip/): the PHP SDK's /call path is the real dial, checking its body.
    expect(await call('POST', 'call', { sessionId: routed })).toMatchObject({ status: 400, data: { message: expect.stringMatching(/token|sip/) } });
    // So is the Audio Connector (test/audio-connector/): /connect checks its body.
    expect(await call('POST', 'connect', { sessionId: routed })).toMatchObject({ status: 400, data: { message: expect.stringMatching(/token|websocket/) } });
    expect(await call('GET', 'broadcast/?offset=0')).toEqual({ status: 200, data: { count: 0, items: [] } });
  });
});
