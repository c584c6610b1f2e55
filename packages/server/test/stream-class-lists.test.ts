// Setting stream layout classes by REST (reference §1.7): PUT …/session/{sid}/stream with
// {items:[{id, layoutClassList}]} (every SDK) and PUT …/session/{sid}/stream/{streamId} with
// {layoutClassList} (the PHP SDK's updateStream). With nobody publishing, every named stream is
// unknown (404); an empty list is accepted; a malformed body is a 400.

import { Colloquy } from '@colloquy/sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let sdk: Colloquy;
let routed: string;
beforeAll(async () => {
  t = await startTestServer();
  sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  routed = (await sdk.createSession({ mediaMode: 'routed' })).sessionId;
});
afterAll(async () => t.close());

async function put(path: string, body: unknown, headers: Record<string, string> = sdk.client.authHeaders()) {
  const res = await fetch(`${t.url}/v2/project/${t.apiKey}/${path}`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, data: text === '' ? undefined : JSON.parse(text) };
}

describe('PUT session/{sid}/stream (set class lists)', () => {
  it('accepts an empty list', async () => {
    expect((await put(`session/${routed}/stream`, { items: [] })).status).toBe(200);
  });

  it('404s a stream that is not published', async () => {
    expect(await put(`session/${routed}/stream`, { items: [{ id: 'nope', layoutClassList: ['focus'] }] })).toEqual({
      status: 404,
      data: { code: 404, message: 'Stream not found' },
    });
  });

  it('400s a malformed body', async () => {
    expect((await put(`session/${routed}/stream`, { items: [{ id: 'a', layoutClassList: 'focus' }] })).status).toBe(400);
    expect((await put(`session/${routed}/stream`, { items: [{ layoutClassList: [] }] })).status).toBe(400);
    expect((await put(`session/${routed}/stream`, [])).status).toBe(400);
  });

  it('404s an unknown session, and needs credentials', async () => {
    expect((await put('session/1_MX4xMjM0fn5-MTIzfnh4eH5-/stream', { items: [] })).status).toBe(404);
    expect((await put(`session/${routed}/stream`, { items: [] }, {})).status).toBe(401);
  });
});

describe('PUT session/{sid}/stream/{streamId} (PHP updateStream)', () => {
  it('404s a stream that is not published, 400s a malformed body', async () => {
    expect((await put(`session/${routed}/stream/nope`, { layoutClassList: ['full'] })).status).toBe(404);
    expect((await put(`session/${routed}/stream/nope`, { layoutClassList: [1] })).status).toBe(400);
  });
});
