// The app server against a real Colloquy server: the page's files, the join API (rooms to sessions,
// tokens with the display name), and every refusal: bad room names and names, bodies that are not
// small JSON, a Colloquy that cannot be reached or refuses the credentials, too many rooms.

import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVideoChatHandler, type VideoChatOptions } from '../handler.js';

let t: TestServer;
const servers: Server[] = [];

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await t?.close();
});

async function startApp(options: Partial<VideoChatOptions> = {}): Promise<string> {
  const server = createServer(createVideoChatHandler({ apiKey: t.apiKey, apiSecret: t.apiSecret, apiUrl: t.url, ...options }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function joinRoom(base: string, room: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Response> {
  return fetch(`${base}/api/rooms/${room}/join`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** The claims of a JWT client token (its signature is the SDK's business, checked when a browser connects). */
function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('the page', () => {
  it('serves index.html with the SDK from the Colloquy server, app.js and style.css; a policy on the page', async () => {
    const base = await startApp();
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain(`<script src="${t.url}/v2/js/opentok.js"></script>`);
    expect(html).not.toContain('{{SDK_URL}}');
    const ws = t.url.replace('http', 'ws');
    expect(page.headers.get('content-security-policy')).toBe(
      `default-src 'self'; script-src 'self' ${t.url} ${ws}; connect-src 'self' ${t.url} ${ws}; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'`,
    );
    const app = await fetch(`${base}/app.js`);
    expect(app.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await app.text()).toContain("session.signal({ type: 'chat', data: text }");
    expect((await fetch(`${base}/style.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    const head = await fetch(`${base}/app.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${base}/handler.js`)).status).toBe(404);
    expect((await fetch(`${base}/../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(404);
  });

  it('under a base path: /video-chat redirects to /video-chat/, other paths are not ours', async () => {
    const base = await startApp({ basePath: '/video-chat/', browserUrl: '' });
    const redirect = await fetch(`${base}/video-chat`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/video-chat/');
    const html = await (await fetch(`${base}/video-chat/`)).text();
    expect(html).toContain('<script src="/v2/js/opentok.js"></script>');
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/app.js`)).status).toBe(404);
    const joined = await fetch(`${base}/video-chat/api/rooms/x/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"displayName":"Ada"}' });
    expect(joined.status).toBe(200);
    expect(() => createVideoChatHandler({ apiKey: t.apiKey, apiSecret: t.apiSecret, apiUrl: t.url, basePath: 'chat' })).toThrow(/basePath/);
  });
});

describe('joining a room', () => {
  it('creates one routed session per room name (any case) and a publisher token carrying the display name', async () => {
    const base = await startApp();
    const response = await joinRoom(base, 'Standup', { displayName: '  Ada \u202e  Lovelace\n' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const first = (await response.json()) as { apiKey: string; sessionId: string; token: string; room: string; displayName: string };
    expect(first).toMatchObject({ apiKey: t.apiKey, room: 'standup', displayName: 'Ada Lovelace' });
    expect(await t.server.store.sessions.get(first.sessionId)).toMatchObject({ mediaMode: 'routed', projectId: t.apiKey });
    expect(claims(first.token)).toMatchObject({ session_id: first.sessionId, role: 'publisher', connection_data: '{"name":"Ada Lovelace"}' });

    const again = (await (await joinRoom(base, 'standup', { displayName: 'Bob' })).json()) as { sessionId: string; token: string };
    expect(again.sessionId).toBe(first.sessionId);
    expect(again.token).not.toBe(first.token);
    const other = (await (await joinRoom(base, 'retro', { displayName: 'Bob' })).json()) as { sessionId: string };
    expect(other.sessionId).not.toBe(first.sessionId);

    // A name is data, not markup: it goes into the token as JSON, whatever it contains.
    const tricky = (await (await joinRoom(base, 'standup', { displayName: '"}<img src=x> 🎉' })).json()) as { token: string; displayName: string };
    expect(tricky.displayName).toBe('"}<img src=x> 🎉');
    expect(JSON.parse(claims(tricky.token)['connection_data'] as string)).toEqual({ name: '"}<img src=x> 🎉' });
  });

  it('people joining a new room at the same moment get the same session', async () => {
    const base = await startApp();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => joinRoom(base, 'rush', { displayName: `P${i}` }).then((r) => r.json() as Promise<{ sessionId: string }>)));
    expect(new Set(results.map((r) => r.sessionId)).size).toBe(1);
  });

  it('refuses bad room names, bad display names and bodies that are not small JSON', async () => {
    const base = await startApp();
    const refused = async (room: string, body: unknown, headers?: Record<string, string>) => {
      const r = await joinRoom(base, room, body, headers);
      return [r.status, ((await r.json()) as { error: string }).error];
    };
    const badRoom = [400, 'A room name is 1 to 64 letters, digits, - or _.'];
    expect(await refused('a'.repeat(65), { displayName: 'Ada' })).toEqual(badRoom);
    expect(await refused('a%20b', { displayName: 'Ada' })).toEqual(badRoom);
    expect(await refused('caf%C3%A9', { displayName: 'Ada' })).toEqual(badRoom);
    expect(await refused('%2e%2e', { displayName: 'Ada' })).toEqual([404, 'Not found']); // the URL parser resolved ".." away
    const badName = [400, 'Your name must be 1 to 40 characters.'];
    expect(await refused('ok', {})).toEqual(badName);
    expect(await refused('ok', { displayName: '   ' })).toEqual(badName);
    expect(await refused('ok', { displayName: '\u0000\u202e' })).toEqual(badName);
    expect(await refused('ok', { displayName: 42 })).toEqual(badName);
    expect(await refused('ok', { displayName: 'x'.repeat(41) })).toEqual(badName);
    expect(await refused('ok', null)).toEqual(badName);
    expect(await refused('ok', { displayName: '🎉'.repeat(40) })).not.toEqual(badName); // 40 characters, 80 UTF-16 units
    expect(await refused('ok', '{"displayName":')).toEqual([400, 'The body is not valid JSON.']);
    expect(await refused('ok', 'displayName=Ada', { 'content-type': 'application/x-www-form-urlencoded' })).toEqual([415, 'Send JSON (Content-Type: application/json).']);
    expect(await refused('ok', { displayName: 'Ada', pad: 'x'.repeat(5000) })).toEqual([413, 'The request is too large.']);
    const get = await fetch(`${base}/api/rooms/ok/join`);
    expect([get.status, await get.json()]).toEqual([405, { error: 'Use POST.' }]);
  });

  it('says so when Colloquy cannot be reached or refuses the credentials, and tries again on the next join', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const down = await startApp({ apiUrl: `http://127.0.0.1:${port}` });
    const r1 = await joinRoom(down, 'standup', { displayName: 'Ada' });
    expect([r1.status, await r1.json()]).toEqual([502, { error: 'The video server cannot be reached. Is Colloquy running?' }]);
    // Colloquy comes up at that address: the failed room was not remembered, the next join works.
    const later = await startTestServer({ PORT: String(port) });
    try {
      const r2 = await joinRoom(down, 'standup', { displayName: 'Ada' });
      expect(r2.status).toBe(200);
      const { sessionId } = (await r2.json()) as { sessionId: string };
      expect(await later.server.store.sessions.get(sessionId)).not.toBeNull();
    } finally {
      await later.close();
    }

    const wrongSecret = await startApp({ apiSecret: 'not-the-secret-0123456789abcdef' });
    const r3 = await joinRoom(wrongSecret, 'standup', { displayName: 'Ada' });
    expect([r3.status, await r3.json()]).toEqual([502, { error: "The video server refused this app's API key or secret." }]);
  });

  it('keeps at most maxRooms rooms', async () => {
    const base = await startApp({ maxRooms: 2 });
    expect((await joinRoom(base, 'one', { displayName: 'Ada' })).status).toBe(200);
    expect((await joinRoom(base, 'two', { displayName: 'Ada' })).status).toBe(200);
    const third = await joinRoom(base, 'three', { displayName: 'Ada' });
    expect([third.status, await third.json()]).toEqual([503, { error: 'This server has too many rooms open. Try again later.' }]);
    expect((await joinRoom(base, 'ONE', { displayName: 'Bob' })).status).toBe(200); // known rooms still open
  });
});
