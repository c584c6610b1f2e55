// The tutorial video chat mounted at /video-chat/: served with the default project's credentials
// (a rotated secret is picked up), off by COLLOQUY_VIDEO_CHAT or beyond loopback, and a clear 404
// when no project can sign tokens. The app itself is tested in examples/video-chat.

import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startTestServer, TEST_API_KEY, type TestServer } from './helpers.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const join = (base: string, room: string) =>
  fetch(`${base}/video-chat/api/rooms/${room}/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ displayName: 'Ada' }) });

describe('the video chat mount', () => {
  it('serves the page with the SDK from this server and hands out tokens for the default project', async () => {
    t = await startTestServer();
    const redirect = await fetch(`${t.url}/video-chat`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([308, '/video-chat/']);
    const page = await fetch(`${t.url}/video-chat/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="/v2/js/opentok.js"></script>');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self';");
    expect((await fetch(`${t.url}/video-chat/app.js`)).status).toBe(200);

    const response = await join(t.url, 'standup');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { apiKey: string; sessionId: string; room: string };
    expect(body).toMatchObject({ apiKey: TEST_API_KEY, room: 'standup' });
    expect((await t.server.store.sessions.get(body.sessionId))).toMatchObject({ projectId: TEST_API_KEY, mediaMode: 'routed' });
    // The body went to the app untouched by Fastify's parsers: a refusal comes from the app.
    const bad = await fetch(`${t.url}/video-chat/api/rooms/standup/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect([bad.status, await bad.json()]).toEqual([400, { error: 'The body is not valid JSON.' }]);
  });

  it('a secret rotated in the dashboard is used from the next request', async () => {
    t = await startTestServer();
    expect((await join(t.url, 'before')).status).toBe(200);
    await t.server.store.projects.rotateSecret(TEST_API_KEY);
    // A new room needs a REST call signed with the new secret.
    expect((await join(t.url, 'after')).status).toBe(200);
  });

  it('answers 404 with the reason when it is off or no project has an API secret', async () => {
    t = await startTestServer({ COLLOQUY_VIDEO_CHAT: 'off' });
    const off = await fetch(`${t.url}/video-chat/`);
    expect(off.status).toBe(404);
    expect(await off.text()).toMatch(/video chat is off on this server \(COLLOQUY_VIDEO_CHAT=on turns it on/);
    await t.close();

    t = await startTestServer();
    await t.server.store.projects.delete(TEST_API_KEY); // only the RS256 application is left
    const none = await join(t.url, 'standup');
    expect(none.status).toBe(404);
    expect(await none.text()).toMatch(/needs a project with an API secret/);
  });

  it('COLLOQUY_VIDEO_CHAT: on by default on loopback only', () => {
    expect(loadConfig({}).videoChat).toBe(true);
    expect(loadConfig({ HOST: '::1' }).videoChat).toBe(true);
    expect(loadConfig({ HOST: '0.0.0.0' }).videoChat).toBe(false);
    expect(loadConfig({ HOST: '0.0.0.0', COLLOQUY_VIDEO_CHAT: 'on' }).videoChat).toBe(true);
    expect(loadConfig({ COLLOQUY_VIDEO_CHAT: 'off' }).videoChat).toBe(false);
    expect(() => loadConfig({ COLLOQUY_VIDEO_CHAT: 'yes' })).toThrow(/COLLOQUY_VIDEO_CHAT must be on or off/);
  });
});
